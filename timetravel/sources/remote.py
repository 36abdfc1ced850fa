"""A GitOps repository followed from its server: a bare cache clone, fetched on a schedule.

``record --repo https://git.example.com/platform/gitops.git`` needs no checkout: the
repository is cloned bare into ``<data dir>/git-cache/<name>-<hash of the URL>`` and its
branch fetched again every ``--fetch-interval``. Only reads: nothing is ever pushed, and
the cache is the only thing written.

- **Blobless where the server allows** (``--filter=blob:none``): commits and trees come
  with the clone, file contents on demand. A server that does not serve filters gets a
  full clone (git falls back by itself, with a warning). The manifest files of new
  commits are fetched in one request after each fetch (:meth:`RemoteRepo.prefetch`);
  without it each blob the reader opens would be fetched alone, one round trip each.
- **Credentials through git's own mechanisms, never in a URL, an argument or a file**:
  a token (``--git-token-file``, re-read on every use so a rotated Secret is picked up,
  or ``--git-token-env``) reaches git through a credential helper given in git's
  ``GIT_CONFIG_*`` environment (it names the file or the variable, never the value); an
  ssh key and known_hosts through ``GIT_SSH_COMMAND`` with strict host key checking. A
  password written in the URL is taken out of it and handed over the same way. Every
  message of git's is scrubbed of the token before anyone sees it
  (:meth:`RemoteRepo.scrub`).
- Git runs in a session of its own: it has no terminal to prompt on (a recorder must not
  hang on "Username for ...", nor ssh on an unknown host key), and a Ctrl-C meant for
  the recorder does not cut a fetch short.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from timetravel.domain.manifests import is_manifest_path
from timetravel.domain.printable import printable
from timetravel.errors import UserError

if TYPE_CHECKING:
    import git

# A fetch of a big repository over a slow link may take a while; one that takes longer
# than this is stuck (a server that accepted the connection and went quiet).
FETCH_TIMEOUT = 120.0
DEFAULT_USERNAME = "x-access-token"  # GitHub's; GitLab takes any name, Bitbucket x-token-auth
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# git's scp-like form, user@host:path (a local path never has "@" before its first ":"
# and no "/" before it).
_SCP = re.compile(r"^[^/@:\s]+@[^/:\s]+:")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The variable a password taken out of the URL reaches the credential helper in: set in
# git's environment only, never in this process's.
_URL_PASSWORD_ENV = "TIMETRAVEL_GIT_URL_PASSWORD"
_USERINFO = re.compile(r"(//[^/@\s:]*):[^@/\s]*@")


class RemoteError(Exception):
    """A clone or fetch that failed; the message is one line, scrubbed of credentials."""


def is_remote(text: str) -> bool:
    """Whether a ``--repo`` value names a server (``https://``, ``ssh://``, ``git@host:path``,
    ``file://``) rather than a checkout on this machine."""
    return bool(_SCHEME.match(text) or _SCP.match(text))


def clean_url(url: str) -> str:
    """``url`` without a password in it: what is configured in the cache, stored, shown."""
    if not _SCHEME.match(url):
        return url
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return _USERINFO.sub(r"\1@", url)
    if parts.password is None:
        return url
    user = parts.netloc.rpartition("@")[0].split(":", 1)[0]
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}@{host}" if user else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _url_userinfo(url: str) -> tuple[str | None, str | None]:
    """The user name and password written in ``url``, if any."""
    if not _SCHEME.match(url):
        return None, None
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None, None
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    return user, password


def repo_folder(folder: str | None) -> str:
    """``--path`` as a folder of the repository (``clusters/prod``; "" for the whole of it);
    a folder outside the repository is a UserError."""
    if not folder:
        return ""
    parts = [p for p in PurePosixPath(folder.replace("\\", "/")).parts if p not in ("/", ".")]
    if ".." in parts:
        raise UserError(f"--path {folder}: a folder inside the repository, without ..")
    if parts[:1] == [".git"]:
        raise UserError(f"--path {folder}: inside the repository's .git directory")
    return "/".join(parts)


def remote_path(url: str, folder: str) -> str:
    """What the store calls a folder of a repository on a server: the URL (no password),
    and ``//folder`` as kustomize and Terraform write a folder of a remote repository."""
    shown = clean_url(url)
    return f"{shown}//{folder}" if folder else shown


def cache_name(url: str) -> str:
    """The cache folder of ``url``: readable (its last path parts) and unique (a hash of
    the URL without its password, so a rotated password keeps the cache)."""
    shown = clean_url(url)
    digest = hashlib.sha256(shown.encode()).hexdigest()[:12]
    where = shown.partition("://")[2].partition("/")[2] if _SCHEME.match(shown) else shown
    tail = [part.removesuffix(".git") for part in re.split(r"[/:]", where) if part][-2:]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(tail)).strip("-.")[:60] or "repo"
    return f"{name}-{digest}"


@dataclass(frozen=True)
class GitCredentials:
    """How to authenticate to the server: a token (a file or an environment variable, for
    https) and its user name, or an ssh key and the server's known host keys."""

    token_file: Path | None = None
    token_env: str | None = None
    username: str | None = None
    ssh_key: Path | None = None
    known_hosts: Path | None = None

    def check(self) -> None:
        """Refuse what cannot work, before anything starts (a UserError naming it)."""
        if self.token_file is not None and self.token_env is not None:
            raise UserError("give --git-token-file or --git-token-env, not both")
        if self.token_file is not None:
            try:
                token = self.token_file.expanduser().read_text().strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not text"
                raise UserError(f"--git-token-file {self.token_file}: {reason}") from None
            if not token:
                raise UserError(f"--git-token-file {self.token_file}: the file is empty")
        if self.token_env is not None:
            if not _ENV_NAME.match(self.token_env):
                raise UserError(f"--git-token-env {self.token_env!r}: not a variable name")
            if not os.environ.get(self.token_env, "").strip():
                raise UserError(f"--git-token-env {self.token_env}: the variable is not set")
        for flag, path in (("--ssh-key", self.ssh_key), ("--known-hosts", self.known_hosts)):
            if path is not None and not path.expanduser().is_file():
                raise UserError(f"{flag} {path}: no such file")

    def tokens(self) -> list[str]:
        """The token as it is now (for scrubbing messages), if there is one."""
        values: list[str] = []
        if self.token_file is not None:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                values.append(self.token_file.expanduser().read_text().strip())
        if self.token_env is not None:
            values.append(os.environ.get(self.token_env, "").strip())
        return [v for v in values if v]


def _helper(username: str, password_from: str) -> str:
    """A credential helper (git config's ``!`` form, run by ``sh``) that answers ``get``
    with ``username`` and the password ``password_from`` (a shell expression) yields."""
    return (
        '!f() { cat >/dev/null; test "$1" = get || exit 0; '
        f"printf 'username=%s\\n' {shlex.quote(username)}; "
        f"printf 'password=%s\\n' {password_from}; }}; f"
    )


class RemoteRepo:
    """The bare cache clone of one repository on a server, and the git environment to
    reach the server with."""

    def __init__(
        self,
        url: str,
        cache_root: Path,
        credentials: GitCredentials | None = None,
        *,
        timeout: float = FETCH_TIMEOUT,
    ) -> None:
        self.given = url  # as typed, password and all: only ever replaced in messages
        self.url = clean_url(url)
        # Absolute: git runs in the cache, and its helpers (and ssh) with it.
        creds = credentials or GitCredentials()
        self.credentials = dataclasses.replace(
            creds,
            **{
                name: path.expanduser().absolute()
                for name in ("token_file", "ssh_key", "known_hosts")
                if (path := getattr(creds, name)) is not None
            },
        )
        self.cache_root = cache_root
        self.path = cache_root / cache_name(url)
        self.timeout = timeout
        url_user, self._url_password = _url_userinfo(url)
        self.username = url_user or self.credentials.username or DEFAULT_USERNAME
        self.environment = self._environment()
        # The head whose commits' manifest files are all here: the next prefetch starts
        # after it. None: not known in this process, look at the whole history once.
        self._prefetched: str | None = None

    # -- the environment git runs in --

    def _environment(self) -> dict[str, str]:
        """Variables added to git's environment (on top of this process's)."""
        env = {"GIT_TERMINAL_PROMPT": "0"}
        config: list[tuple[str, str]] = []
        creds = self.credentials
        password_from = None
        if creds.token_file is not None:
            password_from = f'"$(cat {shlex.quote(str(creds.token_file))})"'
        elif creds.token_env is not None:
            password_from = f'"${creds.token_env}"'
        elif self._url_password is not None:
            env[_URL_PASSWORD_ENV] = self._url_password
            password_from = f'"${_URL_PASSWORD_ENV}"'
        if password_from is not None:
            # An empty value first: the helpers of the user's own configuration are
            # dropped, so a stale token in a keychain cannot answer instead of ours.
            config += [
                ("credential.helper", ""),
                ("credential.helper", _helper(self.username, password_from)),
            ]
        # Appended after whatever git configuration the environment already carries
        # (deploy/ gives a credential helper that way), never replacing it.
        try:
            count = int(os.environ.get("GIT_CONFIG_COUNT", "0"))
        except ValueError:
            count = 0
        for index, (key, value) in enumerate(config, start=count):
            env[f"GIT_CONFIG_KEY_{index}"] = key
            env[f"GIT_CONFIG_VALUE_{index}"] = value
        if config:
            env["GIT_CONFIG_COUNT"] = str(count + len(config))
        if creds.ssh_key is not None or creds.known_hosts is not None:
            ssh = ["ssh", "-o", "BatchMode=yes"]
            if creds.ssh_key is not None:
                ssh += ["-i", str(creds.ssh_key), "-o", "IdentitiesOnly=yes"]
            if creds.known_hosts is not None:
                ssh += ["-o", f"UserKnownHostsFile={creds.known_hosts}"]
            ssh += ["-o", "StrictHostKeyChecking=yes"]
            env["GIT_SSH_COMMAND"] = shlex.join(ssh)
            env["GIT_SSH_VARIANT"] = "ssh"
        return env

    def scrub(self, text: str) -> str:
        """``text`` (a message of git's) as one printable line without the token, the URL's
        password, or any other password written in a URL."""
        secrets = [*self.credentials.tokens()]
        if self._url_password:
            secrets += [self._url_password, urllib.parse.quote(self._url_password, safe="")]
        if self.given != self.url:
            text = text.replace(self.given, self.url)
        for secret in sorted(set(secrets), key=len, reverse=True):
            text = text.replace(secret, "***")
        text = _USERINFO.sub(r"\1:***@", text)
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        # git's own verdict ("fatal: ...", "error: ...") says most; progress lines and hints
        # around it do not.
        said = [line for line in lines if line.startswith(("fatal:", "error:"))] or lines[-1:]
        one = "; ".join(re.sub(r"^(fatal|error): ", "", line) for line in said)
        return printable(one) or "no message"

    def _run(
        self, args: Sequence[str], *, stdin: str | None = None, cwd: Path | None = None
    ) -> str:
        """Run git; its output, or RemoteError with its scrubbed message."""
        argv = ["git", *args] if cwd is None else ["git", "-C", str(cwd), *args]
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, **self.environment},
                text=True,
                errors="replace",
                start_new_session=True,
            )
        except OSError as exc:
            raise RemoteError(f"git could not run: {exc.strerror or exc}") from None
        try:
            out, err = process.communicate(stdin, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            # The whole session: git's helpers (git-remote-https, ssh) as well.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                process.kill()
            process.communicate()
            raise RemoteError(f"no answer within {self.timeout:g} s") from None
        if process.returncode != 0:
            raise RemoteError(self.scrub(err or out))
        return out

    # -- the cache --

    def exists(self) -> bool:
        return (self.path / "HEAD").is_file() and (self.path / "objects").is_dir()

    def clone(self, branch: str | None) -> bool:
        """Clone into the cache unless it is there already; True when cloned now.

        Cloned beside the cache and renamed into place, so an interrupted clone never
        leaves a cache that looks whole.
        """
        if self.exists():
            return False
        self.cache_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.cache_root))
        try:
            self._run(
                [
                    "clone",
                    "--bare",
                    "--quiet",
                    "--filter=blob:none",
                    "--no-tags",
                    "--single-branch",
                    *(["--branch", branch] if branch else []),
                    "--",
                    self.url,
                    str(partial),
                ]
            )
            os.rename(partial, self.path)
        except OSError as exc:
            if not self.exists():  # not another recorder's clone, renamed first
                raise RemoteError(f"{self.path}: {exc.strerror or exc}") from None
            return False
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return True

    def open(self) -> git.Repo:
        """The cache as a GitPython repository whose git commands (the reader's
        ``cat-file`` fetching a blob the prefetch did not bring, too) reach the server."""
        import git  # here: `record --help` and the commands that never follow git skip it

        repo = git.Repo(self.path)
        repo.git.update_environment(**self.environment)
        return repo

    def default_branch(self) -> str:
        """The branch the server's HEAD named when the cache was cloned."""
        try:
            ref = self._run(["symbolic-ref", "--quiet", "HEAD"], cwd=self.path).strip()
        except RemoteError:
            raise UserError(
                f"{self.url}: the server names no default branch; give --branch"
            ) from None
        return ref.removeprefix("refs/heads/")

    def head(self, branch: str) -> str | None:
        try:
            out = self._run(
                ["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], cwd=self.path
            )
        except RemoteError:
            return None
        return out.strip() or None

    def fetch(self, branch: str) -> None:
        """Bring the branch up to date with the server, a force-push too (the ref is
        replaced; the old commits stay in the cache for the recorder to see it was not a
        fast-forward), then the new commits' manifest files."""
        self._run(
            [
                "fetch",
                "--quiet",
                "--prune",
                "--no-tags",
                "--no-write-fetch-head",
                "origin",
                f"+refs/heads/{branch}:refs/heads/{branch}",
            ],
            cwd=self.path,
        )
        self.prefetch(branch)

    def prefetch(self, branch: str) -> None:
        """Fetch the manifest files of the branch's commits since the last prefetch that are
        not in the cache yet, in one request (nothing to do after a full clone)."""
        head = self.head(branch)
        if head is None or head == self._prefetched:
            return
        since = [f"^{self._prefetched}"] if self._prefetched else []
        listed = self._run(
            ["rev-list", "--objects", "--missing=print", head, *since, "--"], cwd=self.path
        )
        missing = {line[1:] for line in listed.splitlines() if line.startswith("?")}
        if missing:
            changes = self._run(
                [
                    "log",
                    "--first-parent",
                    "--diff-merges=first-parent",
                    "--root",
                    "--raw",
                    "--no-abbrev",
                    "--no-renames",
                    "-z",
                    "--format=",
                    head,
                    *since,
                    "--",
                ],
                cwd=self.path,
            )
            wanted = sorted(_manifest_blobs(changes) & missing)
            if wanted:
                # What git itself runs to fetch missing objects of a partial clone.
                self._run(
                    [
                        "-c",
                        "fetch.negotiationAlgorithm=noop",
                        "fetch",
                        "--quiet",
                        "--no-tags",
                        "--no-write-fetch-head",
                        "--recurse-submodules=no",
                        "--filter=blob:none",
                        "origin",
                        "--stdin",
                    ],
                    stdin="".join(f"{sha}\n" for sha in wanted),
                    cwd=self.path,
                )
        self._prefetched = head


def _manifest_blobs(raw: str) -> set[str]:
    """The blobs ``git log --raw -z`` names that the desired-state reader opens: manifest
    files and symlinks (a symlink's target is a blob too)."""
    wanted: set[str] = set()
    fields = raw.split("\0")
    for meta, path in itertools.pairwise(fields):
        meta = meta.strip()
        if not meta.startswith(":"):
            continue
        parts = meta.split()
        if len(parts) < 5 or parts[4].startswith("D"):
            continue
        mode, sha = parts[1], parts[3]
        if mode == "120000" or (mode.startswith("100") and is_manifest_path(path)):
            wanted.add(sha)
    return wanted

"""A GitOps repository followed by its URL (``record --repo https://...``): a bare cache
clone, fetched on a schedule, against a real git server on loopback (``git http-backend``
behind basic auth, tests/fixtures/git_server.py).

What must hold: the history is recorded as from a checkout; a push is seen at the next
fetch and a force-push as a forced ref update; a server that goes away is a gap in the
repository's record (from the last fetch that worked to the next one that does) and the
recorder goes on; a wrong token is a clear error and the token is never shown, logged or
stored; ``--path`` follows a folder. Waits are bounded and generous; fetches are every
0.1 s here, so a wait ends as soon as what it waits for is in the database.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from timetravel.domain.times import to_stored, utc_now
from timetravel.errors import UserError
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.git import GitSource
from timetravel.sources.remote import (
    GitCredentials,
    RemoteRepo,
    cache_name,
    clean_url,
    is_remote,
    repo_folder,
)
from timetravel.store.db import open_database
from timetravel.store.gitstore import GitStore
from timetravel.store.reader import Reader

from .fixtures.git_server import GitServer
from .gitrepo import GitOpsRepo

MONDAY = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
TOKEN = "ghp_s3cr3tT0kenThatMustNeverShow"
WRONG = "ghp_wr0ngT0kenThatMustNeverShowEither"
FETCH = 0.1  # seconds between fetches while following
POLL = 60.0  # longer than any wait: only fetches bring what these tests wait for
WAIT = 30.0


def config_map(name: str, value: str, namespace: str = "payments") -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"value": value},
    }


def wait_for(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class Upstream:
    """The repository on the server, and a person's clone of it that commits and pushes."""

    def __init__(self, tmp_path: Path, server: GitServer, *, allow_filter: bool = True) -> None:
        self.bare = server.bare("gitops.git", allow_filter=allow_filter)
        self.url = server.url("gitops.git")
        self.work = GitOpsRepo(tmp_path / "work")
        self.work.repo.create_remote("origin", str(self.bare))
        self.when = MONDAY

    def commit(self, message: str, *files: tuple[str, dict[str, object]]) -> str:
        for path, obj in files:
            self.work.write(path, obj)
        self.when += timedelta(minutes=10)
        return self.work.commit(message, self.when)

    def push(self, *, force: bool = False) -> None:
        self.work.repo.git.push("--quiet", *(["--force"] if force else []), "origin", "main")

    def rewind(self) -> None:
        """Drop the last commit (to force-push something else in its place)."""
        self.work.repo.git.reset("--hard", "HEAD~1")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitServer]:
    root = tmp_path / "served"
    root.mkdir()
    served = GitServer(root, token=TOKEN)
    served.start()
    try:
        yield served
    finally:
        served.stop()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets" / "token"
    path.parent.mkdir()
    path.write_text(TOKEN + "\n")  # as `kubectl create secret --from-file` mounts it
    return path


def remote_source(
    db_path: Path | str, url: str, tmp_path: Path, token_file: Path | None, **kw: object
) -> GitSource:
    kw.setdefault("fetch_interval", FETCH)
    return GitSource(
        db_path,
        url,
        clock=MonotonicClock(),
        progress=False,
        poll_interval=POLL,
        credentials=GitCredentials(token_file=token_file),
        cache_root=tmp_path / "cache",
        **kw,
    )


def rows(db_path: Path | str, sql: str) -> list[tuple[Any, ...]]:
    """What ``sql`` reads, read-only beside the recorder (none while the database is
    still being made)."""
    try:
        db = open_database(db_path, readonly=True)
    except UserError:
        return []
    try:
        return [tuple(row) for row in db.execute(sql).fetchall()]
    except Exception as exc:  # its tables are not made yet
        if "ref_updates" in str(exc) or "gaps" in str(exc):
            return []
        raise
    finally:
        db.conn.close()


def recorded(db_path: Path | str) -> list[tuple[str, bool, bool]]:
    """(sha, backfilled, forced) of every ref update, in the order recorded."""
    found = rows(db_path, "SELECT sha, backfilled, forced FROM ref_updates ORDER BY id")
    return [(str(sha), bool(backfilled), bool(forced)) for sha, backfilled, forced in found]


def gaps(db_path: Path | str) -> list[tuple[Any, ...]]:
    """(cluster, source, started_at, ended_at, reason) of every gap."""
    return rows(
        db_path, "SELECT cluster, source, started_at, ended_at, reason FROM gaps ORDER BY id"
    )


def desired_names(db_path: Path | str, sha: str) -> set[str]:
    db = open_database(db_path)
    try:
        store = GitStore(db)
        (repo,) = store.repos()
        stored = store.desired_set(repo.id, sha)
    finally:
        db.conn.close()
    assert stored is not None
    return {item["obj"]["metadata"]["name"] for item in stored.objects}


def git_out(path: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(path), *args], check=True, capture_output=True, text=True
    ).stdout


def missing_objects(cache: Path) -> set[str]:
    listed = git_out(cache, "rev-list", "--objects", "--missing=print", "--all")
    return {line[1:] for line in listed.splitlines() if line.startswith("?")}


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from (p for p in root.rglob("*") if p.is_file())


@contextmanager
def following(source: GitSource) -> Iterator[threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=15)
    assert not thread.is_alive(), "the recorder stops when asked"


# --- recognizing a URL -------------------------------------------------------------------


def test_urls_are_told_from_checkout_paths() -> None:
    for url in (
        "https://github.com/acme/gitops.git",
        "http://127.0.0.1:8080/gitops.git",
        "ssh://git@github.com/acme/gitops.git",
        "git@github.com:acme/gitops.git",
        "file:///srv/git/gitops.git",
    ):
        assert is_remote(url), url
    for path in ("~/src/gitops", "/data/gitops/clusters/prod", "gitops", "./a:b", "c:/x@y"):
        assert not is_remote(path), path
    assert clean_url("https://bot:hunter2@git.example.com/gitops.git") == (
        "https://bot@git.example.com/gitops.git"
    )
    assert clean_url("https://:hunter2@git.example.com/g.git") == "https://git.example.com/g.git"
    assert clean_url("git@github.com:acme/gitops.git") == "git@github.com:acme/gitops.git"
    # a rotated password keeps the cache; another repository gets another one
    one = cache_name("https://bot:old@git.example.com/platform/gitops.git")
    assert one == cache_name("https://bot:new@git.example.com/platform/gitops.git")
    assert one.startswith("platform-gitops-") and "old" not in one
    assert one != cache_name("https://git.example.com/other/gitops.git")
    assert repo_folder("/clusters/prod/") == "clusters/prod"
    assert repo_folder(None) == "" and repo_folder(".") == ""
    with pytest.raises(UserError, match=r"\.\."):
        repo_folder("clusters/../../etc")


def test_git_messages_are_scrubbed_of_every_form_of_the_token(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN)
    remote = RemoteRepo(
        f"https://bot:{WRONG}@git.example.com/gitops.git",
        tmp_path,
        GitCredentials(token_file=token),
    )
    said = remote.scrub(
        "Cloning into bare repository 'x'...\n"
        f"remote: token {TOKEN} refused\n"
        f"fatal: unable to access 'https://bot:{WRONG}@git.example.com/gitops.git/': 403\n"
        "fatal: and https://someone:else@host/x too\x1b[2J"
    )
    assert TOKEN not in said and WRONG not in said and "else" not in said
    assert "\n" not in said and "\x1b" not in said
    assert said.startswith("unable to access 'https://bot@git.example.com/gitops.git/': 403")
    assert "someone:***@host" in said


# --- following a repository on a server --------------------------------------------------


def test_a_url_is_cloned_blobless_and_its_history_recorded(
    tmp_path: Path, db_path: Path, server: GitServer, token_file: Path
) -> None:
    upstream = Upstream(tmp_path, server)
    first = upstream.commit("api flags", ("apps/flags.yaml", config_map("flags", "0")))
    (upstream.work.path / "docs").mkdir()
    (upstream.work.path / "docs" / "big.bin").write_bytes(os.urandom(4096))
    more = [(f"apps/app{i}.yaml", config_map(f"app{i}", "1")) for i in range(12)]
    second = upstream.commit("twelve apps", *more)
    upstream.push()

    source = remote_source(db_path, upstream.url, tmp_path, token_file)
    assert source.sync() == 2
    assert recorded(db_path) == [(first, True, False), (second, True, False)]
    assert desired_names(db_path, second) == {"flags"} | {f"app{i}" for i in range(12)}
    # the clone (refs, then commits and trees) and one request for all 13 manifest files,
    # not one for each file the reader opens
    assert [r for r in server.requests if r.startswith("POST")] == [
        "POST /gitops.git/git-upload-pack"
    ] * 3, "\n".join(server.requests)
    db = open_database(db_path)
    (repo,) = GitStore(db).repos()
    db.conn.close()
    assert (repo.path, repo.branch, repo.remote_url) == (upstream.url, "main", upstream.url)
    assert source.source == f"repo:{upstream.url}#main"
    # the server asked for credentials and got the token, as basic auth
    assert server.auth_headers and not source.errors
    # blobless: the manifests were fetched (in one request), the binary never was
    cache = source.remote.path if source.remote else Path()
    assert git_out(cache, "config", "remote.origin.promisor").strip() == "true"
    big = git_out(upstream.work.path, "rev-parse", "HEAD:docs/big.bin").strip()
    flags = git_out(upstream.work.path, "rev-parse", "HEAD:apps/flags.yaml").strip()
    assert big in missing_objects(cache)
    assert flags not in missing_objects(cache)
    assert git_out(cache, "rev-parse", "--is-bare-repository").strip() == "true"


def test_a_server_that_serves_no_filters_gives_a_full_clone(
    tmp_path: Path, db_path: Path, server: GitServer, token_file: Path
) -> None:
    upstream = Upstream(tmp_path, server, allow_filter=False)
    head = upstream.commit("flags", ("apps/flags.yaml", config_map("flags", "0")))
    upstream.push()
    source = remote_source(db_path, upstream.url, tmp_path, token_file)
    assert source.sync() == 1
    assert recorded(db_path) == [(head, True, False)]
    assert source.remote is not None and not missing_objects(source.remote.path)


def test_a_push_is_recorded_at_the_next_fetch_and_a_force_push_as_forced(
    tmp_path: Path, db_path: Path, server: GitServer, token_file: Path
) -> None:
    upstream = Upstream(tmp_path, server)
    base = upstream.commit("flags 0", ("apps/flags.yaml", config_map("flags", "0")))
    upstream.push()
    source = remote_source(db_path, upstream.url, tmp_path, token_file)
    with following(source):
        assert wait_for(lambda: recorded(db_path) == [(base, True, False)])
        pushed = upstream.commit("flags 1", ("apps/flags.yaml", config_map("flags", "1")))
        upstream.push()
        assert wait_for(lambda: len(recorded(db_path)) == 2), recorded(db_path)
        assert recorded(db_path)[-1] == (pushed, False, False)
        # the pushed commit is rewritten: flags 1 is gone from the branch
        upstream.rewind()
        rewritten = upstream.commit("flags 2", ("apps/flags.yaml", config_map("flags2", "2")))
        upstream.push(force=True)
        assert wait_for(lambda: len(recorded(db_path)) == 3), recorded(db_path)
    assert recorded(db_path)[-1] == (rewritten, False, True)
    assert desired_names(db_path, rewritten) == {"flags2"}
    assert not source.errors


def test_a_server_that_goes_away_is_a_gap_and_the_recorder_goes_on(
    tmp_path: Path, any_db: Path | str, server: GitServer, token_file: Path
) -> None:
    db_path = any_db  # both engines: the gap is written, then extended
    upstream = Upstream(tmp_path, server)
    base = upstream.commit("flags 0", ("apps/flags.yaml", config_map("flags", "0")))
    upstream.push()
    said: list[str] = []
    source = remote_source(db_path, upstream.url, tmp_path, token_file, log=said.append)
    with following(source) as thread:
        assert wait_for(lambda: recorded(db_path) == [(base, True, False)])
        assert wait_for(lambda: source.fetched_at is not None)
        last_good = to_stored(utc_now())
        server.stop()
        assert wait_for(lambda: len(gaps(db_path)) == 1)
        ((cluster, where, started, first_end, reason),) = gaps(db_path)
        assert cluster is None and where == f"repo:{upstream.url}#main"
        assert reason.startswith("git fetch failed: ") and "\n" not in reason
        # What git said: "Failed to connect to 127.0.0.1", or a reset when the server went
        # away in the middle of a fetch; either way git's own words, not just our prefix.
        assert len(reason) > len("git fetch failed: ") + 10
        assert started <= last_good <= first_end
        # still failing: the same gap grows, no second one
        assert wait_for(lambda: gaps(db_path)[0][3] > first_end)
        assert thread.is_alive() and source.fetch_errors >= 2
        # pushed while the server was away, seen when it is back
        later = upstream.commit("flags 1", ("apps/flags.yaml", config_map("flags", "1")))
        upstream.push()
        back = to_stored(utc_now())
        server.start()
        assert wait_for(lambda: recorded(db_path)[-1:] == [(later, False, False)])
    ((_, _, started_after, ended, _),) = gaps(db_path)
    assert started_after == started and ended >= back
    assert said[0].startswith(f"repo:{upstream.url}#main: git fetch failed")
    assert "works again" in said[-1]
    # the screen and the exports read it: a repository's gap counts for every cluster
    db = open_database(db_path)
    try:
        (shown,) = Reader(db).gaps_between(started, ended, cluster="prod")
    finally:
        db.conn.close()
    assert shown.source == where


def test_a_wrong_token_is_a_clear_error_and_the_token_is_never_shown_or_stored(
    tmp_path: Path, db_path: Path, server: GitServer, token_file: Path
) -> None:
    upstream = Upstream(tmp_path, server)
    base = upstream.commit("flags 0", ("apps/flags.yaml", config_map("flags", "0")))
    upstream.push()
    wrong = tmp_path / "secrets" / "wrong"
    wrong.write_text(WRONG)
    # at start: the clone fails, one line naming the URL, no token
    with pytest.raises(UserError) as refused:
        remote_source(db_path, upstream.url, tmp_path, wrong)
    message = str(refused.value)
    assert message.startswith(f"{upstream.url}: git clone failed: ")
    assert "Authentication failed" in message and WRONG not in message
    assert "\n" not in message
    assert not list((tmp_path / "cache").iterdir()), "no half-made cache is left"
    # while following: the token is rotated to a wrong one (a Secret replaced), then back
    said: list[str] = []
    source = remote_source(db_path, upstream.url, tmp_path, token_file, log=said.append)
    with following(source):
        assert wait_for(lambda: recorded(db_path) == [(base, True, False)])
        token_file.write_text(WRONG + "\n")
        assert wait_for(lambda: len(gaps(db_path)) == 1)
        token_file.write_text(TOKEN + "\n")
        later = upstream.commit("flags 1", ("apps/flags.yaml", config_map("flags", "1")))
        upstream.push()
        assert wait_for(lambda: recorded(db_path)[-1:] == [(later, False, False)])
    ((_, _, _, _, reason),) = gaps(db_path)
    assert "Authentication failed" in reason
    shown = "\n".join([message, reason, *said, *source.errors])
    assert WRONG not in shown and TOKEN not in shown
    sent = {base64.b64decode(h.removeprefix("Basic ")).decode() for h in server.auth_headers}
    assert f"x-access-token:{WRONG}" in sent, "the rotated file was read again"
    # nothing on disk holds either: the database (and its journal), the cache clone
    for path in files_under(*db_path.parent.glob(db_path.name + "*"), tmp_path / "cache"):
        data = path.read_bytes()
        assert TOKEN.encode() not in data and WRONG.encode() not in data, path


def test_a_password_in_the_url_is_used_but_never_stored(
    tmp_path: Path, db_path: Path, server: GitServer
) -> None:
    upstream = Upstream(tmp_path, server)
    head = upstream.commit("flags 0", ("apps/flags.yaml", config_map("flags", "0")))
    upstream.push()
    with_password = upstream.url.replace("http://", f"http://x-access-token:{TOKEN}@")
    source = remote_source(db_path, with_password, tmp_path, None)
    assert source.sync() == 1
    assert recorded(db_path) == [(head, True, False)]
    expected = upstream.url.replace("http://", "http://x-access-token@")
    assert source.path == expected and source.branch.remote_url == expected
    for path in files_under(*db_path.parent.glob(db_path.name + "*"), tmp_path / "cache"):
        assert TOKEN.encode() not in path.read_bytes(), path


def test_a_folder_of_the_repository_is_followed_with_path(
    tmp_path: Path, db_path: Path, server: GitServer, token_file: Path
) -> None:
    upstream = Upstream(tmp_path, server)
    head = upstream.commit(
        "two clusters",
        ("clusters/prod/flags.yaml", config_map("prod-flags", "1")),
        ("clusters/staging/flags.yaml", config_map("staging-flags", "1")),
    )
    upstream.push()
    source = remote_source(
        db_path, upstream.url, tmp_path, token_file, folder="/clusters/prod/", branch="main"
    )
    assert source.sync() == 1
    assert desired_names(db_path, head) == {"prod-flags"}
    assert source.path == f"{upstream.url}//clusters/prod"
    assert source.source == f"repo:{upstream.url}//clusters/prod#main"


def test_a_branch_the_server_lacks_is_refused_at_start(
    tmp_path: Path, db_path: Path, server: GitServer, token_file: Path
) -> None:
    upstream = Upstream(tmp_path, server)
    upstream.commit("flags 0", ("apps/flags.yaml", config_map("flags", "0")))
    upstream.push()
    with pytest.raises(UserError, match=r"git clone failed: .*release"):
        remote_source(db_path, upstream.url, tmp_path, token_file, branch="release")
    # with the cache made for main, another branch is fetched, or refused the same way
    remote_source(db_path, upstream.url, tmp_path, token_file).sync()
    with pytest.raises(UserError, match="git fetch of release failed"):
        remote_source(db_path, upstream.url, tmp_path, token_file, branch="release")


def test_an_ssh_url_uses_the_key_and_known_hosts_strictly(
    tmp_path: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ssh server runs here: an ``ssh`` first on PATH stands for it, noting how it was
    called and running the command git asked the server for, as sshd would."""
    root = tmp_path / "served"
    root.mkdir()
    upstream = Upstream(tmp_path, GitServer(root))
    head = upstream.commit("flags 0", ("apps/flags.yaml", config_map("flags", "0")))
    upstream.push()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "ssh-calls"
    fake = bin_dir / "ssh"
    fake.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{calls}"\nfor last; do :; done\nexec sh -c "$last"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    key, known = tmp_path / "deploy-key", tmp_path / "known_hosts"
    key.write_text("not really a key\n")
    known.write_text("git.example.com ssh-ed25519 AAAA\n")
    source = GitSource(
        db_path,
        f"git@git.example.com:{upstream.bare}",
        clock=MonotonicClock(),
        progress=False,
        credentials=GitCredentials(ssh_key=key, known_hosts=known),
        cache_root=tmp_path / "cache",
    )
    assert source.sync() == 1
    assert recorded(db_path) == [(head, True, False)]
    call = calls.read_text().splitlines()[0]
    for option in (
        f"-i {key}",
        "IdentitiesOnly=yes",
        f"UserKnownHostsFile={known}",
        "StrictHostKeyChecking=yes",
        "BatchMode=yes",
        "git@git.example.com",
    ):
        assert option in call, (option, call)


# --- the command line ----------------------------------------------------------------------


def cli_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "TIMETRAVEL_"))}
    return {**env, "HOME": str(home), "XDG_DATA_HOME": str(home / "data")}


def test_record_follows_a_url_until_sigterm(
    tmp_path: Path, db_path: Path, server: GitServer, token_file: Path
) -> None:
    upstream = Upstream(tmp_path, server)
    base = upstream.commit(
        "prod flags",
        ("clusters/prod/flags.yaml", config_map("flags", "0")),
        ("clusters/staging/other.yaml", config_map("other", "0")),
    )
    upstream.push()
    env = cli_env(tmp_path)
    argv = [
        sys.executable,
        "-m",
        "timetravel",
        "record",
        "--db",
        str(db_path),
        "--repo",
        upstream.url,
        "--path",
        "clusters/prod",
        "--git-token-file",
        str(token_file.relative_to(tmp_path)),  # from where record runs; git runs elsewhere
        "--fetch-interval",
        str(FETCH),
    ]
    proc = subprocess.Popen(
        argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert wait_for(lambda: [sha for sha, _, _ in recorded(db_path)] == [base])
        later = upstream.commit("flags 1", ("clusters/prod/flags.yaml", config_map("flags", "1")))
        upstream.push()
        assert wait_for(lambda: [sha for sha, _, _ in recorded(db_path)] == [base, later])
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    text = stderr.decode()
    assert proc.returncode == 0, text
    assert "recording git only (1 repositories)" in text
    assert TOKEN not in text and "Traceback" not in text
    assert desired_names(db_path, later) == {"flags"}
    caches = list((tmp_path / "home" / "data" / "timetravel" / "git-cache").iterdir())
    assert [c.name.startswith("gitops-") for c in caches] == [True]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("gone", "git clone failed: unable to access"),
        ("wrong token", "git clone failed: Authentication failed"),
        ("no token file", "--git-token-file"),
    ],
)
def test_record_refuses_a_url_it_cannot_clone_in_one_line(
    tmp_path: Path, db_path: Path, server: GitServer, case: str, expected: str
) -> None:
    upstream = Upstream(tmp_path, server)
    upstream.commit("flags 0", ("apps/flags.yaml", config_map("flags", "0")))
    upstream.push()
    token = tmp_path / "token"
    token.write_text(WRONG if case == "wrong token" else TOKEN)
    if case == "gone":
        server.stop()
    if case == "no token file":
        token.unlink()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "timetravel",
            "record",
            "--db",
            str(db_path),
            "--repo",
            upstream.url,
            "--git-token-file",
            str(token),
        ],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("timetravel: error: ") and expected in line, line
    assert WRONG not in line and TOKEN not in line


def test_path_names_a_folder_of_a_checkout_too(tmp_path: Path, db_path: Path) -> None:
    checkout = GitOpsRepo(tmp_path / "gitops")
    checkout.write("clusters/prod/flags.yaml", config_map("prod-flags", "1"))
    checkout.write("clusters/staging/flags.yaml", config_map("staging-flags", "1"))
    head = checkout.commit("two clusters", MONDAY)
    source = GitSource(
        db_path, checkout.path, clock=MonotonicClock(), progress=False, folder="clusters/prod"
    )
    assert source.sync() == 1
    assert source.path == str((checkout.path / "clusters" / "prod").resolve())
    assert desired_names(db_path, head) == {"prod-flags"}


def test_the_writer_lease_names_a_url_as_the_store_does() -> None:
    from timetravel.commands.record import repo_source

    url = f"https://bot:{TOKEN}@git.example.com/platform/gitops.git"
    assert repo_source(url, "main", "clusters/prod") == (
        "repo:https://bot@git.example.com/platform/gitops.git//clusters/prod#main"
    )
    assert repo_source("git@github.com:acme/gitops.git", None) == (
        "repo:git@github.com:acme/gitops.git#"
    )

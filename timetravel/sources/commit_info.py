"""A source commit's own facts (time, author, subject), read from the build's checkout.

``record-build`` runs in the job that built the image, inside the source checkout: the
commit's committer time is where DORA's lead time for changes starts, and its author and
subject are what the chain shows. Read with ``git show`` (the command line loads no
GitPython); where there is no git, no checkout, or no such commit (a shallow clone may
hold only the built one), there is simply nothing to add.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    committed_at: datetime
    author: str
    subject: str


def commit_info(sha: str, where: str | Path = ".") -> CommitInfo | None:
    """The commit ``sha`` as the repository at ``where`` knows it; None when it cannot say."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run(
            [
                git,
                "-C",
                str(where),
                "show",
                "-s",
                f"--format=%H{_SEPARATOR}%cI{_SEPARATOR}%an <%ae>{_SEPARATOR}%s",
                f"{sha}^{{commit}}",
                "--",
            ],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            env={"GIT_TERMINAL_PROMPT": "0", "PATH": str(Path(git).parent), "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    parts = done.stdout.rstrip("\n").split(_SEPARATOR)
    if len(parts) != 4:
        return None
    try:
        when = datetime.fromisoformat(parts[1])
    except ValueError:
        return None
    return CommitInfo(parts[0], when, parts[2], parts[3])


def git_user(where: str | Path = ".") -> str | None:
    """``Name <email>`` from git's configuration (the repository's, else the user's), as
    a commit would be signed; None when git or the identity is missing."""
    git = shutil.which("git")
    if git is None:
        return None

    def get(key: str) -> str | None:
        try:
            done = subprocess.run(
                [git, "-C", str(where), "config", "--get", key],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        value = done.stdout.strip()
        return value if done.returncode == 0 and value else None

    name, email = get("user.name"), get("user.email")
    if name and email:
        return f"{name} <{email}>"
    return name or email

"""Reading a GitOps repository: open a checkout and resolve the branch to follow.

Only reads: the recorder (``timetravel.recorder.git``) writes what is read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import git

from timetravel.errors import UserError


@dataclass(frozen=True)
class TrackedBranch:
    path: str  # the checkout's top level, absolute
    branch: str
    tracked_ref: str  # refs/remotes/origin/main when the branch tracks a remote
    remote: str | None
    remote_url: str | None


def open_repo(path: str | Path) -> git.Repo:
    try:
        return git.Repo(Path(path), search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UserError(f"{path}: not a git repository") from None


def open_checkout(path: str | Path) -> tuple[git.Repo, str]:
    """The repository whose work tree holds ``path``, and ``path``'s folder inside it ("" for
    the top level): a repository that feeds several clusters is followed a folder per
    cluster (``~/gitops/clusters/prod``)."""
    place = Path(path).expanduser()
    if not place.is_dir():
        raise UserError(f"{path}: not a git repository")
    try:
        repo = git.Repo(place, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UserError(f"{path}: not a git repository") from None
    if repo.working_tree_dir is None:
        return repo, ""
    top = Path(repo.working_tree_dir).resolve()
    try:
        folder = place.resolve().relative_to(top).as_posix()
    except ValueError:
        raise UserError(f"{path}: not inside the work tree of {top}") from None
    if folder.split("/")[0] == ".git":
        raise UserError(f"{path}: inside the repository's .git directory, not its files")
    return repo, "" if folder == "." else folder


def resolve_branch(repo: git.Repo, branch: str | None) -> TrackedBranch:
    """The branch to follow: the named one or the checkout's current one, and its upstream."""
    top = str(Path(repo.working_tree_dir or repo.git_dir).resolve())
    if branch is None:
        if repo.head.is_detached:
            raise UserError(f"{top}: HEAD is detached; name a branch with --branch")
        branch = repo.active_branch.name
    try:
        head = repo.heads[branch]
    except IndexError:
        head = None
    remote = None
    remote_url = None
    tracked = f"refs/heads/{branch}"
    if head is not None:
        upstream = head.tracking_branch()
        if upstream is not None:
            # GitOps controllers deploy what was pushed, so the remote branch is the desired one.
            tracked = upstream.path
            remote = upstream.remote_name
            try:
                remote_url = next(iter(repo.remote(remote).urls), None)
            except (ValueError, git.GitCommandError):
                remote_url = None
    else:
        try:
            repo.commit(branch)
        except (git.BadName, ValueError):
            raise UserError(f"{top}: no branch {branch!r}") from None
        tracked = branch
    return TrackedBranch(top, branch, tracked, remote, remote_url)

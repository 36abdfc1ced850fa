"""Desired state at a moment: what each followed branch pointed to, and what it declared.

A repository is bound to one cluster or to none (``repos.cluster``): the desired state of a
cluster is what the repositories bound to it or to none declare. Every lookup takes that
``cluster`` (None: every repository, as a store of one cluster always had it).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from timetravel.store import Database
from timetravel.store.declared import ObjectKey, object_key
from timetravel.store.gitstore import CommitRecord, GitStore, RefUpdate, RepoRecord

# Identity of a declared object, without the cluster: a repo declares for whichever
# cluster it is deployed to. The store files desired sets under the same key.
DesiredKey = ObjectKey
desired_key = object_key


@dataclass(frozen=True)
class DeclaredObject:
    repo: RepoRecord
    path: str
    obj: dict[str, Any]
    sha: str = ""  # the commit that declared it
    # Every place the commit declares it differently, when more than one (path is the one
    # shown, chosen by the rule of timetravel.domain.desired); () when declared once.
    declared_by: tuple[str, ...] = ()

    @property
    def conflict_note(self) -> str | None:
        """``declared by 3 files; showing kustomize``, for a detail or cause panel; None
        when the object is declared once (or identically everywhere)."""
        if len(self.declared_by) < 2:
            return None
        return f"declared by {len(self.declared_by)} files; showing {self.path}"


@dataclass(frozen=True)
class DesiredSide:
    """One followed branch at a moment."""

    repo: RepoRecord
    ref: RefUpdate | None
    commit: CommitRecord | None
    objects: dict[DesiredKey, DeclaredObject] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    # The branch pointed to a commit whose desired set the recorder has not rendered yet (a
    # backfill records commits first): what it declares is not known, not nothing.
    pending: bool = False


# After a branch's name in the screen's header while its commit at the cursor is pending.
RENDERING = " (rendering)"


def pending_error(sha: str) -> dict[str, str]:
    """The errors[] entry of a moment whose commit is not rendered yet."""
    return {
        "kind": "pending",
        "path": "",
        "message": f"the desired state of commit {sha[:12]} is not rendered yet: the recorder "
        "renders a new history's commits after recording them, the newest first",
    }


# Which entry (its hash) each followed branch declares for one object, in repo order; None
# where a branch declares nothing for it.
DeclaredVersion = tuple[bytes | None, ...]

# What one commit of one branch declares, by key, and the paths that could not be read.
_Declared = tuple[dict[DesiredKey, DeclaredObject], list[dict[str, str]]]


class DesiredState:
    """Looks up desired state at moments; keeps decoded sets of recent commits.

    Sides share their ``objects`` and ``errors`` with that cache: treat them as read-only.
    """

    def __init__(self, db: Database) -> None:
        self.git = GitStore(db)
        # Scrubbing asks for the same commit many times in a row.
        self._declared: OrderedDict[tuple[RepoRecord, str], _Declared] = OrderedDict()
        self._changes: dict[tuple[int, DesiredKey], tuple[list[int], list[Any]]] = {}
        self._versions: dict[
            tuple[DesiredKey, DeclaredVersion, str | None], DeclaredObject | None
        ] = {}
        # Read once, until new git facts may have arrived (forget_changes): the drift walk
        # asks which commit each branch held at every event it passes, thousands a key,
        # and each would be a round trip to a team store.
        self._repos: list[RepoRecord] | None = None
        self._refs: dict[int, tuple[list[str], list[RefUpdate]]] = {}
        self._commits: dict[str, CommitRecord | None] = {}

    def repos(self, cluster: str | None = None) -> list[RepoRecord]:
        """The followed branches that may deploy to ``cluster`` (None: all of them)."""
        if self._repos is None:
            self._repos = self.git.repos()
        return feeding(self._repos, cluster)

    def ref_at(self, repo_id: int, at: str) -> RefUpdate | None:
        """Where the repository's branch pointed at ``at`` (``GitStore.ref_at``), from its
        moves read once and bisected."""
        known = self._refs.get(repo_id)
        if known is None:
            updates = self.git.ref_updates(repo_id)
            known = self._refs[repo_id] = ([u.observed_at for u in updates], updates)
        position = bisect_right(known[0], at) - 1
        return known[1][position] if position >= 0 else None

    def commit(self, sha: str) -> CommitRecord | None:
        if sha not in self._commits:
            if len(self._commits) >= 4096:
                self._commits.clear()
            self._commits[sha] = self.git.commit(sha)
        return self._commits[sha]

    def ref_updates_between(
        self, start: str, end: str, cluster: str | None = None
    ) -> list[tuple[RefUpdate, CommitRecord]]:
        """The moves in [start, end] of the branches feeding ``cluster``, oldest first."""
        moves = self.git.ref_updates_between(start, end)
        if cluster is None:
            return moves
        ids = {repo.id for repo in self.repos(cluster)}
        return [(update, commit) for update, commit in moves if update.repo_id in ids]

    def forget_changes(self) -> None:
        """Forget which commits changed each object (``version_at``): a new commit may have
        changed it again. Decoded sets stay: a commit's set never changes."""
        self._changes.clear()
        self._repos = None
        self._refs.clear()
        # A commit not recorded when asked may be now (recorded commits never change).
        self._commits = {sha: c for sha, c in self._commits.items() if c is not None}

    def at(self, at: str, cluster: str | None = None) -> list[DesiredSide]:
        sides = []
        for repo in self.repos(cluster):
            ref = self.ref_at(repo.id, at)
            if ref is None:
                sides.append(DesiredSide(repo, None, None))
                continue
            declared = self._declared_by(repo, ref.sha)
            if declared is None:
                pending = [pending_error(ref.sha)]
                sides.append(DesiredSide(repo, ref, self.commit(ref.sha), {}, pending, True))
                continue
            objects, errors = declared
            sides.append(DesiredSide(repo, ref, self.commit(ref.sha), objects, errors))
        return sides

    def _declared_by(self, repo: RepoRecord, sha: str) -> _Declared | None:
        """What the commit declares; None while its set is not rendered (not remembered:
        it comes)."""
        if (known := self._declared.get((repo, sha))) is not None:
            self._declared.move_to_end((repo, sha))
            return known
        stored = self.git.desired_set(repo.id, sha)
        if stored is None:
            return None
        conflicts = _conflicts(stored.errors)
        objects: dict[DesiredKey, DeclaredObject] = {}
        for item in stored.objects:
            key = desired_key(item["obj"])
            if key is not None:
                objects[key] = DeclaredObject(
                    repo, item["path"], item["obj"], sha, conflicts.get(key, ())
                )
        self._declared[(repo, sha)] = (objects, stored.errors)
        if len(self._declared) > 16:
            self._declared.popitem(last=False)
        return objects, stored.errors

    def version_at(
        self, key: DesiredKey, at: str, cluster: str | None = None
    ) -> DeclaredVersion | None:
        """Which version of ``key``'s declared object the branches hold at ``at``: equal
        answers, equal declared objects. None for a database without the index (written
        before m005 and opened read-only): ask :meth:`merged_at`.

        A lookup of the branch and a bisect per repo, where ``merged_at`` decodes a
        commit's whole set: the drift of one resource across thousands of commits asks
        this at every commit and decodes a set only per version (:meth:`declared`).
        """
        if not self.git.indexed:
            return None
        version = []
        for repo in self.repos(cluster):
            ref = self.ref_at(repo.id, at)
            set_id = self.git.set_id(repo.id, ref.sha) if ref is not None else None
            entry = None
            if set_id is not None:
                changes = self._changes.get((repo.id, key))
                if changes is None:
                    found = self.git.declared_changes(repo.id, key)
                    changes = self._changes[(repo.id, key)] = ([c[0] for c in found], found)
                position = bisect_right(changes[0], set_id) - 1
                entry = changes[1][position][1] if position >= 0 else None
            version.append(entry)
        return tuple(version)

    def declared(
        self,
        key: DesiredKey,
        at: str,
        version: DeclaredVersion,
        cluster: str | None = None,
    ) -> DeclaredObject | None:
        """``merged_at(at, cluster)[1].get(key)``, where ``version`` is
        ``version_at(key, at, cluster)``: decoded once per version."""
        cache_key = (key, version, cluster)
        if cache_key in self._versions:
            return self._versions[cache_key]
        found = self.merged_at(at, cluster)[1].get(key) if any(version) else None
        if len(self._versions) >= 4096:
            self._versions.clear()
        self._versions[cache_key] = found
        return found

    def merged_at(
        self, at: str, cluster: str | None = None
    ) -> tuple[list[DesiredSide], dict[DesiredKey, DeclaredObject]]:
        """Every branch feeding ``cluster`` at ``at`` and all they declare (a later repo
        wins a conflict)."""
        sides = self.at(at, cluster)
        merged: dict[DesiredKey, DeclaredObject] = {}
        for side in sides:
            merged.update(side.objects)
        return sides, merged


def _conflicts(errors: list[dict[str, Any]]) -> dict[DesiredKey, tuple[str, ...]]:
    """The places each object conflicting in a stored set is declared, from its errors."""
    found: dict[DesiredKey, tuple[str, ...]] = {}
    for error in errors:
        target = error.get("object")
        if error.get("kind") != "conflict" or not isinstance(target, dict):
            continue
        key = tuple(str(target.get(f, "")) for f in ("group", "kind", "namespace", "name"))
        found[(key[0], key[1], key[2], key[3])] = tuple(map(str, error.get("declared_by", ())))
    return found


def feeding(repos: list[RepoRecord], cluster: str | None) -> list[RepoRecord]:
    """The repositories that may deploy to ``cluster``: bound to it or to none (None: all)."""
    if cluster is None:
        return repos
    return [repo for repo in repos if repo.cluster is None or repo.cluster == cluster]

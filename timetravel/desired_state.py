"""Desired state at a moment: what each followed branch pointed to, and what it declared."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from timetravel.domain.model import split_api_version
from timetravel.store import Database
from timetravel.store.gitstore import CommitRecord, GitStore, RefUpdate, RepoRecord

# Identity of a declared object, without the cluster: a repo declares for whichever
# cluster it is deployed to.
DesiredKey = tuple[str, str, str, str]  # (group, kind, namespace, name)


def desired_key(obj: dict[str, Any]) -> DesiredKey | None:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name") or not obj.get("kind"):
        return None
    group, _ = split_api_version(str(obj.get("apiVersion") or ""))
    return (group, str(obj["kind"]), str(meta.get("namespace") or ""), str(meta["name"]))


@dataclass(frozen=True)
class DeclaredObject:
    repo: RepoRecord
    path: str
    obj: dict[str, Any]
    sha: str = ""  # the commit that declared it


@dataclass(frozen=True)
class DesiredSide:
    """One followed branch at a moment."""

    repo: RepoRecord
    ref: RefUpdate | None
    commit: CommitRecord | None
    objects: dict[DesiredKey, DeclaredObject] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)


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

    def repos(self) -> list[RepoRecord]:
        return self.git.repos()

    def at(self, at: str) -> list[DesiredSide]:
        sides = []
        for repo in self.git.repos():
            ref = self.git.ref_at(repo.id, at)
            if ref is None:
                sides.append(DesiredSide(repo, None, None))
                continue
            objects, errors = self._declared_by(repo, ref.sha)
            sides.append(DesiredSide(repo, ref, self.git.commit(ref.sha), objects, errors))
        return sides

    def _declared_by(self, repo: RepoRecord, sha: str) -> _Declared:
        if (known := self._declared.get((repo, sha))) is not None:
            self._declared.move_to_end((repo, sha))
            return known
        stored = self.git.desired_set(repo.id, sha)
        if stored is None:
            return {}, []
        objects: dict[DesiredKey, DeclaredObject] = {}
        for item in stored.objects:
            key = desired_key(item["obj"])
            if key is not None:
                objects[key] = DeclaredObject(repo, item["path"], item["obj"], sha)
        self._declared[(repo, sha)] = (objects, stored.errors)
        if len(self._declared) > 16:
            self._declared.popitem(last=False)
        return objects, stored.errors

    def merged_at(self, at: str) -> tuple[list[DesiredSide], dict[DesiredKey, DeclaredObject]]:
        """Every branch at ``at`` and all declared objects (a later repo wins a conflict)."""
        sides = self.at(at)
        merged: dict[DesiredKey, DeclaredObject] = {}
        for side in sides:
            merged.update(side.objects)
        return sides, merged

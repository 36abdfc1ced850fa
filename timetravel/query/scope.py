"""Which cluster a reading is about, in a store that may hold several.

A team store holds every cluster its recorders watch; the screen and an export show one
at a time. Every fact names its cluster (resources, gaps, observations), and a repository
is bound to one cluster or to none: the scope says which facts a reading takes.

Limiting revisions to a cluster joins each one to its resource (two index lookups per
revision read along the time index); a store of one cluster needs no such filter, so
:attr:`Scope.revisions` is None there and reads cost what they always did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from timetravel.errors import UserError


@dataclass(frozen=True)
class Scope:
    """The cluster shown (None: every cluster) and whether the store holds others."""

    cluster: str | None = None
    several: bool = False

    @property
    def revisions(self) -> str | None:
        """The cluster revisions must be filtered by; None when no filter is needed."""
        return self.cluster if self.several else None

    @property
    def label(self) -> str:
        return self.cluster or "every cluster"


EVERY = Scope()


def scope_of(known: Sequence[str], cluster: str | None) -> Scope:
    """The scope of ``cluster`` in a store holding the clusters ``known``."""
    others = [name for name in known if name != cluster]
    return Scope(cluster, several=cluster is not None and bool(others))


def _listing(known: Sequence[str]) -> str:
    return ", ".join(known) if known else "none yet"


def check_cluster(known: Sequence[str], wanted: str) -> str:
    """``wanted`` when the store holds it; else a UserError naming the clusters it holds."""
    if wanted not in known:
        raise UserError(f"no cluster {wanted!r} in this store; it holds: {_listing(known)}")
    return wanted


def first_cluster(known: Sequence[str], wanted: str | None) -> str | None:
    """The cluster the screen starts on: ``wanted`` (checked), else the first by name;
    None when the store holds none yet."""
    if wanted is not None:
        return check_cluster(known, wanted)
    return min(known) if known else None


def one_cluster(known: Sequence[str], wanted: str | None) -> str | None:
    """The cluster an export is about: ``wanted`` (checked), else the only one there is.

    A store of several clusters and no choice is a UserError listing them: an incident
    snapshot mixing prod's and staging's objects of the same names would mislead.
    """
    if wanted is not None:
        return check_cluster(known, wanted)
    if len(known) > 1:
        raise UserError(
            f"this store holds {len(known)} clusters ({_listing(known)}): "
            "choose one with --cluster NAME"
        )
    return known[0] if known else None

"""The ``:`` jumps, as in k9s: what a typed command means and which rows it keeps.

Grammar (the text after the colon)::

    KIND[/NAME] [NAMESPACE]     :deploy   :cm/web-config   :deploy/api payments
    KIND[/NAME] -n NAMESPACE    (kubectl's spelling, also accepted)
    ns [NAMESPACE]              :ns payments   (``:ns`` alone or ``:ns all``: every one)
    all                         every kind in every namespace
    ctx [CLUSTER]               another cluster of the store, as k9s's ``:ctx`` (alone: ``c``)

A kind is typed as kubectl takes it (``deploy``, ``deployments``, ``Deployment``, ``cm``,
``deployments.apps``; :mod:`timetravel.domain.kinds`). A kind jump scopes the list to that
kind, keeping the namespace scope unless it names one (``all`` clears it); a namespace
jump keeps the kind scope. ``KIND/NAME`` scopes to the kind and selects the resource.

Pure (no Textual): the app applies a :class:`Jump` to the rows at the cursor.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from timetravel.domain.kinds import KindName, matches, resolve_kind
from timetravel.domain.model import ResourceKey
from timetravel.domain.printable import printable

ALL = "all"  # the namespace word that clears the namespace scope
NS_WORDS = ("ns", "namespace", "namespaces")
CTX_WORDS = ("ctx", "context", "contexts", "cluster", "clusters")


def cluster_of(text: str) -> str | None:
    """The cluster a ``ctx`` command names (``""``: none, pick one); None if not one."""
    words = text.strip().removeprefix(":").split()
    if not words or words[0].lower() not in CTX_WORDS:
        return None
    return words[1] if len(words) > 1 else ""


class JumpError(ValueError):
    """A ``:`` command that does not parse (its message is shown as a toast)."""


@dataclass(frozen=True)
class Jump:
    """A parsed ``:`` command. ``namespace``: None when not said, ``ALL`` to clear."""

    kind: str | None = None  # as typed; None for ``ns ...`` and ``all``
    name: str | None = None
    namespace: str | None = None
    everything: bool = False  # ``:all``

    @property
    def text(self) -> str:
        """The command in its normal form (no colon)."""
        if self.everything:
            return ALL
        if self.kind is None:
            return f"ns {self.namespace}" if self.namespace not in (None, ALL) else "ns"
        head = self.kind + (f"/{self.name}" if self.name is not None else "")
        return head + (f" {self.namespace}" if self.namespace is not None else "")


def parse_jump(text: str) -> Jump:
    """``text`` (a leading ``:`` is allowed) as a :class:`Jump`; :class:`JumpError` if it
    is not one."""
    words = text.strip().removeprefix(":").split()
    if not words:
        raise JumpError("type a kind (deploy), a resource (cm/web-config) or ns NAMESPACE")
    head, rest = words[0], words[1:]
    if rest[:1] in (["-n"], ["--namespace"]):
        rest = rest[1:]
        if not rest:
            raise JumpError(f"{head} -n: which namespace?")
    elif rest[:1] in (["-A"], ["--all-namespaces"]):
        rest = [ALL, *rest[1:]]
    if len(rest) > 1:
        raise JumpError(f"{' '.join(words)}: one namespace at most (KIND[/NAME] [NAMESPACE])")
    namespace = rest[0] if rest else None
    if head.lower() == ALL and "/" not in head:
        if namespace is not None:
            raise JumpError(f"all {namespace}: 'all' takes nothing after it")
        return Jump(everything=True)
    if head.lower() in NS_WORDS:  # ns/NAME is a Namespace object, a resource jump
        return Jump(namespace=ALL if namespace in (None, ALL) else namespace)
    kind, slash, name = head.partition("/")
    if not kind:
        raise JumpError(f"{head}: a kind goes before the /")
    if slash and (not name or "/" in name):
        raise JumpError(f"{head}: KIND/NAME, one name")
    if namespace is not None and namespace.lower() == ALL:
        namespace = ALL
    return Jump(kind=kind, name=name if slash else None, namespace=namespace)


@dataclass(frozen=True)
class Scope:
    """What the ``:`` jumps keep of the list: a kind (as typed) and a namespace."""

    kind: str | None = None
    namespace: str | None = None

    def __bool__(self) -> bool:
        return self.kind is not None or self.namespace is not None

    @cached_property
    def resolved(self) -> KindName | None:
        return resolve_kind(self.kind) if self.kind is not None else None

    def admits(self, key: ResourceKey) -> bool:
        if self.namespace is not None and not same_text(self.namespace, key.namespace):
            return False
        resolved = self.resolved
        return resolved is None or matches(resolved, key.kind, key.group)

    @property
    def label(self) -> str:
        """The scope as the ``:`` command that makes it (the list's title shows it)."""
        if self.kind is None:
            return f":ns {self.namespace}" if self.namespace is not None else ""
        return f":{self.kind}" + (f" {self.namespace}" if self.namespace is not None else "")


def same_text(typed: str, recorded: str) -> bool:
    """A typed name names a recorded one: as recorded, or as the screen shows it."""
    return typed == recorded or typed == printable(recorded)


@dataclass(frozen=True)
class Landing:
    """Where a jump lands: the scope to show, the resource to select, what to say."""

    scope: Scope
    select: ResourceKey | None = None
    warning: str | None = None


def land(jump: Jump, scope: Scope, keys: Iterable[ResourceKey]) -> Landing:
    """Apply ``jump`` to the current ``scope`` over the resources at the cursor."""
    keys = list(keys)
    if jump.everything:
        return Landing(Scope())
    if jump.kind is None:  # ns [NAMESPACE]
        namespace = None if jump.namespace in (None, ALL) else jump.namespace
        new = Scope(scope.kind, namespace)
        warning = None
        if namespace is not None and not any(same_text(namespace, k.namespace) for k in keys):
            warning = f"nothing in namespace {namespace} at this moment"
        return Landing(new, warning=warning)
    resolved = resolve_kind(jump.kind)
    of_kind = [k for k in keys if matches(resolved, k.kind, k.group)]
    if resolved.group is None and not of_kind:
        # Not a kind kubectl knows, nor one recorded here: most likely a typo.
        return Landing(scope, warning=f":{jump.text}: no kind {jump.kind} at this moment")
    if jump.namespace is None:
        namespace = scope.namespace
    else:
        namespace = None if jump.namespace == ALL else jump.namespace
    new = Scope(jump.kind, namespace)
    if jump.name is None:
        if not of_kind:
            return Landing(new, warning=f"no {resolved.kind} at this moment")
        return Landing(new)
    named = [k for k in of_kind if same_text(jump.name, k.name)]
    inside = [k for k in named if namespace is None or same_text(namespace, k.namespace)]
    if inside:
        return Landing(new, select=inside[0])
    if named and jump.namespace is None:  # elsewhere than the namespace scoped to
        return Landing(Scope(jump.kind, None), select=named[0])
    where = f" in {namespace}" if namespace is not None else ""
    return Landing(new, warning=f"no {resolved.kind} {jump.name}{where} at this moment")


# -- suggestions as the user types -------------------------------------------------------------
# At most this many of each sort (kinds, namespaces, resources) are offered.
LIMIT = 40


def rank(typed: str, candidate: str) -> tuple[float, tuple[int, ...]]:
    """How well ``candidate`` fits what was typed (0: not at all) and the positions that
    matched: whole (1), a prefix, a substring (earlier is better), the letters in order."""
    return _rank(typed.lower(), candidate.lower())


def _rank(query: str, text: str) -> tuple[float, tuple[int, ...]]:
    """:func:`rank` of text already in lower case."""
    if not query:
        return 0.5, ()
    if query == text:
        return 1.0, tuple(range(len(text)))
    at = text.find(query)
    if at == 0:
        return 0.9, tuple(range(len(query)))
    if at > 0:
        return 0.8 - min(at, 40) / 400, tuple(range(at, at + len(query)))
    positions = []
    start = 0
    for char in query:
        found = text.find(char, start)
        if found < 0:
            return 0.0, ()
        positions.append(found)
        start = found + 1
    spread = positions[-1] - positions[0] + 1 - len(query)
    return 0.6 - min(spread, 40) / 200, tuple(positions)


@dataclass(frozen=True)
class Suggestion:
    """One line of the palette: ``text`` is the command it runs (and completes to)."""

    score: float
    text: str
    label: str  # shown, printable (never markup)
    marks: tuple[int, ...]  # positions in ``label`` that matched what was typed
    help: str  # printable, never markup


class JumpIndex:
    """The kinds, namespaces and resources at the cursor, to suggest from.

    Made once per moment shown; a suggestion ranks every resource name, so 10,000
    resources take a few milliseconds a key (the names are made printable and lower-cased
    here, once, and only the best are made into lines)."""

    def __init__(self, keys: Iterable[ResourceKey], clusters: Iterable[str] = ()) -> None:
        self.keys = list(keys)
        self.clusters = list(clusters)
        # Per resource: its name as shown, and that in lower case (what is ranked).
        self._names = [printable(key.name) for key in self.keys]
        self._lowered = [name.lower() for name in self._names]
        kinds: dict[tuple[str, str], int] = {}
        namespaces: dict[str, int] = {}
        for key in self.keys:
            kinds[key.kind, key.group] = kinds.get((key.kind, key.group), 0) + 1
            if key.namespace:
                namespaces[key.namespace] = namespaces.get(key.namespace, 0) + 1
        self.kinds = dict(sorted(kinds.items()))
        self.namespaces = dict(sorted(namespaces.items()))
        lowered: dict[str, int] = {}
        for kind, _ in self.kinds:
            lowered[kind.lower()] = lowered.get(kind.lower(), 0) + 1
        # A kind typed by its name, with its group where two groups share the name.
        self.typed_kind = {
            (kind, group): kind.lower() + (f".{group}" if lowered[kind.lower()] > 1 else "")
            for kind, group in self.kinds
        }

    def knows(self, text: str) -> bool:
        """Whether enter runs ``text`` as typed: it does not parse (the error is shown), or
        it names a kind kubectl or this moment knows, and a namespace and a name this
        moment holds. Otherwise it is a fragment, and the best suggestion runs instead."""
        cluster = cluster_of(text)
        if cluster is not None:
            return not cluster or any(same_text(cluster, c) for c in self.clusters)
        try:
            jump = parse_jump(text)
        except JumpError:
            return not text.strip().endswith("/")  # ``cm/``: a name is being typed
        namespace = jump.namespace
        if namespace not in (None, ALL) and not any(
            same_text(namespace, ns) for ns in self.namespaces
        ):
            return False
        if jump.kind is None:
            return True
        resolved = resolve_kind(jump.kind)
        if jump.name is not None:
            return any(
                matches(resolved, key.kind, key.group) and same_text(jump.name, key.name)
                for key in self.keys
            )
        return resolved.group is not None or any(
            matches(resolved, kind, group) for kind, group in self.kinds
        )

    def suggest(self, text: str) -> list[Suggestion]:
        """What the palette offers for ``text`` (the ``:`` command typed so far), the best
        first."""
        found = self._suggest(text)
        found.sort(key=lambda s: -s.score)  # stable: each sort's own order within a score
        return found

    def _suggest(self, text: str) -> list[Suggestion]:
        words = text.strip().removeprefix(":").split()
        trailing = text.endswith(" ")
        if not words:
            clusters = self._clusters("") if len(self.clusters) > 1 else []
            return self._kinds("", None) + self._namespaces("", "ns ") + clusters
        head = words[0]
        more = words[1] if len(words) > 1 else ("" if trailing else None)
        if head.lower() in NS_WORDS and "/" not in head:
            every = Suggestion(0.5, "ns", "ns", (), "every namespace")
            return [every, *self._namespaces(more or "", "ns ")]
        if head.lower() == ALL:
            return [Suggestion(1.0, ALL, ALL, (0, 1, 2), "every kind in every namespace")]
        if head.lower() in CTX_WORDS:
            return self._clusters(more or "")
        kind, slash, name = head.partition("/")
        if slash:
            return self._resources(name, resolve_kind(kind), more)
        if more is not None:  # KIND NAMESPACE: the namespace is being typed
            resolved = resolve_kind(kind)
            return [
                Suggestion(s.score, f"{kind} {s.text}", f"{kind} {s.label}", (), s.help)
                for s in self._namespaces(more, "")
                if any(matches(resolved, k, g) for k, g in self.kinds)
            ]
        found = self._kinds(head, None) + self._namespaces(head, "ns ", scale=0.9)
        return found + self._resources(head, None, None, scale=0.8)

    def _kinds(self, typed: str, namespace: str | None) -> list[Suggestion]:
        exact = resolve_kind(typed) if typed else None
        found = []
        for (kind, group), count in self.kinds.items():
            command = self.typed_kind[kind, group]
            marks: tuple[int, ...] = ()
            if exact is not None and matches(exact, kind, group):
                score = 1.0
            else:
                score, marks = rank(typed, kind)
            if score:
                label = printable(kind) + (f" ({printable(group)})" if group else "")
                found.append(
                    Suggestion(score, printable(command), label, marks, f"{count} at the cursor")
                )
        return _best(found)

    def _clusters(self, typed: str) -> list[Suggestion]:
        found = []
        for cluster in self.clusters:
            shown = printable(cluster)
            score, marks = rank(typed, shown)
            if score and " " not in shown:
                text = f"ctx {shown}"
                marked = tuple(m + 4 for m in marks)
                found.append(Suggestion(score, text, text, marked, f"show cluster {shown}"))
        return _best(found)

    def _namespaces(self, typed: str, prefix: str, scale: float = 1.0) -> list[Suggestion]:
        found = []
        for namespace, count in self.namespaces.items():
            shown = printable(namespace)
            score, marks = rank(typed, shown)
            if score:
                text = f"{prefix}{shown}"
                found.append(
                    Suggestion(
                        score * scale,
                        text,
                        text,
                        tuple(m + len(prefix) for m in marks),
                        f"only namespace {shown} ({count})",
                    )
                )
        return _best(found)

    def _resources(
        self, typed: str, kind: KindName | None, namespace: str | None, scale: float = 1.0
    ) -> list[Suggestion]:
        kinds = None if kind is None else {kg for kg in self.kinds if matches(kind, *kg)}
        spaces = None
        if namespace:
            spaces = {ns for ns in self.namespaces if _rank(namespace.lower(), ns.lower())[0]}
        query = typed.lower()
        letters = re.compile(".*?".join(map(re.escape, query)))
        ranked: list[tuple[float, int]] = []
        lowered = self._lowered
        for at, key in enumerate(self.keys):
            if kinds is not None and (key.kind, key.group) not in kinds:
                continue
            if spaces is not None and key.namespace not in spaces:
                continue
            # _rank's order without its positions (made only for the lines shown).
            text = lowered[at]
            found_at = text.find(query)
            if found_at == 0:
                score = 1.0 if text == query else 0.9
            elif found_at > 0:
                score = 0.8 - min(found_at, 40) / 400
            elif (match := letters.search(text)) is not None:
                score = 0.6 - min(match.end() - match.start() - len(query), 40) / 200
            else:
                continue
            ranked.append((score, -at))
        found = []
        for score, at in heapq.nlargest(LIMIT * 2, ranked):
            key, name = self.keys[-at], self._names[-at]
            marks = _rank(query, lowered[-at])[1]
            if " " in name:
                continue  # not something the grammar can name
            head = f"{printable(self.typed_kind[key.kind, key.group])}/"
            where = f" {printable(key.namespace)}" if key.namespace else ""
            text = f"{head}{name}{where}"
            found.append(
                Suggestion(
                    score * scale,
                    text,
                    text,
                    tuple(m + len(head) for m in marks),
                    f"select {printable(key.kind)} {name}" + (f" in{where}" if where else ""),
                )
            )
        return _best(found)


def _best(found: list[Suggestion]) -> list[Suggestion]:
    found.sort(key=lambda s: (-s.score, s.text))
    return found[:LIMIT]

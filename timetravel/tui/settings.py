"""The user's keymap and theme (``[keymap]`` and ``[ui]`` in timetravel.toml) on the screen.

A keymap entry names a binding by its id (``time.next_change``) or by the part after the
dot (``next_change``: every binding of that name, so ``up`` moves both the lists and the
YAML). A time key rebinds its twin in the panels too (``time.next_change`` and
``panel.next_change``): otherwise the old key would still step time wherever a list has
focus. An unknown id, a key Textual cannot name or an unknown theme is one warning line;
the screen starts anyway.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable

from textual.binding import Binding, BindingType
from textual.keys import KEY_NAME_REPLACEMENTS, KEY_TO_UNICODE_NAME, Keys

from timetravel.tui.keys import APP_BINDINGS
from timetravel.tui.widgets.cluster_picker import ClusterScreen
from timetravel.tui.widgets.desired_actual import DesiredActualView
from timetravel.tui.widgets.dialogs import GotoScreen, HelpScreen
from timetravel.tui.widgets.export_dialog import ExportScreen
from timetravel.tui.widgets.linelist import LineList

# Rebinding a binding of the first group rebinds the one of the same name in the second.
TWINS = {"time": "panel"}
_MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
_KEY_NAMES = frozenset(key.value.rpartition("+")[2] for key in Keys)
_WORD = re.compile(r"^[a-z0-9_]+$")


def binding_ids() -> list[str]:
    """Every binding id of the screen, in the order help lists them."""
    ids: list[str] = []
    owners: Iterable[list[BindingType]] = (
        APP_BINDINGS,
        LineList.BINDINGS,
        DesiredActualView.BINDINGS,
        HelpScreen.BINDINGS,
        GotoScreen.BINDINGS,
        ExportScreen.BINDINGS,
        ClusterScreen.BINDINGS,
    )
    for bindings in owners:
        for binding in bindings:
            if isinstance(binding, Binding) and binding.id and binding.id not in ids:
                ids.append(binding.id)
    return ids


def valid_key(keys: str) -> bool:
    """Whether every key of ``keys`` (``n``, ``ctrl+n``, ``n,ctrl+n``, ``f5``,
    ``question_mark``) is one Textual names."""
    for key in keys.split(","):
        parts = key.strip().split("+")
        name = parts[-1]
        if not name or any(p.lower() not in _MODIFIERS for p in parts[:-1]):
            return False
        if not ((len(name) == 1 and name.isprintable()) or _named(name)):
            return False
    return True


def _named(name: str) -> bool:
    """A key's name: ``pageup``, ``f5``; a character's (``question_mark``, ``slash``)."""
    if name in _KEY_NAMES or name in KEY_NAME_REPLACEMENTS.values() or name in KEY_TO_UNICODE_NAME:
        return True
    if not _WORD.match(name):
        return False
    try:
        unicodedata.lookup(name.replace("_", " "))
    except KeyError:
        return False
    return True


def keymap(wanted: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The Textual keymap (binding id to keys) the user's ``[keymap]`` means, and a line
    for each entry left out."""
    ids = binding_ids()
    out: dict[str, str] = {}
    warnings: list[str] = []
    for name, keys in wanted.items():
        if name in ids:
            targets = [name]
            group, _, rest = name.partition(".")
            twin = f"{TWINS[group]}.{rest}" if group in TWINS else None
            if twin in ids and twin not in wanted:
                targets.append(twin)
        else:
            targets = [i for i in ids if i.partition(".")[2] == name]
        if not targets:
            near = difflib.get_close_matches(name, ids + [i.partition(".")[2] for i in ids], 1)
            hint = f"did you mean {near[0]!r}?" if near else "help (?) lists the ids"
            warnings.append(f"keymap: no binding {name!r}; {hint}")
            continue
        if not valid_key(keys):
            warnings.append(f"keymap: {name}: {keys!r} is not a key (n, ctrl+n, f5, question_mark)")
            continue
        for target in targets:
            out.setdefault(target, keys)
    return out, warnings + clashes(out)


def _key_names(keys: str) -> set[str]:
    """Keys as Textual names them (``?`` is ``question_mark``, ``+`` is ``plus``)."""
    names = set()
    for key in keys.split(","):
        key = key.strip()
        if len(key) == 1 and not key.isalnum():
            key = unicodedata.name(key, key).lower().replace("-", "_").replace(" ", "_")
            key = KEY_NAME_REPLACEMENTS.get(key, key)
        names.add(key)
    return names


def clashes(mapped: dict[str, str]) -> list[str]:
    """A line for each key the keymap gives a binding of the main screen that another
    binding still has: of the same panel, that one loses it; of a panel (a list, the YAML),
    that one wins while the panel has focus. Bindings of one name in different places
    (``time.first``, ``panel.first``; ``list.up``, ``yaml.up``) never count."""
    owned = [
        (owner, b)
        for owner, bindings in (
            ("screen", APP_BINDINGS),
            ("a list", LineList.BINDINGS),
            ("the YAML view", DesiredActualView.BINDINGS),
        )
        for b in bindings
        if isinstance(b, Binding) and b.id
    ]
    told: dict[tuple[str, str], str] = {}
    for owner, binding in owned:
        if binding.id not in mapped:
            continue
        wanted = _key_names(mapped[binding.id])
        name = str(binding.id).partition(".")[2]
        for other_owner, other in owned:
            other_id = str(other.id)
            if other_id in mapped or other_id.partition(".")[2] == name:
                continue  # rebound too, or the same binding in another place
            for key in sorted(wanted & _key_names(other.key)):
                if other_owner == owner:
                    line = f"{key} no longer does {other.description!r} ({other_id})"
                else:
                    line = (
                        f"{key} is also {other.description!r} ({other_id}), which wins"
                        f" while {other_owner} has focus"
                    )
                told.setdefault((key, other_id), f"keymap: {line}")
    return list(told.values())

"""Settings: where the database lives, the TIMETRAVEL_* environment, and the screen's
keymap and theme from timetravel.toml."""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from timetravel.domain.attribution import ManagerRules
from timetravel.domain.ignore import RuleSet, rules_from_config
from timetravel.errors import UserError
from timetravel.host import data_dir as data_dir  # where it was first defined

ENV_DB = "TIMETRAVEL_DB"


def default_db() -> str:
    """``$TIMETRAVEL_DB`` (a file path or a ``postgresql://`` URL), else ``timetravel.db``
    in the XDG data directory."""
    env = os.environ.get(ENV_DB)
    if env:
        return env
    return str(data_dir() / "timetravel.db")


def config_path() -> Path:
    """``$TIMETRAVEL_CONFIG``, else ``$XDG_CONFIG_HOME/timetravel/timetravel.toml``."""
    env = os.environ.get("TIMETRAVEL_CONFIG")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "timetravel" / "timetravel.toml"


def load_rules(path: Path | None = None) -> ManagerRules:
    """Field-manager classification, with ``[attribution]`` lists from timetravel.toml.

    A list in the file replaces the built-in one; ``extra_*`` keys add to it::

        [attribution]
        extra_gitops = ["my-sync-bot"]
        pipeline_service_accounts = ["system:serviceaccount:ci:deployer"]
    """
    path = path or config_path()
    rules = ManagerRules()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return rules
    except (OSError, tomllib.TOMLDecodeError) as exc:
        # Also a config directory this user may not enter (PermissionError from the walk).
        raise UserError(f"{path}: cannot read ({exc})") from None
    section = data.get("attribution") or {}
    changes: dict[str, tuple[str, ...]] = {}
    for name in ("gitops", "manual", "controller", "deploy_tools", "pipeline_service_accounts"):
        base = tuple(section.get(name, getattr(rules, name)))
        extra = tuple(section.get(f"extra_{name}", ()))
        changes[name] = base + extra
    return replace(rules, **changes)


def load_drift_rules(path: Path | None = None) -> RuleSet:
    """The ``[drift] ignore`` rules of timetravel.toml (docs: domain/ignore.py)::

        [[drift.ignore]]
        kind = "Deployment"
        namespace = "payments"
        paths = ["spec.replicas"]          # or JSON pointers: "/spec/replicas"
        # managers = ["kube-controller-manager"]

    A rule that cannot be read is in the set's ``problems`` (an export lists them); a file
    that cannot be read is a UserError, as for ``[attribution]``."""
    path = path or config_path()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return RuleSet()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None
    return rules_from_config(data.get("drift") or {}, source=path.name)


# -- the screen's settings: [keymap] and [ui] ---------------------------------------------------
STATE_FILE = "ui.toml"


def state_dir() -> Path:
    """``$XDG_STATE_HOME/timetravel`` (``~/.local/state/timetravel`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "timetravel"


@dataclass(frozen=True)
class UiSettings:
    """The screen's settings from timetravel.toml (and the theme last chosen in it).

    ``keymap``: binding id (or the part after its dot) to keys, as the file says them;
    whether an id exists is the screen's to check. ``warnings``: one line each, for what
    was left out (the screen shows them; they never stop it).
    """

    keymap: dict[str, str] = field(default_factory=dict)
    theme: str | None = None
    warnings: tuple[str, ...] = ()
    config: Path | None = None  # where [ui] theme is written back (None: nowhere)
    state: Path | None = None  # where it goes when that file cannot take it


def load_ui(path: Path | None = None, state: Path | None = None) -> UiSettings:
    """``[keymap]`` and ``[ui] theme`` from timetravel.toml; the theme chosen in the
    screen, when it could not be written there, from ``state`` (``ui.toml`` in the XDG
    state directory). Of the two themes the one written last wins, so editing the file
    after choosing in the screen makes the file's count again. Never raises::

        [keymap]
        "time.next_change" = "n"         # or "next_change"; several keys: "n,ctrl+n"
        "time.next_notable" = ["m"]

        [ui]
        theme = "textual-light"
    """
    path = path or config_path()
    state = state or state_dir() / STATE_FILE
    warnings: list[str] = []
    data = _read_toml(path, warnings)
    keymap: dict[str, str] = {}
    section = data.get("keymap", {})
    if not isinstance(section, dict):
        warnings.append(f"{path}: [keymap] is not a table; keys left as they are")
        section = {}
    for binding, keys in section.items():
        if isinstance(keys, list) and keys and all(isinstance(k, str) for k in keys):
            keys = ",".join(keys)
        if not isinstance(keys, str) or not keys.strip():
            warnings.append(f'{path}: [keymap] {binding}: keys are a string such as "n"')
            continue
        keymap[str(binding)] = keys
    ui = data.get("ui", {})
    theme = ui.get("theme") if isinstance(ui, dict) else None
    if theme is not None and not isinstance(theme, str):
        warnings.append(f'{path}: [ui] theme is a name such as "textual-light"')
        theme = None
    chosen = _read_toml(state, warnings).get("theme")
    if isinstance(chosen, str) and _mtime(state) >= _mtime(path):
        theme = chosen
    return UiSettings(keymap, theme, tuple(warnings), path, state)


def save_theme(theme: str, path: Path | None = None, state: Path | None = None) -> Path:
    """Write ``[ui] theme`` into timetravel.toml, changing that one line (or adding it), so
    the user's other keys and comments stay; where that file cannot be written (or its
    ``[ui]`` is written in a form this edit does not follow), into ``state``. Returns the
    file written; raises OSError when neither could be."""
    path = path or config_path()
    state = state or state_dir() / STATE_FILE
    target = path.resolve()  # a dotfiles symlink stays a symlink
    try:
        text = target.read_text() if target.exists() else _NEW_CONFIG
        edited = _set_ui_theme(text, theme)
        if edited is not None:
            _write_atomically(target, edited)
            if state.exists():  # an older choice there would win over this one
                state.unlink()
            return path
    except (OSError, UnicodeDecodeError):
        pass
    state.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(
        state, f"# The theme last chosen in timetravel's screen.\ntheme = {json.dumps(theme)}\n"
    )
    return state


_NEW_CONFIG = "# timetravel's settings (see the README's Configuration).\n"
_HEADER = re.compile(r"^\s*\[\s*(?P<name>[^\[\]]+?)\s*\]\s*(#.*)?$")
_THEME_LINE = re.compile(r"^(?P<indent>\s*)theme\s*=")


def _set_ui_theme(text: str, theme: str) -> str | None:
    """``text`` with ``[ui] theme`` set, every other line as it was; None when the result
    would not read back as exactly that change (a dotted ``ui.theme``, an inline table)."""
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    value = f"theme = {json.dumps(theme)}\n"
    header = next(
        (i for i, line in enumerate(lines) if (m := _HEADER.match(line)) and m["name"] == "ui"),
        None,
    )
    if header is None:
        lines += ["\n" if lines else "", "[ui]\n", value]
    else:
        end = next(
            (i for i in range(header + 1, len(lines)) if _HEADER.match(lines[i])), len(lines)
        )
        found = next((i for i in range(header + 1, end) if _THEME_LINE.match(lines[i])), None)
        if found is None:
            lines.insert(header + 1, value)
        else:
            lines[found] = _THEME_LINE.match(lines[found])["indent"] + value  # type: ignore[index]
    edited = "".join(lines)
    try:
        after = tomllib.loads(edited)
    except tomllib.TOMLDecodeError:
        return None
    expected = {**before, "ui": {**before.get("ui", {}), "theme": theme}}
    return edited if after == expected else None


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _read_toml(path: Path, warnings: list[str]) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        warnings.append(f"{path}: cannot read ({exc}); its settings left out")
        return {}


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0

"""Settings: where the database lives, and the TIMETRAVEL_* environment."""

from __future__ import annotations

import os
import tomllib
from dataclasses import replace
from pathlib import Path

from timetravel.domain.attribution import ManagerRules
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

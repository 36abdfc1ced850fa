"""The layout holds at run time too: what the command line loads, what each stage may import.

import-linter (pyproject.toml) checks the imports written in the code; these tests check
what importing really loads, in a fresh interpreter, and that no module escapes the
contracts by living outside the packages they name.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "timetravel"


def _loaded_after(imports: list[str]) -> set[str]:
    """The top-level names in ``sys.modules`` after importing ``imports`` in a new process."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {imports!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout))


def _modules(under: Path) -> list[str]:
    names = []
    for path in sorted(under.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_command_line_loads_no_screen_cluster_or_git_client() -> None:
    # `timetravel --help`, `export`, `record-run` in CI: none needs these, and each costs
    # a noticeable start-up (textual alone is ~150 ms).
    loaded = _loaded_after(["timetravel.cli"])
    assert not loaded & {"textual", "kubernetes", "git", "watchfiles"}, loaded


def test_headless_stages_load_no_textual() -> None:
    headless = [
        name
        for name in _modules(PACKAGE)
        if name.split(".")[1:2]
        and name.split(".")[1] in {"domain", "sources", "recorder", "store", "query", "export"}
    ]
    assert len(headless) > 30  # the walk found the packages
    loaded = _loaded_after(headless)
    assert "textual" not in loaded
    assert "timetravel" in loaded


def test_domain_loads_nothing_with_i_o() -> None:
    loaded = _loaded_after(_modules(PACKAGE / "domain"))
    assert not loaded & {"sqlite3", "sqlite_utils", "git", "kubernetes", "watchfiles"}, loaded


def _contracted() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    layers = next(
        c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"
    )
    return {name.strip() for layer in layers for name in layer.split("|")}


def test_every_module_is_inside_the_layers_contract() -> None:
    contracted = _contracted()
    outside = []
    for name in _modules(PACKAGE):
        if name in ("timetravel", "timetravel.__main__"):
            continue
        parts = name.split(".")
        if not any(".".join(parts[:n]) in contracted for n in range(2, len(parts) + 1)):
            outside.append(name)
    assert outside == [], f"modules no layer names (add them to pyproject's layers): {outside}"


def test_nothing_test_only_ships_in_the_package() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in {"tests", "pytest", "hypothesis", "bench"}, (path, name)

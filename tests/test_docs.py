"""Every command documents itself, and the README's CLI reference is current."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from timetravel.cli import cli

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ["ui", "demo", "record", "export", "record-run", "import-audit", "import-events"]


def test_the_design_contract_commands_exist() -> None:
    assert set(CONTRACT) <= set(cli.commands)


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_with_an_example(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"], prog_name="timetravel")
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert cli.commands[name].help and len(cli.commands[name].help.split()) > 8


def test_readme_cli_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/cli_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_rbac_only_reads() -> None:
    # list and watch on resources; get only on discovery's non-resource URLs (a get on
    # resources would authorize pods/exec, attach, portforward and nodes/proxy too).
    documents = list(yaml.safe_load_all((ROOT / "deploy/base/rbac.yaml").read_text()))
    role = next(d for d in documents if d["kind"] == "ClusterRole")
    resource_verbs = {v for rule in role["rules"] if "resources" in rule for v in rule["verbs"]}
    url_verbs = {v for rule in role["rules"] if "nonResourceURLs" in rule for v in rule["verbs"]}
    assert resource_verbs == {"list", "watch"}
    assert url_verbs == {"get"}


def test_documented_schema_is_the_contract_and_only_more() -> None:
    """docs/snapshot.schema.json is v1.1: the contract (../shared, v1) unchanged, plus
    optional fields. A v1 document stays valid; nothing v1 says is taken back."""
    import json

    import jsonschema

    from .conftest import SHARED

    if not (SHARED / "snapshot.schema.json").exists():
        pytest.skip(f"{SHARED} is not beside the checkout: nothing to compare the copy with")
    contract = json.loads((SHARED / "snapshot.schema.json").read_text())
    ours = json.loads((ROOT / "docs/snapshot.schema.json").read_text())
    assert ours["required"] == contract["required"]  # nothing newly required
    for name, definition in contract["$defs"].items():
        assert ours["$defs"][name] == definition, name
    for name, prop in contract["properties"].items():
        if name != "schema":
            assert ours["properties"][name] == prop, name
    assert contract["properties"]["schema"]["const"] in ours["properties"]["schema"]["enum"]
    assert "Changelog: v1.1" in ours["description"]
    v1 = {
        "schema": "timetravel.snapshot/v1",
        "at": "2026-11-19T21:30:00Z",
        "window": {"from": "2026-11-19T20:30:00Z", "to": "2026-11-19T22:30:00Z"},
        "clusters": [],
        "repos": [],
        "resources": [],
        "changes": [],
        "pipeline_runs": [],
        "commits": [],
    }
    jsonschema.validate(v1, contract)
    jsonschema.validate(v1, ours)


def test_architecture_names_every_package() -> None:
    text = (ROOT / "docs/ARCHITECTURE.md").read_text()
    packages = sorted(
        p.name for p in (ROOT / "timetravel").iterdir() if (p / "__init__.py").exists()
    )
    assert len(packages) >= 8
    missing = [name for name in packages if f"`{name}/`" not in text]
    assert missing == [], f"docs/ARCHITECTURE.md does not describe {missing}"


def test_contributing_sends_people_to_files_and_names_that_exist() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    paths = set(re.findall(r"`((?:timetravel|tests|scripts|docs)/[\w./-]*|\.ci/run)`", text))
    assert len(paths) > 20, paths
    assert sorted(p for p in paths if not (ROOT / p).exists()) == []
    # dotted names (timetravel.store.writer.RevisionWriter): a module, then its attributes
    missing = []
    for dotted in set(re.findall(r"`(timetravel(?:\.\w+)+)`", text)):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                found: object = importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
        for name in parts[cut:]:
            found = getattr(found, name, None)
        if found is None:
            missing.append(dotted)
    assert missing == []


def test_contributing_names_every_import_contract() -> None:
    text = " ".join((ROOT / "CONTRIBUTING.md").read_text().split())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = [c["name"] for c in pyproject["tool"]["importlinter"]["contracts"]]
    assert len(contracts) >= 7
    missing = [name for name in contracts if name.split(":")[0] not in text]
    assert missing == [], f"CONTRIBUTING.md does not describe {missing}"

"""Every command documents itself, and the README's CLI reference is current."""

from __future__ import annotations

import subprocess
import sys
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


def test_documented_schema_is_the_contract() -> None:
    from .conftest import SHARED

    if not (SHARED / "snapshot.schema.json").exists():
        pytest.skip(f"{SHARED} is not beside the checkout: nothing to compare the copy with")
    assert (ROOT / "docs/snapshot.schema.json").read_bytes() == (
        SHARED / "snapshot.schema.json"
    ).read_bytes()


def test_architecture_names_every_package() -> None:
    text = (ROOT / "docs/ARCHITECTURE.md").read_text()
    packages = sorted(
        p.name for p in (ROOT / "timetravel").iterdir() if (p / "__init__.py").exists()
    )
    assert len(packages) >= 8
    missing = [name for name in packages if f"`{name}/`" not in text]
    assert missing == [], f"docs/ARCHITECTURE.md does not describe {missing}"

"""The package installs this tool under a name of its own, and kubectl runs it as a plugin.

PyPI's `timetravel` is an unrelated calendar tool (2016), so the distribution is
`kube-timetravel`; the command stays `timetravel`, and `kubectl-timetravel` on PATH makes
`kubectl timetravel ...` work. These tests read the metadata the project's venv was
installed with (`pip install -e .`), and run the real kubectl where it is installed.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from timetravel import __version__

ROOT = Path(__file__).resolve().parent.parent
DIST = "kube-timetravel"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
KUBECTL = shutil.which("kubectl")


def dist_name(requirement: str) -> str:
    """A requirement's distribution name, normalized (PEP 503): `psycopg[binary]>=3` -> psycopg."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match[0]).lower()


def test_the_distribution_is_kube_timetravel_with_both_commands() -> None:
    assert PROJECT["name"] == DIST
    assert PROJECT["version"] == __version__
    assert PROJECT["scripts"] == {
        "timetravel": "timetravel.cli:main",
        "kubectl-timetravel": "timetravel.cli:main",
    }
    # what the venv was installed with says the same (reinstall after changing pyproject)
    installed = importlib.metadata.distribution(DIST)
    assert installed.version == __version__
    scripts = {e.name: e.value for e in installed.entry_points if e.group == "console_scripts"}
    assert scripts == PROJECT["scripts"]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: no plugin host to run")
def test_kubectl_runs_timetravel_as_a_plugin(tmp_path: Path) -> None:
    assert KUBECTL is not None
    # Only the venv's scripts and kubectl's own folder on PATH: the plugin kubectl finds is
    # this venv's, and no kubeconfig or cluster is needed to run it.
    path = os.pathsep.join([str(Path(sys.executable).parent), str(Path(KUBECTL).parent)])
    env = {"PATH": path, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "no-kubeconfig")}

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUBECTL, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    version = kubectl("timetravel", "--version")
    assert version.returncode == 0, version.stdout + version.stderr
    assert version.stdout.strip() == f"timetravel, version {__version__}"
    # the arguments reach the command as given
    helped = kubectl("timetravel", "export", "--help")
    assert helped.returncode == 0, helped.stdout + helped.stderr
    assert helped.stdout.startswith("Usage: timetravel export [OPTIONS]")
    listed = kubectl("plugin", "list")
    assert str(Path(sys.executable).parent / "kubectl-timetravel") in listed.stdout


def test_the_license_is_apache_2_as_a_pep_639_expression() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    # PEP 639: an SPDX expression and a License :: classifier together are an error
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    (setuptools,) = [r for r in PYPROJECT["build-system"]["requires"] if "setuptools" in r]
    floor = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert floor and int(floor[1]) >= 77, "license expressions need setuptools 77"
    assert importlib.metadata.metadata(DIST)["License-Expression"] == "Apache-2.0"


def test_the_changelog_names_this_version_first() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[([^\]]+)\]", text, flags=re.M)
    assert releases[:2] == ["Unreleased", __version__], releases


def _imported_top_level(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_every_library_the_package_imports_is_declared() -> None:
    # A library the code imports but pyproject does not name (urllib3 and rich were) is
    # there only while another dependency happens to pull it in, at whatever version.
    imported: set[str] = set()
    for path in (ROOT / "timetravel").rglob("*.py"):
        imported |= _imported_top_level(path)
    third_party = imported - set(sys.stdlib_module_names) - {"timetravel", "__future__"}
    declared = {
        dist_name(r)
        for r in [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["postgres"]]
    }
    providers = importlib.metadata.packages_distributions()
    undeclared = {
        module: providers.get(module)
        for module in sorted(third_party)
        if not {dist_name(d) for d in providers.get(module, [module])} & declared
    }
    assert undeclared == {}, f"imported by timetravel/ but not in pyproject: {undeclared}"
    assert {"rich", "urllib3"} <= third_party  # the check sees the imports it is about


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: no plugin host to run")
def test_the_issue_s_command_through_kubectl(tmp_path: Path) -> None:
    """`kubectl timetravel get deploy -n payments --at "thursday 21:30" -o yaml` on the demo,
    whose incident is the last Thursday at 21:24: the api as alice left it, 6 replicas."""
    from zoneinfo import ZoneInfo

    import yaml

    from timetravel.demo.build import build
    from timetravel.domain.timeparse import parse_time
    from timetravel.domain.times import utc_now

    assert KUBECTL is not None
    now = utc_now()
    demo = build(tmp_path / "demo", now=now, zone=ZoneInfo("UTC"))
    if parse_time("thursday 21:30", now=now, tz=ZoneInfo("UTC")) != demo.story.incident:
        pytest.skip("on a Thursday before 21:30 the phrase names another day than the demo's")
    path = os.pathsep.join([str(Path(sys.executable).parent), str(Path(KUBECTL).parent)])
    env = {"PATH": path, "HOME": str(tmp_path), "TZ": "UTC", "TIMETRAVEL_DB": str(demo.db_path)}
    done = subprocess.run(
        [
            KUBECTL,
            "timetravel",
            "get",
            "deploy",
            "-n",
            "payments",
            "--at",
            "thursday 21:30",
            "-o",
            "yaml",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    listed = yaml.safe_load(done.stdout)
    assert listed["kind"] == "List"
    api = next(o for o in listed["items"] if o["metadata"]["name"] == "api")
    assert api["kind"] == "Deployment" and api["spec"]["replicas"] == 6

"""The suite against the lowest release of every direct dependency that pyproject allows.

A `>=` bound in pyproject.toml is a promise that the code works with that release; nothing
else checks it (every other venv resolves to the newest releases). This script keeps the
promise honest: it makes a throwaway venv in a temporary directory, writes a constraints
file that pins every direct dependency to its declared lower bound (the runtime ones, the
`postgres` extra, the libraries of the `test` extra, and the build backend), installs the
checkout with it, checks that the pins are what got installed, and runs a representative,
fast part of the suite there. Any failure (a bound that cannot be installed, a conflict
between two bounds, a failing test) exits non-zero, and `scripts/gate.py` fails with it.

Run it with any Python >= 3.11 that has `packaging` (the project's venv does); the venv it
makes has that Python (the gate's is 3.11, the floor of requires-python):

    .venv/bin/python scripts/lowest.py            # what the gate runs
    .venv/bin/python scripts/lowest.py --venv /tmp/tt-lowest -- -k store   # keep the venv

Arguments after `--` go to pytest. The venv is made afresh on every run (nothing cached:
a cached install could hide a bound that no longer installs); --venv keeps it for a rerun.

Measured on the two-core machine CI runs on, with an empty HOME (no pip cache) as CI runs
it: ~3 min 20 s of CPU; 3 min 17 s to 4 min 30 s of wall time (the install 41-64 s, the
~335 tests 97-206 s), the longer runs while another job's test suite shared the two cores.
The tests are chosen to cover each dependency at least once; the heaviest are the Pilot key
tests (~70 s of CPU) and the recorder against the API double (~25 s on SQLite alone).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent

# The gate's own tools read the code; neither the code nor the tests import them, and the
# gate runs them from the project's venv. Their lower bounds say which release understands
# the configuration in pyproject.toml, which this run cannot check, so they stay out of it.
GATE_TOOLS = frozenset({"mypy", "ruff", "import-linter", "types-pyyaml"})

# One file or more for each dependency (which ones, beside each):
TESTS = [
    # sqlite-utils, zstandard, orjson; psycopg on the PostgreSQL half (the fixtures start
    # a server where its binaries exist; TIMETRAVEL_REQUIRE_POSTGRES=1 makes a missing one
    # fail, as in CI)
    "tests/test_store.py",
    "tests/test_segments.py",
    "tests/test_store_engines.py",
    # kubernetes, urllib3: the recorder over the real client against the API double (its
    # SQLite half, see SELECT; the writer on PostgreSQL is test_store_engines.py's)
    "tests/test_recorder.py",
    # gitpython, watchfiles: backfill and live ref watching on real repositories
    "tests/test_git_desired.py",
    "tests/test_git_follow.py",
    # pyyaml, jsonschema, hypothesis: every export format, the snapshot schema
    "tests/test_export_formats.py",
    "tests/test_export_schema.py",
    # prometheus-client, psutil: /metrics and the health endpoints
    "tests/test_health.py",
    # click: every command's help; hypothesis on the time parser
    "tests/test_docs.py",
    "tests/test_timeparse.py",
    # textual, rich: the screen driven by keys through the Pilot
    "tests/tui/test_bindings.py",
    "tests/tui/test_screen_data.py",
    # textual, rich, pytest-textual-snapshot: the SVG baselines are not run here any more.
    # textual 7.3 drew the first 8 as 8.2 does; the help (issue 22) and the : prompt
    # (issue 25) it draws otherwise: its tables and the command palette's list take other
    # widths, the same rows and words. That is cosmetic, not a reason to raise textual's
    # bound: the screens' content at 7.3 is checked by test_bindings and test_screen_data.
    # (pytest-textual-snapshot's bound, 1.1.0, stays: 1.0 compared rich's random per-export
    # id, which the baselines are stored without.)
]

# The recorder's tests run on both engines; the PostgreSQL half repeats what the SQLite
# half checks of the kubernetes client (and ~25 s of CPU), so it stays in the main run.
SELECT = "not (test_recorder and postgresql)"

# Left out, each with its reason.
DESELECT = {
    # The README's CLI reference is written with the newest click, and an older click
    # writes some lines of it differently (8.3.1: `Usage: timetravel [OPTIONS] COMMAND`
    # where 8.5 writes `[COMMAND]` for a group that runs without one). Every command's help
    # is still checked by the rest of tests/test_docs.py.
    "tests/test_docs.py::test_readme_cli_reference_is_current",
}


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def direct_requirements(project: dict[str, Any]) -> tuple[list[Requirement], list[Requirement]]:
    """What the package needs (its dependencies and the postgres extra) and what the tests
    need (the test extra less the gate's tools), as pyproject declares them."""
    meta = project["project"]
    extras = meta.get("optional-dependencies", {})
    runtime = [Requirement(r) for r in [*meta["dependencies"], *extras.get("postgres", [])]]
    tests = [Requirement(r) for r in extras.get("test", [])]
    tests = [r for r in tests if canonicalize_name(r.name) not in GATE_TOOLS]
    return runtime, tests


def lower_bound(requirement: Requirement) -> str:
    """The version a requirement's `>=` names. A direct dependency without one is an error:
    any release would do, and there would be nothing to test."""
    floors = [s.version for s in requirement.specifier if s.operator in {">=", "=="}]
    if len(floors) != 1:
        sys.exit(f"lowest: {requirement} declares no single lower bound (>=): give it one")
    return floors[0]


def pins(requirements: Iterable[Requirement]) -> dict[str, str]:
    """Every requirement's name -> its lower bound (one bound per name)."""
    found: dict[str, str] = {}
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        version = lower_bound(requirement)
        if found.setdefault(name, version) != version:
            sys.exit(f"lowest: {name} has two lower bounds ({found[name]}, {version})")
    return found


def run(argv: list[str | Path]) -> None:
    """Run a command in the checkout; its failure is this script's, with its exit status."""
    print("lowest: $", " ".join(str(a) for a in argv), flush=True)
    result = subprocess.run([str(a) for a in argv], cwd=ROOT, check=False)
    if result.returncode != 0:
        print(f"lowest: FAILED (exit {result.returncode})", flush=True)
        sys.exit(result.returncode)


def installed_versions(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json; "
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True)
    return {canonicalize_name(k): v for k, v in json.loads(out.stdout).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--venv", type=Path, help="make (or reuse) the venv here and keep it")
    parser.add_argument("pytest_args", nargs="*", help="after --: more arguments for pytest")
    args = parser.parse_args()

    project = pyproject()
    runtime, tests = direct_requirements(project)
    build = [Requirement(r) for r in project["build-system"]["requires"]]
    lowest = pins([*build, *runtime, *tests])
    started = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="tt-lowest-") as scratch:
        venv = args.venv or Path(scratch) / "venv"
        python = venv / "bin" / "python"
        constraints = Path(scratch) / "constraints.txt"
        constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(lowest.items())))
        print("lowest: every direct dependency at its declared lower bound:")
        print(constraints.read_text(), flush=True)

        # --no-compile: nothing here is imported twice; compiling every package cost ~20 s.
        pip = [python, "-m", "pip", "--disable-pip-version-check", "--quiet"]
        install = [*pip, "install", "--no-compile", "-c", constraints]
        if not python.exists():
            run([sys.executable, "-m", "venv", venv])
            # The newest pip is the installer, not something under test: the pip a venv
            # starts with (23.2 on Python 3.11.7) took 71 s for what 26.x installs in 26 s.
            run([*pip, "install", "--no-compile", "--upgrade", "pip"])
        # The build backend at its lowest too, so the checkout builds with it (no isolated
        # build env with the newest setuptools).
        run([*install, *(str(r) for r in build)])
        run([*install, "--no-build-isolation", "-e", ".[postgres]", *(str(r) for r in tests)])
        run([*pip, "check"])
        have = installed_versions(python)
        wrong = {
            n: (v, have.get(n))
            for n, v in lowest.items()
            if Version(have.get(n, "0")) != Version(v)
        }
        if wrong:
            sys.exit(f"lowest: installed (pinned, found): {wrong}")
        installed = time.monotonic()
        print(f"lowest: installed in {installed - started:.0f}s", flush=True)

        workers = os.environ.get("TIMETRAVEL_TEST_WORKERS", "2")
        deselect = [a for node in sorted(DESELECT) for a in ("--deselect", node)]
        quiet = ["-q", "-x", "-p", "no:cacheprovider", "-m", "not slow", "-n", workers]
        chosen = ["-k", SELECT, *deselect, *TESTS]
        run([python, "-m", "pytest", *quiet, *chosen, *args.pytest_args])
    print(
        f"lowest: ok (install {installed - started:.0f}s, "
        f"tests {time.monotonic() - installed:.0f}s)",
        flush=True,
    )


if __name__ == "__main__":
    main()

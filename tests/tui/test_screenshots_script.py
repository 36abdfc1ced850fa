"""scripts/screenshots.py runs, and the committed screenshots/ are what it makes now."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_screenshots_are_current(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "screenshots", ROOT / "scripts" / "screenshots.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    written = module.main(tmp_path)
    names = {path.name for path in written}
    assert {"overview.svg", "drift-diff.svg", "cause-pipeline.svg", "manual-edit.svg"} <= names
    for path in written:
        committed = ROOT / "screenshots" / path.name
        assert committed.exists(), f"{committed} missing: run scripts/screenshots.py"
        assert committed.read_text() == path.read_text(), (
            f"{committed.name} is stale: run .venv/bin/python scripts/screenshots.py"
        )


def test_the_script_runs_as_the_docstring_says(tmp_path: Path) -> None:
    # As a script its own folder, not the repository, is first on the path.
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshots.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "overview.svg").read_text() == (
        ROOT / "screenshots/overview.svg"
    ).read_text()

"""A real headless browser for the report tests: Debian's chromium, driven by playwright.

The test setup installs it: :func:`chromium` finds ``/usr/bin/chromium``, else, as root with
apt-get, installs Debian's ``chromium`` (and ``poppler-utils``, whose ``pdftotext`` reads the
printed PDF back) with ``apt-get install --no-install-recommends``, running ``apt-get
update`` first when the package lists do not know it. Where it cannot (not root, no apt, no
network), the browser tests skip and say why; with ``TIMETRAVEL_REQUIRE_BROWSER=1`` (CI) they
fail instead. Playwright's own browser download (``playwright install``) is never used: it
fetches from a CDN, and the distribution's build is the one a reader of the report runs.

Chromium is started as this machine is known to need it: headless, no sandbox (tests run as
root in CI), and without its background connections (update checks, sync, QUIC), each of
which a closed network refuses, so that every request the page makes is the report's own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

REQUIRE = os.environ.get("TIMETRAVEL_REQUIRE_BROWSER") == "1"
CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
PACKAGES = ("chromium", "poppler-utils")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCK = Path("/tmp/timetravel-test-chromium.lock")  # two xdist workers, one apt at a time


def unavailable(reason: str) -> NoReturn:
    """Skip, saying why; or, where the browser is required (CI), fail."""
    if REQUIRE:
        pytest.fail(f"TIMETRAVEL_REQUIRE_BROWSER=1: {reason}", pytrace=False)
    pytest.skip(reason)


def _found() -> str | None:
    return next((c for c in CANDIDATES if os.access(c, os.X_OK)), None)


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        ["apt-get", *args], capture_output=True, text=True, env=env, timeout=900, check=False
    )


def _install() -> str:
    """Install Debian's chromium (and poppler-utils); '' when it worked, else why not."""
    install = ("install", "-y", "-q", "--no-install-recommends", *PACKAGES)
    done = _apt(*install)
    if done.returncode != 0:
        update = _apt("update", "-q")
        if update.returncode != 0:
            return f"apt-get update failed: {update.stderr.strip()[-300:]}"
        done = _apt(*install)
    if done.returncode != 0:
        return f"apt-get install {' '.join(PACKAGES)} failed: {done.stderr.strip()[-300:]}"
    return ""


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def chromium() -> str:
    """The path of a chromium to drive, installed here if need be (see the module)."""
    found = _found()
    if found is None:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            unavailable(
                "no chromium at /usr/bin/chromium, and the tests can install it only as root "
                "with apt-get (apt-get install chromium)"
            )
        with _locked():
            found = _found()
            if found is None:
                why = _install()
                found = _found()
                if found is None:
                    unavailable(
                        why or "apt-get installed chromium, yet /usr/bin/chromium is absent"
                    )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[test]')")
    assert found is not None
    return found

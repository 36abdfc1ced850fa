"""The HTML report where people read it: in a real browser, on screen and printed.

The demo's incident report is opened from a file in headless chromium (``tests/browser.py``
installs it): the page logs no error, asks the network for nothing (every request is
recorded, and any but the file itself is refused), draws its SVG timeline at a visible size,
prints to a PDF whose text reads back, and leaves a screenshot in ``screenshots/report.png``
to look at after a change of layout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser import ARGS
from tests.conftest import ROOT
from timetravel.demo.build import build
from timetravel.export import write_export
from timetravel.query.moment import build_snapshot
from timetravel.store.db import open_database

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
INCIDENT = datetime(2026, 11, 19, 21, 30, tzinfo=UTC)
SCREENSHOT = ROOT / "screenshots" / "report.png"
VIEWPORT = {"width": 1280, "height": 900}


@dataclass
class Visit:
    """What the browser did with the report."""

    url: str
    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)  # errors and warnings
    page_errors: list[str] = field(default_factory=list)
    timeline: dict[str, Any] | None = None  # the SVG's box, once scrolled into view
    viewport: dict[str, int] = field(default_factory=dict)
    title: str = ""
    pdf: bytes = b""
    png: bytes = b""
    seconds: float = 0.0


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's incident report as a file, the way `export -o html` writes it."""
    demo = build(tmp_path_factory.mktemp("demo") / "demo", now=NOW, zone=ZoneInfo("UTC"))
    db = open_database(demo.db_path, readonly=True)
    try:
        snapshot = build_snapshot(db, INCIDENT, window=timedelta(hours=1), generated_at=NOW)
    finally:
        db.conn.close()
    target = tmp_path_factory.mktemp("report") / "report.html"
    target.write_bytes(write_export(snapshot, "html", tz=UTC))
    return target


@pytest.fixture(scope="module")
def visit(chromium: str, report: Path, tmp_path_factory: pytest.TempPathFactory) -> Visit:
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    seen = Visit(url=report.as_uri())
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=ARGS,
            viewport=VIEWPORT,
            color_scheme="light",
            offline=True,
        )
        try:

            def route(r: Any) -> None:
                if r.request.url == seen.url:
                    r.continue_()
                else:
                    seen.refused.append(r.request.url)
                    r.abort()

            browser.route("**/*", route)
            page = browser.new_page()
            page.on("request", lambda request: seen.requests.append(request.url))
            page.on(
                "console",
                lambda m: (
                    seen.console.append(f"{m.type}: {m.text}")
                    if m.type in ("error", "warning")
                    else None
                ),
            )
            page.on("pageerror", lambda e: seen.page_errors.append(str(e)))
            page.goto(seen.url, wait_until="load")
            page.wait_for_load_state("networkidle")
            seen.title = page.title()
            svg = page.locator("svg.timeline")
            svg.scroll_into_view_if_needed()
            seen.timeline = svg.bounding_box()
            seen.viewport = page.viewport_size or {}
            page.evaluate("window.scrollTo(0, 0)")
            # the top of the report down to the drawn timeline and its legend
            bottom = page.evaluate(
                "document.querySelector('#timeline figure').getBoundingClientRect().bottom"
            )
            seen.png = page.screenshot(
                full_page=True,
                clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": int(bottom) + 16},
            )
            page.emulate_media(media="print")
            seen.pdf = page.pdf(format="A4", print_background=True)
        finally:
            browser.close()
    seen.seconds = time.monotonic() - started
    return seen


# One test over one visit: under xdist (`-n 2`) tests of a module may go to both workers,
# and each would start its own browser. Each check below says which it is when it fails.


def test_the_report_in_a_real_browser(visit: Visit, tmp_path: Path) -> None:
    # it loads, and says nothing on the console
    assert visit.title.startswith("Incident snapshot: prod-eu1 at "), visit.title
    assert visit.page_errors == [], "errors on the page"
    assert visit.console == [], "console errors or warnings"

    # it asks the network for nothing: only the file itself, no font, stylesheet, script,
    # image or favicon from anywhere
    assert visit.requests == [visit.url], visit.requests
    assert visit.refused == [], visit.refused

    # the SVG timeline is drawn, and once scrolled to, lies within the window
    box = visit.timeline
    assert box is not None, "the SVG timeline is not rendered"
    assert box["width"] > 600 and box["height"] > 60, box  # lanes for the incident's changes
    assert box["x"] >= 0 and box["x"] + box["width"] <= visit.viewport["width"], box
    assert 0 <= box["y"] < visit.viewport["height"], box

    # a PNG of the top of the report, to look at after a change of layout
    png = visit.png
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width == VIEWPORT["width"] and 600 < height < 3000, (width, height)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.write_bytes(png)

    # it prints: a PDF of a few pages (the incident's, not a blank or runaway print) ...
    pdf = visit.pdf
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert 1 <= pages <= 12, pages
    # ... whose text reads back
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        # the PDF's text is in compressed streams of glyph ids: only a PDF reader reads it
        warnings.warn(
            "not checked: the PDF's text (no pdftotext; apt-get install poppler-utils)",
            stacklevel=1,
        )
    else:
        printed = tmp_path / "report.pdf"
        printed.write_bytes(pdf)
        text = subprocess.run(
            [pdftotext, "-layout", str(printed), "-"], capture_output=True, text=True, check=True
        ).stdout
        text = " ".join(text.split())  # lines wrap where the page does
        for words in (
            "Incident snapshot: prod-eu1",
            "Summary",
            "Timeline",
            "payments/Deployment/api",
            "Affected resources",
            "Secret values never appear",
        ):
            assert words in text, f"the printed PDF lacks {words!r}"

    # launch, load, screenshot and print took 3-8 s here; a minute means something hangs
    assert visit.seconds < 60, visit.seconds

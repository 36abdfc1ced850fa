"""Screen: keypress to repaint on the 10,000-resource store, driven headless with Pilot.

- ``screen.keypress``: ``await pilot.press(key)`` then ``await pilot.pause()``, p95 over a
  scrubbing sequence (next/previous change, steps, the resource list, zoom) pressed 50 ms
  apart. Target p95 <= 50 ms. Note what Pilot waits for: ``press`` and ``pause`` each end
  with ``wait_for_idle``, which returns once the *process* stops using CPU (or after 1 s),
  so this includes the store reads the key started in thread workers, each wait capped
  at 1 s.
- ``screen.key_to_frame``: the key sent to the first frame the compositor renders after it
  (``App._display`` observed), p95 over the same presses: the repaint a person sees (the
  cursor and header move at once; the data for the new moment lands later).
- ``screen.keypress_to_data``: press until every load the key started has landed
  (``app.settled``), the time until the screen shows the new moment's data. No target in
  the issue; reported so the repaint figure is not read as more than it is.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, Context, Figure, fmt_ms, p50_p95, percentile
from bench.datasets import state_store

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")

KEYS = (
    "right",
    "right",
    "left",
    "down",
    "down",
    "up",
    "shift+right",
    "shift+left",
    "right",
    "left",
    "minus",
    "plus",
)


def sizes(quick: bool) -> dict[str, Any]:
    if quick:
        return {"presses": 8, "data": 1, "settle_timeout": 30.0}
    return {"presses": 40, "data": 3, "settle_timeout": 120.0}


def screen_store(ctx: Context) -> Path:
    """The desired benchmark's store (state + git) when it ran, else the state store alone."""
    path = ctx.shared.get("desired_db")
    if path is not None and Path(path).exists():
        return Path(path)
    return state_store(ctx).path


async def _settle(pilot: Any, timeout: float) -> bool:
    app = pilot.app
    deadline = time.perf_counter() + timeout
    quiet = 0
    while time.perf_counter() < deadline:
        await pilot.pause(0.01)
        quiet = quiet + 1 if app.settled else 0
        if quiet >= 3:
            await pilot.pause()
            return True
    return False


def drive(db: Path, now: datetime, presses: int, data: int, timeout: float, out: Path) -> None:
    """Run the app headless on ``db``, time key presses, write the results to ``out`` and
    leave the process at once (in the driver subprocess): a store read still running in a
    worker thread would otherwise hold the exit for as long as it takes."""
    from timetravel.screen_data import ScreenData
    from timetravel.tui.app import TimetravelApp

    at = now - timedelta(hours=1)
    app = TimetravelApp(ScreenData(db, now=now), at=at, now=now, tz=UTC, export_dir=db.parent)
    result: dict[str, Any] = {"repaint": [], "to_frame": [], "to_data": []}

    async def scenario() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            t = time.perf_counter()
            result["initial_settled"] = await _settle(pilot, timeout)
            result["initial_s"] = time.perf_counter() - t
            result["rows"] = len(app.resources.rows) if app.resources else 0
            frames: list[float] = []
            display = app._display

            def observed(screen: Any, renderable: Any) -> None:
                if renderable is not None:
                    frames.append(time.perf_counter())
                display(screen, renderable)

            app._display = observed  # type: ignore[method-assign]
            for i in range(presses):
                key = KEYS[i % len(KEYS)]
                t = time.perf_counter()
                await pilot.press(key)
                await pilot.pause()
                result["repaint"].append(time.perf_counter() - t)
                first = next((f for f in frames if f >= t), None)
                if first is not None:
                    result["to_frame"].append(first - t)
                frames.clear()
                await asyncio.sleep(0.05)
            app._display = display  # type: ignore[method-assign]
            for i in range(data if result["initial_settled"] else 0):
                if not await _settle(pilot, timeout):
                    break
                t = time.perf_counter()
                await pilot.press("right" if i % 2 == 0 else "left")
                if not await _settle(pilot, timeout):
                    result["data_timeout"] = True
                    break
                result["to_data"].append(time.perf_counter() - t)
            out.write_text(json.dumps(result))
            sys.stdout.flush()
            os._exit(0)

    asyncio.run(scenario())


def run(ctx: Context) -> list[Figure]:
    n = sizes(ctx.quick)
    store = state_store(ctx)
    db_path = screen_store(ctx)
    copy = ctx.out / "screen.db"
    for suffix in ("", "-wal", "-shm"):
        copy.with_name(copy.name + suffix).unlink(missing_ok=True)
    shutil.copyfile(db_path, copy)  # the app may write (exports); never the cached store
    now = store.end.astimezone(UTC)
    out = ctx.out / "screen-result.json"
    out.unlink(missing_ok=True)
    ctx.log(f"screen: driving the app on {db_path.name} (in a subprocess)")
    args = [
        PYTHON,
        "-m",
        "bench.screen",
        str(copy),
        now.isoformat(),
        str(n["presses"]),
        str(n["data"]),
        str(n["settle_timeout"]),
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TEXTUAL_ANIMATIONS": "none"}
    budget = n["settle_timeout"] * (2 + n["data"] * 2) + n["presses"] * 5 + 60
    try:
        proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=budget)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the screen driver did not finish in {budget:.0f} s") from None
    if not out.exists():
        raise RuntimeError(
            f"the screen driver failed ({proc.returncode}): "
            + proc.stderr.decode(errors="replace")[-1500:]
        )
    result = json.loads(out.read_text())
    repaint, to_frame, to_data = result["repaint"], result["to_frame"], result["to_data"]
    p50, p95 = p50_p95(repaint)
    initial = f"first load {result['initial_s']:.1f} s" + (
        "" if result["initial_settled"] else " (still loading: timed out)"
    )
    figures = [
        Figure(
            "screen.keypress",
            f"p50 {fmt_ms(p50)} p95 {fmt_ms(p95)}",
            "p95 <= 50 ms",
            p95 <= 50,
            f"press -> pause, {len(repaint)} presses 50 ms apart; {result.get('rows', 0):,} "
            f"resources listed; {initial}",
            value=p95,
            extra={"p50_ms": p50, "p95_ms": p95, "initial_s": result["initial_s"]},
        )
    ]
    f50, f95 = p50_p95(to_frame)
    figures.append(
        Figure(
            "screen.key_to_frame",
            f"p50 {fmt_ms(f50)} p95 {fmt_ms(f95)}",
            "p95 <= 50 ms",
            f95 <= 50 if to_frame else None,
            f"key sent -> first frame rendered; {len(to_frame)} of {len(repaint)} presses "
            "repainted before the next press",
            value=f95,
            extra={"p50_ms": f50, "p95_ms": f95},
        )
    )
    if to_data:
        figures.append(
            Figure(
                "screen.keypress_to_data",
                f"median {fmt_ms(percentile(to_data, 50) * 1000)}",
                "",
                None,
                f"press -> every load landed (app.settled), {len(to_data)} presses, max "
                f"{fmt_ms(max(to_data) * 1000)}",
                value=percentile(to_data, 50) * 1000,
            )
        )
    else:
        figures.append(
            Figure(
                "screen.keypress_to_data",
                f"> {n['settle_timeout']:.0f} s",
                "",
                None,
                (
                    f"the loads the scrubbing started had not all landed {n['settle_timeout']:.0f}"
                    " s after it (superseded thread workers keep running)"
                    if result["initial_settled"]
                    else "no load landed in time: " + initial
                ),
            )
        )
    return figures


if __name__ == "__main__":
    db_arg, now_arg, presses_arg, data_arg, timeout_arg, out_arg = sys.argv[1:7]
    drive(
        Path(db_arg),
        datetime.fromisoformat(now_arg),
        int(presses_arg),
        int(data_arg),
        float(timeout_arg),
        Path(out_arg),
    )

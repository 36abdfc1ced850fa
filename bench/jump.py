"""The jump box's suggestions (``g``): a typed key -> the suggestions for it.

- ``jump.suggest``: ``JumpIndex.suggest`` for each prefix a user types on the way to a
  name ("w" .. "worker-0", a kind-qualified "po/worker-01", a miss), over 10,000 keys
  (100,000 under ``--scale 100k``) in 40 namespaces; p50 and p95 over every typed text,
  five rounds. The screen asks for suggestions on the event loop, so a key must stay
  well inside a frame budget. Target p95 <= 50 ms at 10,000 keys (the 100,000 figure has
  no target: it shows how the cost grows).
"""

from __future__ import annotations

import time

from bench.common import Context, Figure, fmt_ms, p50_p95
from timetravel.domain.model import ResourceKey
from timetravel.tui.jump import JumpIndex

TYPED = ("w", "wo", "wor", "work", "worker-0", "worker-01", "po/worker-01", "zzz")
TARGET_MS = 50.0
SCALES = {"10k": 10_000, "100k": 100_000}


def run(ctx: Context) -> list[Figure]:
    count = 1_000 if ctx.quick else SCALES[ctx.shared.get("scale", "10k")]
    keys = [
        ResourceKey("prod", "", "Pod", f"ns-{i % 40}", f"worker-{i:06d}-abcdef")
        for i in range(count)
    ]
    index = JumpIndex(keys)
    samples: list[float] = []
    for _ in range(5):
        for typed in TYPED:
            started = time.perf_counter()
            index.suggest(typed)
            samples.append(time.perf_counter() - started)
    p50, p95 = p50_p95(samples)
    judged = count == 10_000 and not ctx.quick
    return [
        Figure(
            "jump.suggest",
            f"p50 {fmt_ms(p50)}, p95 {fmt_ms(p95)}",
            f"<= {TARGET_MS:.0f} ms" if judged else "",
            (p95 <= TARGET_MS) if judged else None,
            f"{count:,} keys, {len(samples)} typed texts",
            value=p95,
        )
    ]

"""``timetravel drift`` printed: one line per drift interval, from the JSON form."""

from __future__ import annotations

from typing import Any

from timetravel.domain.printable import printable

_COLUMNS = ("RESOURCE", "OPENED", "BY", "CLOSED", "HOW", "LASTED")


def lasted_text(seconds: float | None) -> str:
    """How long a drift lasted, as `1d2h5m`; `still open` when it has not closed."""
    if seconds is None:
        return "still open"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    text = "".join(parts)
    return text + (f"{secs}s" if secs or not text else "")


def drift_text(data: dict[str, Any]) -> str:
    rows = []
    for d in data["drifts"]:
        resource = f"{d['namespace'] or '-'}/{d['kind']}/{d['name']}"
        by = " ".join(x for x in (d["opened_cause"], d["opened_by"]) if x) or "-"
        rows.append(
            [
                resource,
                d["opened_at"],
                by,
                d["closed_at"] or "-",
                d["closed_how"] or "-",
                lasted_text(d["lasted_seconds"]),
            ]
        )
    if not rows:
        return f"no drift between {printable(data['since'])} and {printable(data['until'])}\n"
    table = [list(_COLUMNS), *[[printable(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(_COLUMNS))]
    return (
        "\n".join(
            "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table
        )
        + "\n"
    )

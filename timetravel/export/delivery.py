"""The delivery report (``timetravel report``) as Markdown and HTML, from its JSON form.

A function of the figures' JSON (``query.delivery.DeliveryFigures.to_json``), as the
incident report is of the snapshot: the same data gives the same bytes. Every figure is
followed by the deployments it counts, so a reader can check it.
"""

from __future__ import annotations

from typing import Any

from timetravel.export import html as h
from timetravel.export import markdown as md

TITLE = "Delivery figures"
DEFINITIONS = "https://dora.dev/guides/dora-metrics-four-keys/"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest:02d} min" if rest else f"{hours} h"
    return f"{hours / 24:.1f} days"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}%"


def _workload(d: dict[str, Any]) -> str:
    w = d["workload"]
    return f"{w['namespace'] or '-'}/{w['kind']}/{w['name']}"


def summary_lines(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, value, what it counts) for each of the four keys."""
    freq = data["deployment_frequency"]
    lead = data["lead_time_for_changes"]
    cfr = data["change_failure_rate"]
    rec = data["failed_deployment_recovery_time"]
    return [
        (
            "Deployment frequency",
            f"{freq['per_day']:.2f} per day",
            f"{freq['deployments']} deployments in {data['days']:g} days",
        ),
        (
            "Lead time for changes",
            f"median {_duration(lead['median_seconds'])}, p90 {_duration(lead['p90_seconds'])}",
            f"{lead['counted']} deployments with a commit time"
            + (f"; {lead['without_commit_time']} without" if lead["without_commit_time"] else ""),
        ),
        (
            "Change failure rate",
            _rate(cfr["rate"]),
            f"{cfr['failed']} of {cfr['deployments']} deployments failed",
        ),
        (
            "Failed deployment recovery time",
            f"median {_duration(rec['median_seconds'])}, p90 {_duration(rec['p90_seconds'])}",
            f"{rec['counted']} recovered failures",
        ),
    ]


def _rows(data: dict[str, Any]) -> list[list[str]]:
    rows = []
    for d in [*data["deployments"], *data["rollbacks"]]:
        rows.append(
            [
                d["at"],
                _workload(d),
                d["image"] or d["digest"],
                "rollback" if d["rollback"] else (d["commit"] or "")[:12],
                # A rollback ships no new change: its lead time is not counted, nor shown.
                _duration(d["lead_time_seconds"])
                if d["lead_time_seconds"] is not None and not d["rollback"]
                else "",
                "; ".join(d["failed_by"]),
                _duration(d["recovery_time_seconds"])
                if d["recovery_time_seconds"] is not None
                else "",
            ]
        )
    rows.sort(key=lambda r: r[0])
    return rows


def _markdown_cells(row: list[str]) -> list[str]:
    """The image and a commit as code, the rest as text ("rollback" is a word, not a SHA)."""
    cells = [md.text(c) for c in row]
    if row[2]:
        cells[2] = md.code(row[2])
    if row[3] and row[3] != "rollback":
        cells[3] = md.code(row[3])
    return cells


_COLUMNS = ("time", "workload", "image", "commit", "lead time", "failed by", "recovered in")


def delivery_markdown(data: dict[str, Any]) -> str:
    window = f"{data['since']} to {data['until']}"
    lines = [
        f"# {TITLE}",
        "",
        f"From {md.text(window)}. Definitions: [DORA's four keys]({DEFINITIONS}).",
        "",
    ]
    lines += md.header("figure", "value", "counts")
    lines += [md.row(md.text(a), md.text(b), md.text(c)) for a, b, c in summary_lines(data)]
    lines += ["", "## Deployments", ""]
    rows = _rows(data)
    if not rows:
        lines.append("No deployment in the window.")
    else:
        lines += md.header(*_COLUMNS)
        lines += [md.row(*_markdown_cells(r)) for r in rows]
    return "\n".join(lines) + "\n"


def delivery_html(data: dict[str, Any]) -> str:
    window = f"{data['since']} to {data['until']}"
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{h.esc(TITLE)}</title>",
        f"<style>{h.stylesheet()}</style></head><body><main>",
        f"<h1>{h.esc(TITLE)}</h1>",
        f"<p>From {h.esc(window)}. Definitions: {h.link('DORA’s four keys', DEFINITIONS)}.</p>",
        "<table><thead><tr><th>figure</th><th>value</th><th>counts</th></tr></thead><tbody>",
    ]
    out += [
        f"<tr><td>{h.esc(a)}</td><td><strong>{h.esc(b)}</strong></td><td>{h.esc(c)}</td></tr>"
        for a, b, c in summary_lines(data)
    ]
    out += ["</tbody></table>", "<h2>Deployments</h2>"]
    rows = _rows(data)
    if not rows:
        out.append("<p>No deployment in the window.</p>")
    else:
        out.append(
            "<table><thead><tr>"
            + "".join(f"<th>{h.esc(c)}</th>" for c in _COLUMNS)
            + "</tr></thead><tbody>"
        )
        out += ["<tr>" + "".join(f"<td>{h.esc(c)}</td>" for c in r) + "</tr>" for r in rows]
        out.append("</tbody></table>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"

"""What a workload really ran: the chain of each running digest in the cause panel, and
its artifact history (``p``: which digests ran when, and who built them).

Image references, commit subjects, authors, run ids and URLs are recorded text (from the
cluster and from CI): each piece is made printable before it joins a
:class:`~rich.text.Text`, never read as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from timetravel.domain.builds import Build
from timetravel.domain.printable import printable
from timetravel.domain.times import from_stored
from timetravel.query.chain import NODE_LOCAL, ArtifactChain
from timetravel.query.workload_artifacts import ArtifactHistory, WorkloadArtifacts
from timetravel.tui.literal import literal

# Digests whose whole chain the cause panel shows; the others are counted (p lists them).
CHAINS_SHOWN = 2
UNKNOWN_GLYPH = "⚠"  # a digest no recorded build produced (the list, the panel, p)
RUNNING_GLYPH = "⬢"


def short_digest(digest: str) -> str:
    """``sha256:3f2a9c1d…`` as its first 12 hex digits (what registries' UIs show)."""
    return digest.partition(":")[2][:12] or digest[:12]


def short_image(image: str) -> str:
    """An image reference without its registry host (``payments/api:2.3.0``)."""
    first, slash, rest = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost") and "/" in rest:
        return rest
    return image


def _subject(build: Build) -> str:
    return (build.commit_subject or "").strip().splitlines()[0] if build.commit_subject else ""


def _author(build: Build) -> str:
    return (build.commit_author or "").split(" <", 1)[0]


def _repo_name(url: str | None) -> str:
    """``https://github.com/acme/shop.git`` as ``acme/shop``."""
    if not url:
        return "?"
    parts = url.rstrip("/").removesuffix(".git").split("/")
    return "/".join(parts[-2:])


def chain_lines(
    text: Text,
    found: WorkloadArtifacts,
    *,
    time: Callable[[str], str],
    fit: Callable[[str, int], str],
    warn: Style,
) -> None:
    """The chain of each digest the row runs, a few lines each: the digest and image, the
    build (provider, run, time), the source commit (repo, sha, subject, author), the
    config commit and the run or sync that deployed it, and when it first ran."""
    chains = found.chains
    for chain in chains[:CHAINS_SHOWN]:
        _chain(text, chain, time=time, fit=fit, warn=warn)
    if len(chains) > CHAINS_SHOWN:
        more = len(chains) - CHAINS_SHOWN
        text.append(f"  … {more} more running digest{'s' if more > 1 else ''} (p)\n", "dim")


def _chain(
    text: Text,
    chain: ArtifactChain,
    *,
    time: Callable[[str], str],
    fit: Callable[[str, int], str],
    warn: Style,
) -> None:
    unknown = chain.unknown_provenance
    image = short_image(chain.images[0]) if chain.images else chain.repository or "?"
    head = f"{printable(image)} {short_digest(chain.digest)} ×{len(chain.pods)}"
    text.append(f"{UNKNOWN_GLYPH if unknown else RUNNING_GLYPH} ", warn if unknown else "bold")
    text.append(fit(head, 2) + "\n", "bold")
    if unknown:
        why = (
            "node-local image ID: no build can match it"
            if chain.provenance == NODE_LOCAL
            else "unknown provenance: no build recorded"
        )
        text.append("  " + fit(why, 2) + "\n", warn)
    else:
        build = chain.builds[0]
        run = " ".join(
            printable(part)
            for part in (build.provider or "", f"#{build.run_id}" if build.run_id else "")
            if part
        )
        when = f" {time(build.built_at)}" if build.built_at else ""
        text.append("  " + fit(f"built {run or '?'}{when}", 2) + "\n")
        if build.commit:
            source = f"{_repo_name(build.source_repo)} {build.commit[:7]}"
            subject, author = _subject(build), _author(build)
            line = source + (f" {subject}" if subject else "") + (f" ({author})" if author else "")
            text.append("  " + fit(printable(line), 2) + "\n", "dim")
    # When it first ran, and the change that put its image into the workload's spec.
    parts = []
    if chain.first_seen:
        word = "running before" if chain.seen_since_window_start else "first ran"
        parts.append(f"{word} {time(chain.first_seen)}")
    deployed = chain.deployed
    if deployed is not None:
        how = printable(deployed.cause)
        if deployed.run is not None:
            number = f" #{deployed.run.run_id}" if len(deployed.run.run_id) <= 16 else ""
            how = printable(deployed.run.pipeline + number)
        elif deployed.actor:
            how += f" {printable(deployed.actor)}"
        elif deployed.cause == "unknown":
            how = "by no one recorded"
        parts.append(f"deployed {time(deployed.at)} {how}")
        if deployed.commit:
            parts.append(f"config {deployed.commit[:7]}")
    if parts:
        text.append("  " + fit(" · ".join(parts), 2) + "\n", "dim")
    for tag in chain.retagged:
        line = f"{UNKNOWN_GLYPH} tag re-pushed: {printable(short_image(tag))} ran another digest"
        text.append("  " + fit(line, 2) + "\n", warn)


def history_text(history: ArtifactHistory | None, tz: tzinfo, *, warn: Style) -> Text:
    """Which digests the row ran, newest first sighting first, then every start and stop."""
    text = Text()
    if history is None:
        text.append("no images: only workloads and Pods run them", "dim")
        return text

    def when(stamp: str) -> str:
        return from_stored(stamp).astimezone(tz).strftime("%a %m-%d %H:%M")

    text.append(f"From {when(history.start)} to {when(history.end)}", "dim")
    if history.workload != history.key:
        text.append(f" · in {printable(history.workload.display())}", "dim")
    text.append("\n")
    if not history.runs:
        text.append("\nno running container recorded in this window\n", "dim")
        return text
    for run in reversed(history.runs):
        span = run.span
        text.append("\n")
        marker = "▶ " if run.running_at_cursor else "  "
        text.append(marker, "bold")
        text.append(short_digest(span.digest), "bold")
        images = ", ".join(sorted(short_image(i) for i in span.images)) or "?"
        text.append(f"  {printable(images)}")
        if run.running_at_cursor:
            text.append("  running at the cursor", "dim")
        text.append("\n")
        pods = len(span.pods)
        text.append(
            f"  ran {when(span.first_seen)} → {when(span.last_seen)} · "
            f"{pods} pod{'s' if pods != 1 else ''}\n",
            "dim",
        )
        build = run.build
        if run.unknown_provenance or build is None:
            text.append(f"  {UNKNOWN_GLYPH} unknown provenance: no recorded build made it\n", warn)
        else:
            parts = [printable(build.provider or "?")]
            if build.pipeline:
                parts.append(printable(build.pipeline))
            if build.run_id:
                parts.append(printable(f"#{build.run_id}"))
            if build.built_at:
                parts.append(when(build.built_at))
            text.append("  built " + " ".join(parts) + "\n")
            if build.commit:
                subject, author = _subject(build), _author(build)
                line = f"  {_repo_name(build.source_repo)} {build.commit[:7]} {subject}"
                text.append(printable(line) + (f" ({printable(author)})" if author else "") + "\n")
            if build.url:
                text.append(f"  {printable(build.url)}\n", "underline")
        # Whole, to copy; without "sha256:" it is one line at 80 columns.
        text.append(f"{printable(span.digest.partition(':')[2] or span.digest)}\n", "dim")
    if history.events:
        text.append("\nStarted and stopped\n", "bold underline")
        for event in history.events:
            word = "▶ started" if event.started else "■ stopped"
            image = f"  {printable(short_image(event.images[0]))}" if event.images else ""
            text.append(f"{when(event.at)}  {word} {short_digest(event.digest)}{image}\n")
    return text


class ArtifactsScreen(ModalScreen[None]):
    """The artifact history of the selected resource; esc (or p, q) closes."""

    DEFAULT_CSS = """
    ArtifactsScreen {
        align: center middle;
        background: $background 60%;
    }
    #artifacts-box {
        width: 100;
        max-width: 95%;
        height: 80%;
        border: round $accent;
        border-subtitle-color: $text-muted;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,p", "dismiss", "Close", id="artifacts.close"),
    ]

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title
        self.body = Static(Text("reading the Pods recorded…", "dim"), id="artifacts-body")
        self.shown: Text | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="artifacts-box") as box:
            box.border_title = literal(self.title_text)
            box.border_subtitle = "esc closes"
            yield self.body

    def show(self, body: Text) -> None:
        self.shown = body
        self.body.update(body)

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)

"""Build the demo environment through the real ingest paths.

git: a real repository, backfilled by the git source; the application's source in another
real repository, whose commits CI built into images reported through ``record-build``'s
preparation and store call. Cluster: watch events through
``import-events``; the recorder's restart after an outage through the recorder's own
write path (gap + inferred relist). Pipeline runs through ``record-run``'s store call, the
audit log through ``import-audit``'s parser and store call. No hand-written rows.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import git
import yaml

from timetravel.demo.objects import image_digest
from timetravel.demo.story import (
    APP_REPO_URL,
    CLUSTER,
    COMMIT_REF,
    PIPELINE_SA,
    Story,
    Write,
    write_story,
)
from timetravel.domain.audit import AuditEvent, read_audit
from timetravel.domain.ci_env import PipelineRunFacts, Target
from timetravel.domain.model import Gap, Observation
from timetravel.domain.times import to_rfc3339, to_stored
from timetravel.host import local_zone
from timetravel.recorder.builds import BuildReport, prepare_builds, record_builds
from timetravel.recorder.clock import MonotonicClock
from timetravel.recorder.events import import_events
from timetravel.recorder.git import GitSource
from timetravel.store import Database
from timetravel.store.db import open_database
from timetravel.store.runs import insert_audit_events, upsert_pipeline_run
from timetravel.store.writer import RevisionWriter, record_warning_event


@dataclass(frozen=True)
class Demo:
    db_path: Path
    repo_path: Path
    story: Story


def _commit_history(path: Path, commits: Sequence[Any], text_of: Callable[[Any], str]) -> list[str]:
    """Commit ``commits`` (each with ``files``, ``author``, ``at``, ``message``) into a new
    real repository at ``path``, a file's text ``text_of(content)``; returns the ids."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    repo = git.Repo.init(path, initial_branch="main")
    shas = []
    for commit in commits:
        for relpath, content in commit.files.items():
            target = path / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text_of(content))
        repo.git.add(A=True)
        name, _, email = commit.author.partition(" <")
        actor = git.Actor(name, email.rstrip(">"))
        stamp = commit.at.strftime("%Y-%m-%dT%H:%M:%S%z")
        made = repo.index.commit(
            commit.message, author=actor, committer=actor, author_date=stamp, commit_date=stamp
        )
        shas.append(made.hexsha)
    return shas


def _write_repo(path: Path, story: Story) -> list[str]:
    """Commit the story's GitOps history into a real repository; returns the commit ids."""
    return _commit_history(
        path, story.commits, lambda objects: yaml.safe_dump_all(objects, sort_keys=False)
    )


def _write_app_repo(path: Path, story: Story) -> list[str]:
    """Commit the application's source history into a real repository (the builds'
    checkout); returns the commit ids in order."""
    return _commit_history(path, story.app_commits, str)


def _record_builds(db: Database, story: Story, app_path: Path, shas: list[str]) -> None:
    """Each build as its CI job reports it (``record-build``'s own preparation and store
    call), read in the application's checkout for the commit's time, author and subject."""
    for job in story.builds:
        report = BuildReport(
            image=job.image,
            digest=image_digest(job.image),
            source_repo=APP_REPO_URL,
            commit=shas[job.commit_index],
            provider="github-actions",
            pipeline=job.pipeline,
            run_id=job.run_id,
            url=job.url,
            actor=job.actor,
            source_dir=str(app_path),
        )
        record_builds(db, prepare_builds(report, env={}, use_env=False, now=job.at))


def _resolve(value: Any, shas: list[str]) -> Any:
    """The story's commit references replaced by the ids git gave the commits."""
    if isinstance(value, str) and value.startswith(COMMIT_REF):
        return shas[int(value[len(COMMIT_REF) :])]
    if isinstance(value, dict):
        return {k: _resolve(v, shas) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, shas) for v in value]
    return value


def _event_lines(writes: list[Write], shas: list[str]) -> list[str]:
    return [
        json.dumps(
            {"type": w.event, "object": _resolve(w.obj, shas), "observed_at": to_rfc3339(w.at)}
        )
        for w in writes
    ]


def build(directory: Path, *, now: datetime, zone: tzinfo | None = None) -> Demo:
    """Write the demo's repository and database under ``directory`` (replacing old ones)."""
    story = write_story(now, zone or local_zone())
    directory.mkdir(parents=True, exist_ok=True)
    repo_path = directory / "gitops"
    shas = _write_repo(repo_path, story)
    db_path = directory / "timetravel.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    db = open_database(db_path)

    GitSource(db_path, repo_path, cluster=CLUSTER, clock=MonotonicClock(), progress=False).sync()

    # The cluster, as the recorder saw it: watch events until the outage...
    outage_start, outage_end = story.outage or (now, now)
    before = [w for w in story.writes if w.at < outage_start and not w.inferred]
    inferred = [w for w in story.writes if w.inferred]
    after = [w for w in story.writes if w.at >= outage_start and not w.inferred]
    import_events(db, _event_lines(before, shas), cluster=CLUSTER)
    # ...the restart after it: a gap for the downtime and a relist that finds changes...
    writer = RevisionWriter(db)
    if story.outage is not None and outage_end <= now:
        writer.record_gap(
            Gap(
                CLUSTER,
                f"cluster:{CLUSTER}",
                to_stored(outage_start),
                to_stored(outage_end),
                "recorder ended without stopping (killed?)",
            )
        )
        writer.write(
            Observation(CLUSTER, "MODIFIED", w.obj, to_stored(w.at), inferred=True, source="list")
            for w in inferred
        )
    # ...and watch events again.
    import_events(db, _event_lines(after, shas), cluster=CLUSTER)
    with db.conn:
        for at, event in story.warnings:
            if at <= now:
                record_warning_event(db.conn, CLUSTER, to_stored(at), event)

    for run in story.runs:
        if run.started_at > now:
            continue
        targets = tuple(Target(*t.split("/", 2)) for t in run.targets)
        upsert_pipeline_run(
            db,
            PipelineRunFacts(
                provider=run.provider,
                pipeline=run.pipeline,
                run_id=run.run_id,
                reported_at=run.finished_at,
                url=run.url,
                commit=shas[run.commit_index],
                status=run.status,
                actor=run.actor,
                started_at=run.started_at,
                finished_at=run.finished_at,
                targets=targets,
                service_account=PIPELINE_SA,
            ),
        )
    app_path = directory / "app"
    _record_builds(db, story, app_path, _write_app_repo(app_path, story))
    audit_lines = [json.dumps(event) for event in story.audit]
    events = [e for e in read_audit(audit_lines) if isinstance(e, AuditEvent)]
    events = [e for e in events if e.stage_at <= to_stored(now)]
    insert_audit_events(db, events)
    db.conn.close()
    return Demo(db_path, repo_path, story)

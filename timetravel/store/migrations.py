"""Append-only, named migrations. Never edit one that has shipped: add a new one.

The tables are documented for people who query them directly in docs/STORE.md.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("timetravel")


@migrations(name="m001_facts")
def m001_facts(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE clusters (
            name TEXT PRIMARY KEY,
            server TEXT,
            context TEXT,
            first_seen TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE resources (
            id INTEGER PRIMARY KEY,
            cluster TEXT NOT NULL,
            api_group TEXT NOT NULL,
            api_version TEXT NOT NULL,
            kind TEXT NOT NULL,
            namespace TEXT NOT NULL,
            name TEXT NOT NULL,
            UNIQUE (cluster, api_group, kind, namespace, name)
        )"""
    )
    db.execute(
        """
        CREATE TABLE revisions (
            id INTEGER PRIMARY KEY,
            resource_id INTEGER NOT NULL REFERENCES resources(id),
            observed_at TEXT NOT NULL,
            change TEXT NOT NULL CHECK (change IN ('created', 'updated', 'deleted')),
            resource_version TEXT,
            uid TEXT,
            inferred INTEGER NOT NULL DEFAULT 0,
            status_only INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL,
            server_time TEXT,
            managers TEXT,
            content_hash TEXT NOT NULL,
            spec_hash TEXT NOT NULL,
            keyframe_id INTEGER REFERENCES revisions(id),
            raw_size INTEGER NOT NULL,
            body BLOB NOT NULL
        )"""
    )
    # One seek finds the latest revision of an object at or before T.
    db.execute(
        "CREATE INDEX revisions_by_resource_time ON revisions (resource_id, observed_at, id)"
    )
    # Changes in a window, across all objects, for the timeline.
    db.execute("CREATE INDEX revisions_by_time ON revisions (observed_at)")
    db.execute(
        """
        CREATE TABLE gaps (
            id INTEGER PRIMARY KEY,
            cluster TEXT,
            source TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT NOT NULL,
            reason TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX gaps_by_time ON gaps (started_at)")


@migrations(name="m002_observations_and_recorders")
def m002_observations_and_recorders(db: Database) -> None:
    # Things seen on the cluster that are not object revisions: Warning events (they
    # expire from the cluster after an hour; we keep them), failed syncs, rollouts stuck.
    db.execute(
        """
        CREATE TABLE observations (
            id INTEGER PRIMARY KEY,
            cluster TEXT NOT NULL,
            observed_at TEXT NOT NULL,
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            reason TEXT,
            message TEXT,
            object_group TEXT,
            object_kind TEXT,
            object_namespace TEXT,
            object_name TEXT,
            first_at TEXT,
            last_at TEXT,
            count INTEGER,
            dedupe_key TEXT UNIQUE
        )"""
    )
    db.execute("CREATE INDEX observations_by_time ON observations (observed_at)")
    db.execute(
        "CREATE INDEX observations_by_object ON observations "
        "(object_kind, object_namespace, object_name, observed_at)"
    )
    # One row per running (or last run) recorder source: a heartbeat, so a restart knows
    # how long it was away and records that span as a gap.
    db.execute(
        """
        CREATE TABLE recorder_state (
            source TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL,
            stopped_at TEXT,
            detail TEXT
        )"""
    )

"""``record``: watch a cluster (and git repositories) into the database until stopped."""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

import click

from timetravel.commands.logs import (
    StatusLines,
    log_options,
    setup_logging,
    status,
    stop_logging,
)
from timetravel.commands.options import (
    cluster_options,
    db_option,
    duration_arg,
    remote_repo_options,
    repo_options,
    resolve_db,
    user_errors,
)
from timetravel.config import load_drift_rules
from timetravel.errors import UserError
from timetravel.notify.deliver import FORMATS, Receiver
from timetravel.notify.loop import AlertLoop
from timetravel.sources.remote import GitCredentials, is_remote, remote_path, repo_folder
from timetravel.store.db import open_database
from timetravel.store.lease import Holder, Lease, writer_leases
from timetravel.store.location import Location

if TYPE_CHECKING:
    from typing import TextIO

    from timetravel.recorder.health import Monitor
    from timetravel.sources.kube import Connection


log = logging.getLogger(__name__)


def split_words(values: tuple[str, ...]) -> list[str]:
    return [w.strip() for value in values for w in value.split(",") if w.strip()]


def stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """SIGINT, SIGTERM and SIGHUP set ``stop``: installed first thing, so that a signal at
    any point (a Ctrl-C during a long git backfill too) ends the recorder cleanly, exit 0,
    with every commit and event written so far kept. Returns what puts the handlers
    before back (for a caller that goes on, as a test's CliRunner does)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            log.info("%s received; stopping", signal.Signals(signum).name)
        stop.set()

    before = {
        signum: signal.signal(signum, handler)
        # SIGHUP: the terminal closed: stop cleanly, not mid-write.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }

    def restore() -> None:
        for signum, previous in before.items():
            signal.signal(signum, previous)

    return restore


def follow_parent(parent_pid: int, stop: threading.Event) -> None:
    """Stop when ``parent_pid`` ends: a screen's recorder must not outlive the screen.

    The recorder runs in a session of its own (so a Ctrl-C meant for the screen does not
    cut a write short), which also spares it the SIGHUP of a closed terminal; and a parent
    killed with SIGKILL sends nothing at all. A parent's end shows as this process being
    handed to another parent (init or a subreaper), whatever ended it.
    """

    def watch() -> None:
        while not stop.wait(0.5):
            if os.getppid() != parent_pid:
                status(f"the screen (pid {parent_pid}) ended; stopping")
                stop.set()

    threading.Thread(target=watch, daemon=True, name="tt-parent").start()


def _standing_by(path: Location) -> Callable[[Holder | None], None]:
    def tell(holder: Holder | None) -> None:
        who = holder.describe() if holder else "another process"
        status(f"standing by: {path} is recorded by {who}")

    return tell


@click.command("record")
@db_option
@cluster_options
@click.option(
    "--resources",
    "resources",
    multiple=True,
    help="Only these resource types, comma-separated (deployments,configmaps.v1,applications.argoproj.io).",
)
@click.option(
    "--exclude", "exclude", multiple=True, help="Leave out these resource types, comma-separated."
)
@click.option(
    "--watch-timeout", default=300, show_default=True, help="Seconds before a watch is renewed."
)
@click.option(
    "--read-timeout",
    default=90.0,
    show_default=True,
    help="Seconds of silence after which a watch is restarted.",
)
@click.option(
    "--status-every",
    default=10.0,
    show_default=True,
    help="Seconds between status lines on stderr (0: only at the end).",
)
@repo_options(
    repo_help="A GitOps repository to follow (repeatable): a checkout, or its folder for this cluster (~/gitops/clusters/prod: only that folder is desired state, of this cluster only), or a URL (https://, ssh://, git@host:path) cloned into the data dir and fetched. With only --repo, git alone is recorded.",
    branch_help="Branch for the --repo at the same position (default: the checkout's current branch, its upstream when it tracks one; for a URL the server's default branch).",
    repo_metavar="DIR|URL",
)
@remote_repo_options
@click.option(
    "--fetch-interval",
    default=60.0,
    show_default=True,
    help="Seconds between `git fetch` of a --repo URL or of a branch that tracks a remote (0: never). A fetch that fails is recorded as a gap.",
)
@click.option(
    "--cluster-name",
    default=None,
    metavar="NAME",
    help="What to call the recorded cluster [default: the kubeconfig's cluster name; "
    "in a pod: in-cluster]. Give each cluster of a team store its own.",
)
@click.option(
    "--standby",
    is_flag=True,
    help="If another recorder writes the database, wait and take over when it ends.",
)
@click.option(
    "--parent-pid",
    type=int,
    default=None,
    hidden=True,
    help="Stop when this process ends (the screen that started this recorder).",
)
@click.option(
    "--listen",
    "listen",
    metavar="ADDR",
    default=None,
    help="Serve /healthz, /readyz and Prometheus /metrics on ADDR (:9090 every interface, 127.0.0.1:9090 loopback only). Off by default: no port is opened.",
)
@click.option(
    "--keep",
    "keep",
    metavar="D",
    default=None,
    help="Keep D of history (90d): older history is pruned as it records, every hour; the state at the cut stays exact (see `timetravel prune`).",
)
@click.option(
    "--notify",
    "notify_urls",
    multiple=True,
    metavar="URL",
    help="Post alerts (drift opened and closed, manual changes, failed syncs, gaps, changes of unknown cause) to URL (repeatable); delivered at least once from an outbox in the store (docs/ALERTS.md).",
)
@click.option(
    "--notify-format",
    type=click.Choice(FORMATS),
    default="json",
    show_default=True,
    help="What --notify posts: timetravel's JSON (docs/alert.schema.json) or a Slack incoming-webhook message.",
)
@click.option(
    "--notify-cmd",
    "notify_cmds",
    multiple=True,
    metavar="CMD",
    help="Run CMD with each alert message's JSON on stdin (repeatable); exit 0 means delivered.",
)
@click.option(
    "--notify-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Sign each --notify body with HMAC-SHA256 of this file's secret (X-Timetravel-Signature) [default: $TIMETRAVEL_NOTIFY_SECRET].",
)
@click.option(
    "--snapshots",
    "snapshot_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Write an incident bundle into DIR at each drift opening, named in its alert.",
)
@click.option(
    "--notify-grace",
    type=float,
    default=60.0,
    hidden=True,
    help="Seconds a change waits before its alert (late pipeline run reports still explain it).",
)
@log_options
@user_errors
def record(
    db_path: str | None,
    kubeconfig: str | None,
    context: str | None,
    namespaces: tuple[str, ...],
    resources: tuple[str, ...],
    exclude: tuple[str, ...],
    watch_timeout: int,
    read_timeout: float,
    status_every: float,
    repos: tuple[str, ...],
    branches: tuple[str, ...],
    paths: tuple[str, ...],
    git_token_file: Path | None,
    git_token_env: str | None,
    git_username: str | None,
    ssh_key: Path | None,
    known_hosts: Path | None,
    fetch_interval: float,
    cluster_name: str | None,
    standby: bool,
    parent_pid: int | None,
    listen: str | None,
    keep: str | None,
    notify_urls: tuple[str, ...] = (),
    notify_format: str = "json",
    notify_cmds: tuple[str, ...] = (),
    notify_secret_file: Path | None = None,
    notify_grace: float = 60.0,
    snapshot_dir: Path | None = None,
    verbose: int = 0,
    log_format: str = "text",
) -> None:
    """Record the cluster (list+watch, read-only) until SIGINT or SIGTERM.

    Every resource type that supports list and watch is recorded, CRDs included and
    picked up when installed later; Leases, Endpoints and EndpointSlices are left out
    unless named in --resources. Warning Events are kept as timeline observations.
    Only list and watch requests are made, and get on the discovery URLs (/api, /apis).
    One recorder writes a database at a time: a second one is refused, naming the
    first, or with --standby waits and takes over when the first ends.
    With --listen, /healthz, /readyz and /metrics are served (docs/METRICS.md).
    With --keep 90d, history older than 90 days is pruned as it records, every hour.
    With --notify URL (or --notify-cmd), alerts are sent as they are found (docs/ALERTS.md).

    SIGINT (Ctrl-C) or SIGTERM at any point, the git backfill included, stops it cleanly
    (exit 0); recording again resumes where it stopped. Status lines go to stderr; -v adds
    every error and retry, -vv debug logs, and --log-format json writes them all as one
    JSON object a line.

    One repository can feed several clusters, a folder each: a recorder per cluster
    follows its own folder (--repo ~/src/gitops/clusters/prod beside prod, .../staging
    beside staging), and each cluster's desired state is read from its folder only.

    A --repo URL needs no checkout: it is cloned (bare, blobless where the server
    allows) under the data dir and fetched every --fetch-interval. A token (a file, read
    again at every fetch, or a variable) or an ssh key reaches git through its own
    credential mechanisms, never a command line, and is never logged or stored. A
    fetch that fails is recorded as a gap and tried again; a first clone that fails is
    an error.

    Example:

        timetravel record --context prod --namespace payments --repo ~/src/gitops

        timetravel record --db postgresql://tt@db/timetravel --context prod --repo ~/src/gitops/clusters/prod

        timetravel record --context prod --listen :9090

        timetravel record --repo https://github.com/acme/gitops.git --git-token-file ~/.gitops-token
    """
    stop = threading.Event()
    restore = stop_on_signals(stop)  # first: a signal at any later point ends cleanly
    setup_logging(verbose, log_format)
    try:
        receivers = alert_receivers(notify_urls, notify_format, notify_cmds, notify_secret_file)
        _start(
            stop,
            db_path,
            kubeconfig,
            context,
            namespaces,
            resources,
            exclude,
            watch_timeout,
            read_timeout,
            status_every,
            repos,
            branches,
            paths,
            GitCredentials(git_token_file, git_token_env, git_username, ssh_key, known_hosts),
            fetch_interval,
            cluster_name,
            standby,
            parent_pid,
            listen,
            keep,
            verbose,
            json_log=log_format == "json",
            receivers=receivers,
            alert_grace=timedelta(seconds=max(notify_grace, 0.0)),
            snapshot_dir=snapshot_dir,
        )
    except Exception as exc:
        if not stop.is_set():
            raise
        # A clone, a connection or a git child cut short by the same Ctrl-C: the user asked
        # to stop, and what was written is kept.
        log.info("stopped: %s", exc, exc_info=not isinstance(exc, UserError))
        status("stopped")
    finally:
        restore()
        stop_logging()


def _start(
    stop: threading.Event,
    db_path: str | None,
    kubeconfig: str | None,
    context: str | None,
    namespaces: tuple[str, ...],
    resources: tuple[str, ...],
    exclude: tuple[str, ...],
    watch_timeout: int,
    read_timeout: float,
    status_every: float,
    repos: tuple[str, ...],
    branches: tuple[str, ...],
    paths: tuple[str, ...],
    credentials: GitCredentials,
    fetch_interval: float,
    cluster_name: str | None,
    standby: bool,
    parent_pid: int | None,
    listen: str | None,
    keep: str | None,
    verbose: int,
    *,
    json_log: bool,
    receivers: Sequence[Receiver] = (),
    alert_grace: timedelta = timedelta(seconds=60),
    snapshot_dir: Path | None = None,
) -> None:
    # Imported here: the kubernetes client takes a while to load, and only `record` needs it.
    from timetravel.sources.kube import connect

    path = resolve_db(db_path)
    keep_for = duration_arg(keep) if keep is not None else None
    open_database(path).conn.close()  # refuse a bad database before connecting
    if len(branches) > len(repos):
        raise UserError("--branch given more often than --repo")
    if len(paths) > len(repos):
        raise UserError("--path given more often than --repo")
    if any(is_remote(repo) for repo in repos):
        credentials.check()
    server = None
    if listen is not None:
        # Opened first: a bad address or a port in use is told before anything starts.
        from timetravel.recorder.health import HealthServer, Monitor

        server = HealthServer(listen, Monitor())
        status(f"serving /healthz, /readyz, /metrics on {server.url}")
    held: list[Lease] = []
    try:
        if parent_pid is not None:
            follow_parent(parent_pid, stop)
        git_only = bool(repos) and not (kubeconfig or context or namespaces or resources)
        connection = None if git_only else connect(kubeconfig, context)
        if connection is not None and cluster_name:
            # Every pod's service account calls its cluster "in-cluster": a team store
            # recording several needs their own names.
            connection = dataclasses.replace(connection, cluster=cluster_name)
        sources = [f"cluster:{connection.cluster}"] if connection is not None else []
        sources += [
            repo_source(
                repo,
                branches[i] if i < len(branches) else None,
                paths[i] if i < len(paths) else None,
            )
            for i, repo in enumerate(repos)
        ]
        for lease in writer_leases(path, sources):
            if not lease.acquire(standby=standby, waiting=_standing_by(path), stop=stop.is_set):
                return
            held.append(lease)
        _record(
            path,
            stop,
            connection,
            repos=repos,
            branches=branches,
            paths=paths,
            credentials=credentials,
            fetch_interval=fetch_interval,
            namespaces=namespaces,
            resources=resources,
            exclude=exclude,
            watch_timeout=watch_timeout,
            read_timeout=read_timeout,
            status_every=status_every,
            verbose=verbose,
            json_log=json_log,
            monitor=server.monitor if server is not None else None,
            keep=keep_for,
            receivers=receivers,
            alert_grace=alert_grace,
            snapshot_dir=snapshot_dir,
        )
    finally:
        for lease in held:
            lease.release()
        if server is not None:
            server.close()


def repo_source(repo: str, branch: str | None, folder: str | None = None) -> str:
    """A repository as a recorded source: what one recorder at a time may follow (a URL
    is named as the store keeps it: without a password, a folder after ``//``)."""
    if is_remote(repo):
        return f"repo:{remote_path(repo, repo_folder(folder))}#{branch or ''}"
    place = Path(repo).expanduser()
    if folder:
        place = place / repo_folder(folder)
    return f"repo:{place.resolve()}#{branch or ''}"


def _say(message: str) -> None:
    status(message)


def _record(
    path: Location,
    stop: threading.Event,
    connection: Connection | None,
    *,
    repos: tuple[str, ...],
    branches: tuple[str, ...],
    fetch_interval: float,
    namespaces: tuple[str, ...],
    resources: tuple[str, ...],
    exclude: tuple[str, ...],
    watch_timeout: int,
    read_timeout: float,
    status_every: float,
    verbose: int,
    monitor: Monitor | None = None,
    json_log: bool = False,
    paths: tuple[str, ...] = (),
    credentials: GitCredentials | None = None,
    keep: timedelta | None = None,
    receivers: Sequence[Receiver] = (),
    alert_grace: timedelta = timedelta(seconds=60),
    snapshot_dir: Path | None = None,
) -> None:
    from timetravel.recorder.clock import MonotonicClock
    from timetravel.recorder.cluster import Recorder
    from timetravel.recorder.git import GitSource
    from timetravel.sources.kube import Kube

    clock = MonotonicClock()
    retention = None
    if keep is not None:
        from timetravel.recorder.retention import Retention, scope
        from timetravel.store.location import PostgresLocation

        cluster = connection.cluster if connection is not None else None
        within = scope(isinstance(path, PostgresLocation), cluster)
        retention = Retention(keep, clock=clock, cluster=within, report=_say)
    sources = [
        GitSource(
            path,
            repo,
            branches[i] if i < len(branches) else None,
            fetch_interval=fetch_interval,
            clock=clock,
            folder=paths[i] if i < len(paths) else None,
            credentials=credentials,
            log=_say,
            # A redrawn progress bar is no log: in JSON the backfill says when it ends.
            progress=not json_log,
        )
        for i, repo in enumerate(repos)
    ]
    for source in sources:
        if connection is not None:
            # Which of conflicting declarations counts ([desired.clusters] of the
            # repository's timetravel.toml) is the recorded cluster's choice.
            source.follows_cluster = connection.cluster
        if source.folder and connection is not None:
            # A folder of a repository that feeds several clusters (clusters/prod) is the
            # desired state of the cluster recorded beside it, and of no other.
            source.cluster = connection.cluster
    if monitor is not None:
        for source in sources:
            monitor.add_git(source)
    for source in sources:
        log.info("backfill of %s", source.source, extra={"source": source.source})
        # The history's commits and ref updates before watching; their renders (kustomize,
        # the slow part) follow in the git thread, the newest first, while the cluster is
        # recorded and the screen reads (a moment not rendered yet says so).
        recorded = source.sync(stop=stop, render=False)
        if not stop.is_set():
            log.info(
                "%s: %d commits recorded",
                source.source,
                recorded,
                extra={"source": source.source, "commits": recorded},
            )
            # A redrawn bar would break into the cluster recorder's lines: lines instead.
            source.progress = False
        else:
            status(
                f"stopped during the backfill of {source.source}; recording again resumes "
                f"where it stopped"
            )
            return
    threads: list[threading.Thread] = [
        threading.Thread(target=source.run, args=(stop,), daemon=True, name="tt-git")
        for source in sources
    ]
    if receivers or snapshot_dir is not None:
        # Beside the recording, on a connection of its own; it never stops the recorder.
        grace = alert_grace
        quick = min(10.0, max(grace.total_seconds() / 4, 0.2))  # a test's short grace
        threads.append(
            AlertLoop(
                path,
                receivers,
                stop,
                _say,
                grace=grace,
                evaluate_every=quick,
                group_window=timedelta(seconds=quick),
                snapshot_dir=snapshot_dir,
                ignore=load_drift_rules(),
            )
        )
        if receivers:
            status(f"alerts to {', '.join(r.shown for r in receivers)}")
        if snapshot_dir is not None:
            status(f"incident bundles at each drift opening into {snapshot_dir}")
    for thread in threads:
        thread.start()
    if connection is None:
        if monitor is not None:
            monitor.started(threads)
        status(f"recording git only ({len(sources)} repositories)")
        if retention is not None:
            pruning = threading.Thread(
                target=retention.run, args=(path, stop), daemon=True, name="tt-retention"
            )
            pruning.start()
            threads.append(pruning)
        stop.wait()
        for thread in threads:
            thread.join(timeout=10)
        return
    recorder = Recorder(
        path,
        Kube(connection, read_timeout=read_timeout),
        namespaces=namespaces,
        resources=split_words(resources),
        exclude=split_words(exclude),
        watch_timeout=watch_timeout,
        status_every=status_every,
        verbose=verbose >= 1,
        clock=clock,
        status_stream=_status_stream(json_log),
    )
    recorder.stop = stop
    recorder.retention = retention
    if monitor is not None:
        monitor.add_recorder(recorder)
        monitor.started(threads)
    try:
        recorder.run()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def _status_stream(json_log: bool) -> TextIO | None:
    """Where the cluster recorder writes its status lines: stderr, or in JSON a stream that
    turns each line into a status record."""
    return cast("TextIO", StatusLines()) if json_log else None


def alert_receivers(
    urls: Sequence[str], fmt: str, commands: Sequence[str], secret_file: Path | None
) -> list[Receiver]:
    """The receivers of ``--notify`` and ``--notify-cmd``; a URL that is not http(s) or a
    secret that cannot be read is one line and exit 2, before anything starts."""
    secret_text = os.environ.get("TIMETRAVEL_NOTIFY_SECRET")
    if secret_file is not None:
        try:
            secret_text = secret_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(
                f"--notify-secret-file {secret_file}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
    secret = secret_text.encode() if secret_text else None
    out = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            shown = f"{parts.scheme}://{parts.hostname or ''}" if parts.scheme else url[:40]
            raise UserError(f"--notify {shown}: expected an http:// or https:// URL")
        out.append(Receiver(url=url, format=fmt, secret=secret))
    for command in commands:
        words = tuple(shlex.split(command))
        if not words:
            raise UserError("--notify-cmd needs a command")
        out.append(Receiver(command=words, format="json", secret=secret))
    return out

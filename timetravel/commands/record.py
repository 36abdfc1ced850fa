"""``record``: watch a cluster (and git repositories) into the database until stopped."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from timetravel.commands.options import (
    cluster_options,
    db_option,
    duration_arg,
    remote_repo_options,
    repo_options,
    resolve_db,
    user_errors,
)
from timetravel.errors import UserError
from timetravel.sources.remote import GitCredentials, is_remote, remote_path, repo_folder
from timetravel.store.db import open_database
from timetravel.store.lease import Holder, Lease, writer_leases
from timetravel.store.location import Location

if TYPE_CHECKING:
    from datetime import timedelta

    from timetravel.recorder.health import Monitor
    from timetravel.sources.kube import Connection


def split_words(values: tuple[str, ...]) -> list[str]:
    return [w.strip() for value in values for w in value.split(",") if w.strip()]


def stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)  # the terminal closed: stop cleanly, not mid-write


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
                click.echo(f"timetravel: the screen (pid {parent_pid}) ended; stopping", err=True)
                stop.set()

    threading.Thread(target=watch, daemon=True, name="tt-parent").start()


def _standing_by(path: Location) -> Callable[[Holder | None], None]:
    def tell(holder: Holder | None) -> None:
        who = holder.describe() if holder else "another process"
        click.echo(f"timetravel: standing by: {path} is recorded by {who}", err=True)

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
@click.option("--verbose", "-v", is_flag=True, help="Report every error and retry.")
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
    verbose: bool,
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
    # Imported here: the kubernetes client takes a while to load, and only `record` needs it.
    from timetravel.sources.kube import connect

    path = resolve_db(db_path)
    keep_for = duration_arg(keep) if keep is not None else None
    open_database(path).conn.close()  # refuse a bad database before connecting
    if len(branches) > len(repos):
        raise UserError("--branch given more often than --repo")
    if len(paths) > len(repos):
        raise UserError("--path given more often than --repo")
    credentials = GitCredentials(git_token_file, git_token_env, git_username, ssh_key, known_hosts)
    if any(is_remote(repo) for repo in repos):
        credentials.check()
    server = None
    if listen is not None:
        # Opened first: a bad address or a port in use is told before anything starts.
        from timetravel.recorder.health import HealthServer, Monitor

        server = HealthServer(listen, Monitor())
        click.echo(f"timetravel: serving /healthz, /readyz, /metrics on {server.url}", err=True)
    held: list[Lease] = []
    try:
        stop = threading.Event()
        stop_on_signals(stop)
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
            monitor=server.monitor if server is not None else None,
            keep=keep_for,
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
    click.echo(f"timetravel: {message}", err=True)


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
    verbose: bool,
    monitor: Monitor | None = None,
    paths: tuple[str, ...] = (),
    credentials: GitCredentials | None = None,
    keep: timedelta | None = None,
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
        )
        for i, repo in enumerate(repos)
    ]
    for source in sources:
        if source.folder and connection is not None:
            # A folder of a repository that feeds several clusters (clusters/prod) is the
            # desired state of the cluster recorded beside it, and of no other.
            source.cluster = connection.cluster
    if monitor is not None:
        for source in sources:
            monitor.add_git(source)
    for source in sources:
        source.sync()  # backfill before watching, with progress
    threads = [
        threading.Thread(target=source.run, args=(stop,), daemon=True, name="tt-git")
        for source in sources
    ]
    for thread in threads:
        thread.start()
    if connection is None:
        if monitor is not None:
            monitor.started(threads)
        click.echo(f"timetravel: recording git only ({len(sources)} repositories)", err=True)
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
        verbose=verbose,
        clock=clock,
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

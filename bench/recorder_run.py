"""The recorder end to end: ``python -m timetravel record`` in a subprocess against the API
double served from this process, over HTTP with the real kubernetes client.

One run gives three figures: the initial list (N objects until all are recorded), the
sustained watch rate (a backlog of M events drained), and the recorder's peak RSS. The
double runs here, the recorder in its own process: as in production, the API server and
the recorder do not share an interpreter (or a GIL).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import psutil

from bench.common import PYTHON, ROOT, Context, parse_rate
from bench.gen import Cluster, DeploymentState, PodState, ts

# The double is a test fixture; the benchmark drives it like the recorder tests do.
from tests.apidouble import ApiDouble
from tests.apidouble.server import _event_line

_SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")


@dataclass
class RecorderRun:
    objects: int
    watch_events: int
    populate_s: float
    list_s: float  # spawn -> every listed object recorded
    startup_s: float  # spawn -> first revision recorded
    drain_s: float  # backlog released -> every event recorded
    revisions: int
    peak_rss: int  # bytes, VmHWM (or the highest sample)
    rss_after_list: int
    rss_samples_max: int
    exit_code: int | None
    raw_parse_rate: float  # orjson.loads per watch line of the same backlog, this process
    raw_json_rate: float  # stdlib json.loads, the same lines
    line_bytes: float  # mean watch line size
    log_tail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def list_rate(self) -> float:
        return self.objects / self.list_s

    @property
    def watch_rate(self) -> float:
        return self.watch_events / self.drain_s


def _for_double(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj["metadata"].items() if k not in _SERVER_FIELDS}
    return {**obj, "metadata": meta}


def _populate(double: ApiDouble, cluster: Cluster) -> None:
    """Every object created, then (for kinds with a status subresource) its status written,
    as the controllers would: the list then serves full-size objects."""
    for change in cluster.initial():
        obj = _for_double(change.obj)
        status = obj.pop("status", None)
        double.create(obj, manager="argocd-controller")
        if status is not None:
            meta = obj["metadata"]
            double.update(
                {
                    **obj,
                    "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                    "status": status,
                },
                manager="kube-controller-manager" if obj["kind"] != "Pod" else "kubelet",
                subresource="status",
            )


def _status_writes(double: ApiDouble, cluster: Cluster, count: int) -> None:
    """``count`` status changes (the bulk of a real watch stream), each a new revision."""
    rnd = cluster.rnd
    deployments, pods = cluster.deployments, cluster.pods
    for i in range(count):
        cluster.now += timedelta(seconds=1)
        target: DeploymentState | PodState
        if deployments and (not pods or i % 2 == 0):
            target = rnd.choice(deployments)
            api_version, kind, manager = "apps/v1", "Deployment", "kube-controller-manager"
        else:
            target = rnd.choice(pods)
            api_version, kind, manager = "v1", "Pod", "kubelet"
        stamp, seq = ts(cluster.now), i

        def change(o: dict[str, Any], stamp: str = stamp, seq: int = seq, kind: str = kind) -> None:
            status = o.setdefault("status", {})
            for cond in status.get("conditions") or []:
                cond["lastTransitionTime"] = stamp
                if "lastUpdateTime" in cond:
                    cond["lastUpdateTime"] = stamp
            if kind == "Deployment":
                status["readyReplicas"] = seq % 4
                status["observedGeneration"] = seq
            else:
                for cs in status.get("containerStatuses") or []:
                    cs["restartCount"] = seq
                    cs["ready"] = bool(seq % 2)

        double.patch(
            api_version,
            kind,
            target.namespace,
            target.name,
            change,
            manager=manager,
            subresource="status",
        )


class _RssMonitor(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.max_rss = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.max_rss = max(self.max_rss, self.proc.memory_info().rss)
            except psutil.Error:
                return
            self.stop.wait(0.05)


def _hwm(pid: int) -> int:
    """Peak resident set size (VmHWM) of a live process, in bytes; 0 if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _max_id(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute("SELECT max(id) FROM revisions").fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created or migrated yet
        return 0
    return int(row[0] or 0)


def _wait_count(
    db_path: Path, target: int, proc: subprocess.Popen[bytes], timeout: float, poll: float = 0.02
) -> tuple[float, float | None]:
    """Seconds until ``target`` revisions exist (and when the first one appeared)."""
    start = time.perf_counter()
    first: float | None = None
    while True:
        n = _max_id(db_path)
        now = time.perf_counter()
        if n and first is None:
            first = now - start
        if n >= target:
            return now - start, first
        if proc.poll() is not None:
            raise RuntimeError(f"recorder exited with {proc.returncode} after {n} revisions")
        if now - start > timeout:
            raise RuntimeError(f"timed out: {n:,} of {target:,} revisions after {timeout:.0f} s")
        time.sleep(poll)


def run(
    ctx: Context, *, objects: int, watch_events: int, command: list[str] | None = None
) -> RecorderRun:
    """Run the scenario once per (objects, watch_events); later callers get the same run.

    ``command`` replaces the recorder's command line (``{kubeconfig}`` and ``{db}`` are
    filled in): bench/profiles.py runs it under a profiler that way.
    """
    key = ("recorder_run", objects, watch_events)
    if key in ctx.shared and command is None:
        return ctx.shared[key]  # type: ignore[no-any-return]
    work = ctx.out / "recorder-run"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db_path = work / "tt.db"
    cluster = Cluster(
        ctx.seed,
        deployments=objects // 4,
        configmaps=objects // 4,
        pods=objects - 2 * (objects // 4),
        namespaces_count=50,
    )
    with ApiDouble(bookmark_interval=1.0) as double:
        ctx.log(f"recorder: creating {objects:,} objects in the API double")
        t = time.perf_counter()
        _populate(double, cluster)
        populate_s = time.perf_counter() - t
        kubeconfig = double.write_kubeconfig(work / "kubeconfig")
        log_path = work / "recorder.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(log_path, "wb") as log:
            t_spawn = time.perf_counter()
            argv = command or [
                PYTHON, "-m", "timetravel", "record", "--kubeconfig", "{kubeconfig}",
                "--db", "{db}", "--status-every", "0",
            ]  # fmt: skip
            proc = subprocess.Popen(
                [a.format(kubeconfig=kubeconfig, db=db_path) for a in argv],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            monitor = _RssMonitor(proc.pid)
            monitor.start()
            exit_code: int | None = None
            try:
                ctx.log("recorder: waiting for the initial list")
                list_s, first_s = _wait_count(db_path, objects, proc, timeout=300)
                list_s = time.perf_counter() - t_spawn
                rss_after_list = max(monitor.max_rss, _hwm(proc.pid))
                # The backlog: the watch streams hold still while M events pile up, then the
                # recorder drains them as fast as it can.
                time.sleep(1.0)  # let the list's ListDone reconcile finish
                base = _max_id(db_path)
                double.stall = True
                time.sleep(0.2)
                ctx.log(f"recorder: writing {watch_events:,} status changes into the double")
                _status_writes(double, cluster, watch_events)
                lines = [_event_line(ev) for ev in double._log[-watch_events:]]
                ctx.log("recorder: draining the watch backlog")
                t0 = time.perf_counter()
                double.stall = False
                with double._cond:
                    double._cond.notify_all()
                drain_s, _ = _wait_count(db_path, base + watch_events, proc, timeout=300, poll=0.01)
                drain_s = time.perf_counter() - t0
                time.sleep(0.3)
                peak = max(monitor.max_rss, _hwm(proc.pid))
                revisions = _max_id(db_path)
            finally:
                monitor.stop.set()
                if command is not None and proc.poll() is None:
                    # A wrapper (a profiler): stop the recorder under it first.
                    with contextlib.suppress(psutil.Error):
                        for child in psutil.Process(proc.pid).children(recursive=True):
                            child.send_signal(signal.SIGINT)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=5)
                if command is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=300)  # a profiler writing its report
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
                    try:
                        exit_code = proc.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                else:
                    exit_code = proc.returncode
    line_bytes = sum(map(len, lines)) / len(lines)
    raw = parse_rate(lines, orjson.loads)
    raw_json = parse_rate(lines, json.loads, repeats=2)
    result = RecorderRun(
        objects=objects,
        watch_events=watch_events,
        populate_s=populate_s,
        list_s=list_s,
        startup_s=first_s or 0.0,
        drain_s=drain_s,
        revisions=revisions,
        peak_rss=peak,
        rss_after_list=rss_after_list,
        rss_samples_max=monitor.max_rss,
        exit_code=exit_code,
        raw_parse_rate=raw,
        raw_json_rate=raw_json,
        line_bytes=line_bytes,
        log_tail=log_path.read_text(errors="replace")[-2000:],
    )
    if command is None:
        ctx.shared[key] = result
    return result

"""``record --listen ADDR``: ``/healthz``, ``/readyz`` and ``/metrics`` of a running recorder.

``/healthz`` (liveness) answers 503 when restarting the process is the cure: the writer
thread ended, or its loop has not gone round for ``STALL_AFTER`` seconds (it goes round
at least every 0.1 s when idle and after each batch, ~0.1 s for 1,000 observations on
SQLite: a minute is a write wedged, not a slow one), or a git follower died.
``/readyz`` answers 503 until every resource type has listed (before that the store
lacks objects) and while the store refuses writes (disk full, database unreachable):
the recorder holds what it sees and retries, so this is a state to alert on, not a
reason to restart. The server is a stdlib ThreadingHTTPServer in a daemon thread, bound
to the given address only; it is opened before anything else, so a bad address or a
port in use is one line and exit 2 before connecting to the cluster.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client.exposition import choose_encoder

from timetravel.errors import UserError
from timetravel.recorder.metrics import Metrics

if TYPE_CHECKING:
    from timetravel.recorder.cluster import Recorder
    from timetravel.recorder.git import GitSource

STALL_AFTER = 60.0  # seconds without the write loop going round: wedged


def parse_listen(addr: str) -> tuple[str, int]:
    """``[HOST]:PORT`` as (host, port): ``:9090`` is every interface, ``[::1]:9090`` IPv6."""
    host, sep, port = addr.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        sep = ""  # an IPv6 address without brackets: which colon is the port's?
    if not sep or not port.isdigit() or int(port) > 65535:
        raise UserError(
            f"--listen {addr!r}: expected [HOST]:PORT, like :9090, 127.0.0.1:9090 or [::1]:9090"
        )
    return host, int(port)


class Monitor:
    """What the recording process is doing, as /healthz, /readyz and /metrics tell it."""

    def __init__(self, *, stall_after: float = STALL_AFTER) -> None:
        self.stall_after = stall_after
        self.started_at = time.monotonic()
        self.recorder: Recorder | None = None
        self.git_sources: list[GitSource] = []
        self.git_threads: list[threading.Thread] = []
        self.recording = False  # set once every source is running (not standing by)
        self.metrics = Metrics(self)

    def add_recorder(self, recorder: Recorder) -> None:
        self.recorder = recorder
        recorder.on_write = self.metrics.write_timer(recorder.cluster)

    def add_git(self, source: GitSource) -> None:
        self.git_sources.append(source)

    def started(self, git_threads: list[threading.Thread]) -> None:
        """Every source runs now (backfilled, not standing by); these threads follow git."""
        self.git_threads = list(git_threads)
        self.recording = True

    def live(self) -> tuple[bool, str]:
        """Whether the process still records, and why not."""
        recorder = self.recorder
        if recorder is not None:
            if not recorder.writer_running:
                return False, "the writer thread ended"
            beat = recorder.writer_beat
            if beat is not None and time.monotonic() - beat > self.stall_after:
                return False, f"the writer is stuck ({time.monotonic() - beat:.0f} s)"
        for thread in self.git_threads:
            if not thread.is_alive():
                return False, f"following git ended ({thread.name})"
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        """Whether the store is complete and being written, and why not."""
        live, why = self.live()
        if not live:
            return False, why
        if not self.recording:
            return False, "starting"
        recorder = self.recorder
        if recorder is not None:
            if not recorder.ready.is_set():
                return False, "listing resource types"
            failing = recorder.write_failing
            if failing is not None:
                return False, f"cannot write to the store: {failing}"
        return True, "ok"


class _Handler(BaseHTTPRequestHandler):
    monitor: Monitor  # set on the subclass made for each server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every few seconds: not for the recorder's stderr

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._send(200, encoder(self.monitor.metrics.registry), content_type)
        elif path in ("/healthz", "/readyz"):
            ok, why = self.monitor.live() if path == "/healthz" else self.monitor.ready()
            self._send(200 if ok else 503, f"{why}\n".encode(), "text/plain; charset=utf-8")
        else:
            self._send(404, b"not found: try /metrics, /healthz or /readyz\n", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restart may bind while the last one's sockets linger
    allow_reuse_port = False  # never share the port with another process


class HealthServer:
    """The HTTP server of ``monitor`` on ``addr``, serving from a daemon thread."""

    def __init__(self, addr: str, monitor: Monitor) -> None:
        host, port = parse_listen(addr)
        handler = type("Handler", (_Handler,), {"monitor": monitor})
        server_class = type(
            "Server",
            (_Server,),
            {"address_family": socket.AF_INET6 if ":" in host else socket.AF_INET},
        )
        try:
            self.server = server_class((host, port), handler)
        except OSError as exc:
            raise UserError(f"--listen {addr}: {exc.strerror or exc}") from None
        self.monitor = monitor
        self.host = host
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.name = "tt-listen"
        self._thread.start()

    @property
    def url(self) -> str:
        host = self.host or "0.0.0.0"
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

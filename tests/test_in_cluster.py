"""The recorder as deploy/ runs it: in a pod, with no kubeconfig, only the service account's
environment (KUBERNETES_SERVICE_HOST/PORT, a token file and the cluster's CA), which the
real client's in-cluster loader reads. The API double serves https with a certificate made
here and enforces the shipped role; SIGTERM during steady writes (what the kubelet sends on
a rollout or a drain) ends the recorder with exit 0 well inside the grace period."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .apidouble import ApiDouble
from .recording import configmap, count, revisions, wait_for
from .test_rbac import SHIPPED

ROOT = Path(__file__).resolve().parent.parent
GRACE = 10.0  # seconds: deploy/ gives 30 (terminationGracePeriodSeconds)

# The loader reads the token and CA from fixed paths in the pod
# (/var/run/secrets/kubernetes.io/serviceaccount/); here they are a directory of the test's.
LAUNCH = """
import os, sys
from kubernetes.config import incluster_config
sa = os.environ.pop("TT_TEST_SERVICEACCOUNT_DIR")
incluster_config.SERVICE_TOKEN_FILENAME = os.path.join(sa, "token")
incluster_config.SERVICE_CERT_FILENAME = os.path.join(sa, "ca.crt")
from timetravel.cli import main
sys.argv[0] = "timetravel"
main()
"""


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its key."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate for the double's https")
    directory = tmp_path_factory.mktemp("tls")
    return {name: make_certificate(directory, name) for name in ("server", "other")}


@pytest.fixture
def double(certificates: dict[str, tuple[Path, Path]]) -> Iterator[ApiDouble]:
    with ApiDouble(bookmark_interval=0.1, rules=SHIPPED, tls=certificates["server"]) as d:
        yield d


def start_in_pod(
    double: ApiDouble, db_path: Path, tmp_path: Path, ca: Path, *extra: str
) -> subprocess.Popen[bytes]:
    """`timetravel record` with only a pod's environment: no kubeconfig, an empty HOME."""
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(double.token)
    shutil.copy(ca, account / "ca.crt")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBE", "TIMETRAVEL_", "XDG_"))}
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "data" / "config"),
        KUBERNETES_SERVICE_HOST="127.0.0.1",
        KUBERNETES_SERVICE_PORT=double.url.rsplit(":", 1)[1],
        TT_TEST_SERVICEACCOUNT_DIR=str(account),
    )
    return subprocess.Popen(
        [
            sys.executable, "-c", LAUNCH, "record", "--db", str(db_path),
            "--status-every", "0", "--read-timeout", "3", *extra,
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> tuple[float, str]:
    """SIGTERM, then the seconds until the process ended and what it wrote on stderr."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
    return time.monotonic() - sent, stderr.decode()


def test_in_cluster_service_account_records_over_https_under_the_shipped_role(
    double: ApiDouble, certificates: dict[str, tuple[Path, Path]], tmp_path: Path, db_path: Path
) -> None:
    double.create(configmap("settings"))
    proc = start_in_pod(double, db_path, tmp_path, certificates["server"][0])
    try:
        wait_for(
            lambda: ("ConfigMap", "payments", "settings", "created", 1) in revisions(db_path),
            what="the first list, in-cluster",
        )
        wait_for(
            lambda: any(
                r.verb == "watch" and r.path == "/api/v1/configmaps" for r in double.requests
            ),
            what="the configmaps watch",
        )
        double.create(configmap("later"))
        wait_for(
            lambda: ("ConfigMap", "payments", "later", "created", 0) in revisions(db_path),
            what="a create, by watch",
        )
    finally:
        _, stderr = stop(proc)
    assert proc.returncode == 0, stderr
    assert double.url.startswith("https://")
    assert double.forbidden == [], "the shipped role allowed every request"
    assert {r.verb for r in double.requests} == {"get", "list", "watch"}
    server = f"https://127.0.0.1:{double.url.rsplit(':', 1)[1]}"
    assert count(db_path, f"SELECT count(*) FROM clusters WHERE server = '{server}'") == 1
    assert not (tmp_path / "home").exists() or list((tmp_path / "home").iterdir()) == []


def test_in_cluster_checks_the_servers_certificate_against_the_service_account_ca(
    double: ApiDouble, certificates: dict[str, tuple[Path, Path]], tmp_path: Path, db_path: Path
) -> None:
    double.create(configmap("settings"))
    proc = start_in_pod(double, db_path, tmp_path, certificates["other"][0], "--verbose")
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or []), daemon=True)
    reader.start()
    try:
        # discovery is refused on the handshake, before any request reaches the server
        wait_for(
            lambda: b"CERTIFICATE_VERIFY_FAILED" in b"".join(lines), timeout=60, what="refusal"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        reader.join(timeout=5)
    stderr = b"".join(lines).decode()
    assert "Traceback" not in stderr, stderr
    assert double.requests == []
    assert revisions(db_path) == []


def test_sigterm_during_steady_writes_flushes_and_exits_0_within_the_grace_period(
    double: ApiDouble, certificates: dict[str, tuple[Path, Path]], tmp_path: Path, db_path: Path
) -> None:
    for i in range(20):
        double.create(configmap(f"cm{i}"))
    writing = threading.Event()
    writes = 0

    def write_steadily() -> None:
        nonlocal writes
        while writing.is_set():
            value = str(writes)  # every write changes its ConfigMap
            double.patch(
                "v1",
                "ConfigMap",
                "payments",
                f"cm{writes % 20}",
                lambda o, value=value: o["data"].update(n=value),
                manager="kubectl-edit",
            )
            writes += 1
            time.sleep(0.005)

    proc = start_in_pod(double, db_path, tmp_path, certificates["server"][0])
    writer = threading.Thread(target=write_steadily, daemon=True)
    try:
        wait_for(lambda: count(db_path, "SELECT count(*) FROM revisions") >= 20, what="the list")
        writing.set()
        writer.start()
        wait_for(
            lambda: count(db_path, "SELECT count(*) FROM revisions") >= 120,
            what="a hundred updates, by watch",
        )
    finally:
        elapsed, stderr = stop(proc)
        writing.clear()
        writer.join(timeout=5)
    assert writes >= 100, "the writes went on until the end"
    assert proc.returncode == 0, stderr
    assert elapsed < GRACE, f"{elapsed:.1f} s from SIGTERM to exit"
    assert count(db_path, "SELECT count(*) FROM recorder_state WHERE stopped_at IS NOT NULL") >= 1
    # what was received is written: an update stored for every watch event the last line
    # says arrived (each write changed its ConfigMap)
    final = stderr.strip().splitlines()[-1]
    match = re.search(
        r"timetravel: stopped in-cluster \(https://[^)]+\): .*?([\d,]+) events, ([\d,]+) revisions",
        final,
    )
    assert match, final
    events, written = (int(g.replace(",", "")) for g in match.groups())
    updates = [r for r in revisions(db_path) if r[3] == "updated"]
    assert events >= 100 and len(updates) == events, final
    assert count(db_path, "SELECT count(*) FROM revisions") == written == 20 + events
    assert "Traceback" not in stderr, stderr

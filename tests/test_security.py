"""Security: no Secret value anywhere, the hash key stays in the database, private files,
read-only cluster access, no shell, nothing read through a link out of the repository.

docs/RELIABILITY.md lists each check with the test that shows it.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import json
import os
import signal
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from timetravel.domain.model import ResourceKey
from timetravel.query.screen import ScreenData
from timetravel.recorder.git import GitSource
from timetravel.store import codec
from timetravel.store.db import open_database, redaction_key
from timetravel.store.gitstore import GitStore, SqliteBlobCache
from timetravel.store.reader import Reader

from .apidouble import ApiDouble
from .gitrepo import GitOpsRepo
from .recording import count, wait_for

PACKAGE = Path(__file__).resolve().parent.parent / "timetravel"
END = "9999-12-31T23:59:59.999999Z"

# Values no byte of which may be kept: Secret data (base64 on the wire), stringData, and the
# copies kubectl puts in last-applied-configuration; the same for the value after rotation,
# and for a Secret declared in git.
PASSWORD = "hunter2-Sup3rS3cretPassw0rd"
ROTATED = "r0tated-N3wS3cretPassw0rd"
TOKEN = "tok-7f3c9a1be0d24c5f8a6b"
APPLIED_ONLY = "applied-0nlyS3cretValue"
GIT_SECRET = "g1t-Declared-S3cretValue"
SECRETS = [PASSWORD, ROTATED, TOKEN, APPLIED_ONLY, GIT_SECRET]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def forms(value: str) -> list[str]:
    """A value as it may appear: itself, base64 as in ``data``, and in JSON-escaped text."""
    return [value, b64(value), json.dumps(value)[1:-1]]


def leaks(text: str, values: list[str] = SECRETS) -> list[str]:
    return [v for v in values if any(f in text for f in forms(v))]


def secret(name: str, password: str) -> dict[str, Any]:
    applied = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "payments"},
        "data": {"password": b64(password)},
        "stringData": {"token": TOKEN, "extra": APPLIED_ONLY},
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": "payments",
            "labels": {"app": "payments"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)
            },
        },
        "type": "Opaque",
        "data": {"password": b64(password)},
        # As a client may send it; the double keeps it as sent.
        "stringData": {"token": TOKEN},
    }


def git_repo_with_a_secret(path: Path) -> GitOpsRepo:
    repo = GitOpsRepo(path)
    repo.write(
        "payments/secret.yaml",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "namespace": "payments"},
            "stringData": {"password": GIT_SECRET},
        },
    )
    repo.write(
        "payments/settings.yaml",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "payments"},
            "data": {"mode": "strict"},
        },
    )
    repo.commit("payments", datetime(2026, 11, 19, 9, 0, tzinfo=UTC))
    return repo


def everything_in(db_path: Path) -> str:
    """Every fact in the database as text: revisions and desired sets decoded, the parse cache
    decompressed, every other value as stored, and the raw bytes of the files besides."""
    db = open_database(db_path, readonly=True)
    parts: list[str] = []
    try:
        for record in Reader(db).changes_between("0001-01-01T00:00:00.000000Z", END):
            parts.append(json.dumps([record.obj, record.managed_fields]))
        store = GitStore(db)
        for repo in store.repos():
            for (sha,) in db.execute("SELECT sha FROM desired_sets WHERE repo_id = ?", [repo.id]):
                stored = store.desired_set(repo.id, sha)
                assert stored is not None
                parts.append(json.dumps([stored.objects, stored.errors]))
        cache = SqliteBlobCache(db)
        for (key,) in db.execute("SELECT key FROM manifest_cache"):
            parsed = cache.get(str(key).split(":", 1)[-1])
            parts.append(parsed.to_json() if parsed else "")
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f"SELECT * FROM [{table}]"):
                for value in row:
                    if isinstance(value, bytes):
                        try:
                            parts.append(
                                codec.decompress_keyframe(value).decode("utf-8", "replace")
                            )
                        except Exception:
                            parts.append(value.decode("utf-8", "replace"))
                    else:
                        parts.append(str(value))
    finally:
        db.conn.close()
    for suffix in ("", "-wal", "-shm"):
        file = Path(f"{db_path}{suffix}")
        if file.exists():
            parts.append(file.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def hash_key(db_path: Path) -> str:
    """The key the recorder hashed Secret values with (outside the database: the recorder
    ran with this process's environment, so it is in the same key directory)."""
    db = open_database(db_path)
    try:
        return redaction_key(db).key.hex()
    finally:
        db.conn.close()


def key_forms(key_hex: str) -> list[str]:
    raw = bytes.fromhex(key_hex)
    return [key_hex, key_hex.upper(), base64.b64encode(raw).decode(), raw.decode("latin-1")]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "timetravel", *args],
        capture_output=True,
        timeout=timeout,
        check=False,
    )


# `timetravel record` under umask 000: the files must be private whatever the umask. (Set in
# the child itself: a preexec_fn is not safe with the API double's threads running.)
_UMASK_0 = (
    "import os, runpy, sys; os.umask(0); sys.argv = ['timetravel', *sys.argv[1:]]; "
    "runpy.run_module('timetravel', run_name='__main__')"
)


def start_recorder(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _UMASK_0, "record", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A database written by `timetravel record --verbose` (cluster and git) through faults:
    Secrets created, rotated and deleted, a Secret in git. Its logs are kept."""
    tmp = tmp_path_factory.mktemp("secure")
    db_path = tmp / "tt.db"
    repo = git_repo_with_a_secret(tmp / "repo")
    with ApiDouble(bookmark_interval=0.2) as double:
        double.create(secret("db", PASSWORD), manager="kubectl-client-side-apply")
        double.create(secret("old", PASSWORD), manager="kubectl-client-side-apply")
        double.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "payments"},
                "data": {"mode": "strict"},
            }
        )
        kubeconfig = double.write_kubeconfig(tmp / "kubeconfig")
        proc = start_recorder(
            "--db", str(db_path), "--kubeconfig", str(kubeconfig), "--repo", str(repo.path),
            "--verbose", "--status-every", "0.2", "--read-timeout", "2",
        )  # fmt: skip
        modes: dict[str, int] = {}
        try:
            wait_for(lambda: count(db_path, "SELECT count(*) FROM revisions") >= 3, what="the list")
            for suffix in ("", "-wal", "-shm"):
                modes[suffix] = stat.S_IMODE(os.stat(f"{db_path}{suffix}").st_mode)
            double.patch(
                "v1", "Secret", "payments", "db",
                lambda o: o["data"].update(password=b64(ROTATED)), manager="kubectl-edit",
            )  # fmt: skip
            double.drop_watches()  # errors for --verbose to report
            double.fail_next(2, 500)
            double.delete("v1", "Secret", "payments", "old")
            wait_for(lambda: count(db_path, "SELECT count(*) FROM revisions") >= 5, what="edits")
            time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=60)
        verbs = {(r.method, r.verb) for r in double.requests}
    assert proc.returncode == 0, stderr.decode()
    yield {
        "db": db_path,
        "tmp": tmp,
        "logs": (stdout + stderr).decode("utf-8", "replace"),
        "modes": modes,
        "verbs": verbs,
    }


def test_no_secret_value_in_the_database(recorded: dict[str, Any]) -> None:
    text = everything_in(recorded["db"])
    assert "redacted:" in text, "Secrets must be recorded, as hashes"
    assert not leaks(text)
    # A rotation is still a visible change: two different hashes for the password.
    db = open_database(recorded["db"], readonly=True)
    history = [
        r for r in Reader(db).changes_between("0001-01-01T00:00:00.000000Z", END)
        if r.key.kind == "Secret" and r.key.name == "db"
    ]  # fmt: skip
    db.conn.close()
    hashes = [r.obj["data"]["password"] for r in history]
    assert (
        len(hashes) == 2
        and hashes[0] != hashes[1]
        and all(h.startswith("redacted:") for h in hashes)
    )
    applied = json.loads(
        history[-1].obj["metadata"]["annotations"][
            "kubectl.kubernetes.io/last-applied-configuration"
        ]
    )
    assert applied["stringData"]["extra"].startswith("redacted:")


def test_no_secret_value_or_hash_key_in_the_logs(recorded: dict[str, Any]) -> None:
    logs = recorded["logs"]
    assert "timetravel: " in logs and "error" in logs, "--verbose must have reported the faults"
    assert not leaks(logs)
    assert not any(k in logs for k in key_forms(hash_key(recorded["db"])))


@pytest.mark.parametrize("fmt", ["json", "markdown", "html", "bundle"])
def test_no_secret_value_or_hash_key_in_any_export(
    recorded: dict[str, Any], fmt: str, tmp_path: Path
) -> None:
    db_path = recorded["db"]
    texts = []
    for at in ("now", (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")):
        if fmt == "bundle":
            out = tmp_path / f"b{len(texts)}.tar.gz"
            result = run_cli(
                "export",
                "--db",
                str(db_path),
                "--at",
                at,
                "--window",
                "1d",
                "--format",
                fmt,
                "-o",
                str(out),
            )
            assert result.returncode == 0, result.stderr.decode()
            with tarfile.open(out) as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        texts.append(tar.extractfile(member).read().decode("utf-8", "replace"))  # type: ignore[union-attr]
        else:
            result = run_cli(
                "export", "--db", str(db_path), "--at", at, "--window", "1d", "--format", fmt
            )
            assert result.returncode == 0, result.stderr.decode()
            texts.append(result.stdout.decode("utf-8", "replace"))
    text = "\n".join(texts)
    assert "Secret" in text and "payments" in text, "the Secret itself is shown"
    assert not leaks(text)
    assert not any(k in text for k in key_forms(hash_key(db_path)))


def test_no_secret_value_or_hash_key_on_the_screen(recorded: dict[str, Any]) -> None:
    from tests.fixtures.pilot import settle
    from timetravel.tui.app import TimetravelApp

    db_path = recorded["db"]
    key = hash_key(db_path)
    data = ScreenData(db_path)
    secret_key = ResourceKey("double", "", "Secret", "payments", "db")
    app = TimetravelApp(data, live=False, tz=UTC, select=secret_key, export_dir=recorded["tmp"])
    screens: list[str] = []

    async def main() -> None:
        async with app.run_test(size=(200, 60)) as pilot:
            await settle(pilot)
            assert app.selected == secret_key
            for keys in ((), ("d",), ("z",), ("d",)):  # side by side, unified, with noise
                for k in keys:
                    await pilot.press(k)
                await settle(pilot)
                screens.append(app.export_screenshot())

    asyncio.run(main())
    text = "\n".join(screens).replace("&#160;", " ")
    assert not leaks(text)
    assert "redacted:" in text, "the Secret's fields must be on the screen, as hashes"
    assert not any(k in text for k in key_forms(key))


def test_database_files_are_private(recorded: dict[str, Any]) -> None:
    # Created by the recorder under umask 000: still 0600, and so are SQLite's -wal and -shm.
    assert recorded["modes"] == {"": 0o600, "-wal": 0o600, "-shm": 0o600}


def test_recorder_only_gets_lists_and_watches(recorded: dict[str, Any]) -> None:
    methods = {method for method, _ in recorded["verbs"]}
    verbs = {verb for _, verb in recorded["verbs"]}
    assert methods == {"GET"}
    assert verbs <= {"get", "list", "watch"} and {"list", "watch"} <= verbs


# --- code that runs other programs -------------------------------------------------------------

_SUBPROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output"}
_SHELLS = {
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
}


def test_external_tools_are_run_with_argument_lists_never_a_shell() -> None:
    problems: list[str] = []
    calls = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "subprocess":
                # Called by bare name, a call would escape the checks below.
                hidden = {a.name for a in node.names} & (_SUBPROCESS_CALLS | {"getoutput"})
                if hidden:
                    problems.append(f"{path.name}:{node.lineno}: from subprocess import {hidden}")
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = (
                func.value.id
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                else ""
            )
            if (owner, name) in _SHELLS or name in ("create_subprocess_shell", "system", "popen"):
                problems.append(f"{where}: {owner}.{name}")
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    problems.append(f"{where}: shell={ast.unparse(keyword.value)}")
            if owner == "subprocess" and name in _SUBPROCESS_CALLS:
                calls += 1
                first = (
                    node.args[0]
                    if node.args
                    else next((k.value for k in node.keywords if k.arg == "args"), None)
                )
                if isinstance(first, ast.Constant | ast.JoinedStr | ast.BinOp):
                    problems.append(f"{where}: a command line as one string")
    assert not problems, problems
    assert calls >= 2, "the scan must see the git and renderer calls"


# --- links out of the repository ------------------------------------------------------------------


def test_nothing_outside_the_repository_is_read_through_a_link(tmp_path: Path) -> None:
    marker = "0utside-The-Rep0sitory-Marker"
    outside = tmp_path / "outside"
    (outside / "app").mkdir(parents=True)
    cm = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leaked\n  namespace: x\ndata:\n  m: {marker}\n"
    (outside / "cm.yaml").write_text(cm)
    (outside / "app" / "cm.yaml").write_text(cm)
    (outside / "app" / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
    (outside / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: leaked\nversion: 0.1.0\ndescription: {marker}\n"
    )
    repo = git_repo_with_a_secret(tmp_path / "repo")
    links = {
        "file.yaml": str(outside / "cm.yaml"),
        "relative.yaml": "../outside/cm.yaml",
        "apps/dir": str(outside / "app"),  # a whole kustomization directory out
        "apps/kustomize/kustomization.yaml": str(outside / "app" / "kustomization.yaml"),
        "apps/kustomize/cm.yaml": "../../../outside/cm.yaml",
        "charts/leaked": str(outside),
        "timetravel.toml": str(outside / "cm.yaml"),
    }
    for relpath, target in links.items():
        link = repo.path / relpath
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
    (repo.path / "apps" / "overlay").mkdir(parents=True)
    (repo.path / "apps" / "overlay" / "kustomization.yaml").write_text(
        "resources:\n- ../dir\n- ../kustomize\n"
    )
    repo.commit("links out", datetime(2026, 11, 19, 10, 0, tzinfo=UTC))
    db_path = tmp_path / "tt.db"
    source = GitSource(
        db_path, repo.path, clock=lambda: "2026-11-19T11:00:00.000000Z", progress=False
    )
    assert source.sync() == 2
    text = everything_in(db_path)
    assert marker not in text and "leaked" not in text.replace("not followed", "")
    assert "settings" in text, "what is inside the repository is read"
    assert not leaks(text, [GIT_SECRET])

"""Bad input: each case gives one clear line (or a reported skip) and loses nothing else.

docs/RELIABILITY.md lists each case with the test that shows it.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from timetravel.domain.normalize import normalize
from timetravel.recorder.events import import_events
from timetravel.recorder.git import GitSource
from timetravel.sources import events_file
from timetravel.store.db import open_database, redaction_key
from timetravel.store.gitstore import GitStore
from timetravel.store.reader import Reader

from .apidouble import ApiDouble
from .apidouble.server import _Handler
from .gitrepo import GitOpsRepo
from .recording import configmap as plain_configmap
from .recording import count, recording, revisions, wait_for

END = "9999-12-31T23:59:59.999999Z"
AUDIT_EVENT = {
    "kind": "Event",
    "apiVersion": "audit.k8s.io/v1",
    "level": "Metadata",
    "auditID": "5b0a7f0e-0d55-4bcd-9d23-2b5f8f1c7a01",
    "stage": "ResponseComplete",
    "requestURI": "/apis/apps/v1/namespaces/payments/deployments/api?fieldManager=kubectl-edit",
    "verb": "patch",
    "user": {"username": "dana@example.com", "groups": ["system:authenticated"]},
    "userAgent": "kubectl/v1.31.0",
    "objectRef": {
        "resource": "deployments",
        "namespace": "payments",
        "name": "api",
        "apiGroup": "apps",
        "apiVersion": "v1",
    },
    "responseStatus": {"metadata": {}, "code": 200},
    "requestReceivedTimestamp": "2026-11-19T21:30:00.000000Z",
    "stageTimestamp": "2026-11-19T21:30:00.100000Z",
}


def run_cli(
    *args: str, stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m timetravel ARGS`` in its own process group: on a timeout the whole group
    is killed, so a child it started cannot keep the pipes (and the test) open."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "timetravel", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, "TIMETRAVEL_DB": "/nonexistent/never-used.db"},
    )
    try:
        out, err = proc.communicate(stdin or b"", timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    )


def configmap(name: str, rv: str, namespace: str = "payments", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": rv,
            "uid": f"uid-{name}",
        },
        "data": data or {"k": "v"},
    }


def event_line(kind: str, obj: dict[str, Any], at: str = "2026-11-19T21:00:00Z") -> str:
    return json.dumps({"type": kind, "object": obj, "observed_at": at})


# --- databases that are not ours, or not whole --------------------------------------------------


def _recorded(path: Path) -> Path:
    db = open_database(path)
    lines = [event_line("ADDED", configmap(f"cm{i}", str(i), k="x" * 2000)) for i in range(200)]
    import_events(db, lines, cluster="prod")
    db.conn.close()
    return path


def make_bad_database(kind: str, path: Path) -> Path:
    if kind == "garbage":
        path.write_bytes(os.urandom(64 * 1024))
    elif kind == "foreign":
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
        conn.commit()
        conn.close()
    elif kind == "newer":
        db = open_database(_recorded(path))
        with db.conn:
            db.execute(
                "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                "VALUES ('timetravel', 'm999_from_the_future', '2030-01-01')"
            )
        db.conn.close()
    elif kind == "damaged":
        # A real database whose first page is intact but whose other pages are overwritten:
        # it opens, and breaks on the first query that reads a damaged page.
        _recorded(path)
        data = bytearray(path.read_bytes())
        page = 4096
        for offset in range(page, len(data), page):
            data[offset : offset + 64] = os.urandom(64)
        path.write_bytes(bytes(data))
    elif kind == "damaged-inside":
        # Only the later half of the pages overwritten: opening succeeds, the first query
        # that reads one (in an export, an import, the recorder's writer) finds the damage.
        _recorded(path)
        data = bytearray(path.read_bytes())
        pages = len(data) // 4096
        for page in range(pages // 2, pages):
            data[page * 4096 : (page + 1) * 4096] = os.urandom(4096)
        path.write_bytes(bytes(data))
    elif kind == "truncated":
        _recorded(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    else:  # pragma: no cover
        raise ValueError(kind)
    return path


BAD_DATABASES = ["garbage", "foreign", "newer", "damaged", "damaged-inside", "truncated"]
COMMANDS = ["export", "import-events", "record", "ui", "import-audit"]


def command_args(
    command: str, db: Path, tmp_path: Path, double: ApiDouble | None = None
) -> tuple[list[str], bytes | None]:
    if command == "export":
        return ["export", "--db", str(db), "--at", "now", "--format", "json"], None
    if command == "import-events":
        return ["import-events", "--db", str(db), "-"], event_line(
            "ADDED", configmap("new", "9001")
        ).encode()
    if command == "record":
        assert double is not None
        kubeconfig = double.write_kubeconfig(tmp_path / "kubeconfig")
        return ["record", "--db", str(db), "--kubeconfig", str(kubeconfig)], None
    if command == "ui":
        return ["ui", "--no-record", "--db", str(db)], None
    audit = tmp_path / "audit.log"
    audit.write_text(json.dumps(AUDIT_EVENT) + "\n")
    return ["import-audit", "--db", str(db), str(audit)], None


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        pytest.param(
            command,
            kind,
        )
        for command in COMMANDS
        for kind in BAD_DATABASES
    ],
)
def test_bad_database_is_one_line_exit_2_and_left_untouched(
    kind: str, command: str, tmp_path: Path
) -> None:
    db = make_bad_database(kind, tmp_path / "bad.db")
    before = db.read_bytes()
    with ApiDouble() as double:  # record must get as far as writing
        args, stdin = command_args(command, db, tmp_path, double)
        try:
            result = run_cli(*args, stdin=stdin, timeout=5 if command == "ui" else 60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{command} did not exit on a {kind} database") from None
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("timetravel: error: "), result.stderr
    assert str(db) in lines[0]
    assert db.read_bytes() == before, "a refused database must not be written to"
    print(f"\n{kind:>9} {command:<13} {lines[0]}")


# --- a GitOps repository full of bad files ---------------------------------------------------------


def cm_yaml(name: str, **data: str) -> str:
    body = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in (data or {"k": "v"}).items())
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: apps\ndata:\n{body}"


@pytest.mark.slow
def test_bad_files_in_git_are_one_line_errors_and_the_rest_is_recorded(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(cm_yaml("from-outside", token="must-not-be-read"))
    repo = GitOpsRepo(tmp_path / "repo")
    files: dict[str, bytes] = {
        "good/one.yaml": cm_yaml("one").encode(),
        "good/two.yaml": cm_yaml("two").encode(),
        "bad/malformed.yaml": b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [unclosed\n",
        "bad/duplicate.yaml": (cm_yaml("dup") + "metadata:\n  name: again\n").encode(),
        "bad/binary.yaml": b"apiVersion: v1\nkind: ConfigMap\x00\x01\x02" + os.urandom(256),
        "bad/latin1.yaml": (cm_yaml("latin") + "  city: Z\u00fcrich\n").encode("latin-1"),
        "bad/half.json": b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"na',
        # A unicode path and unicode content: read as any other file.
        "unicode/caf\u00e9-\u2615.yaml": cm_yaml(
            "cafe",
            note="\u2615 \u00fcn\u00efc\u00f6d\u00e9 \u65e5\u672c\u8a9e \u05e9\u05dc\u05d5\u05dd",
        ).encode(),
    }
    for relpath, data in files.items():
        target = repo.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    # A file name that is not UTF-8 (git keeps bytes): its objects are read all the same.
    (repo.path / "unicode").joinpath(os.fsdecode(b"raw-\xff.yaml")).write_bytes(
        cm_yaml("raw-name").encode()
    )
    # 50 MB: refused by its size before it is read.
    with open(repo.path / "bad" / "huge.yaml", "wb") as handle:
        line = b"# " + b"x" * 1021 + b"\n"
        for _ in range(50 * 1024):
            handle.write(line)
    links = {
        "links/loop-a.yaml": "loop-b.yaml",
        "links/loop-b.yaml": "loop-a.yaml",
        "links/self.yaml": "self.yaml",
        "links/absolute.yaml": str(outside / "secret.yaml"),
        "links/relative.yaml": "../../outside/secret.yaml",
        "links/dir-out": "../../outside",
        "links/through-dir-out.yaml": "dir-out/secret.yaml",
        "links/inside.yaml": "../good/one.yaml",
    }
    for relpath, target in links.items():
        link = repo.path / relpath
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)
    # With git itself: GitPython's index cannot hold a file name that is not UTF-8.
    stamp = "2026-11-19T09:00:00+00:00"
    subprocess.run(["git", "-C", str(repo.path), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo.path), "commit", "-q", "-m", "everything at once"],
        check=True,
        env={**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp},
    )
    sha = repo.repo.head.commit.hexsha

    db_path = tmp_path / "tt.db"
    source = GitSource(
        db_path, repo.path, clock=lambda: "2026-11-19T10:00:00.000000Z", progress=False
    )
    assert source.sync() == 1
    assert source.errors == []
    db = open_database(db_path, readonly=True)
    store = GitStore(db)
    desired = store.desired_set(store.repos()[0].id, sha)
    db.conn.close()
    assert desired is not None
    objects = {(o["path"], o["obj"]["metadata"]["name"]) for o in desired.objects}
    errors = {e["path"]: e["message"] for e in desired.errors}
    # Nothing lost: every readable object is there, the link inside the repository followed.
    assert objects == {
        ("good/one.yaml", "one"),
        ("good/two.yaml", "two"),
        ("links/inside.yaml", "one"),
        ("unicode/caf\u00e9-\u2615.yaml", "cafe"),
        (
            os.fsdecode(b"unicode/raw-\xff.yaml")
            .encode("utf-8", "surrogateescape")
            .decode("utf-8", "replace"),
            "raw-name",
        ),
    }
    cafe = next(o for o in desired.objects if o["obj"]["metadata"]["name"] == "cafe")
    assert cafe["obj"]["data"]["note"].startswith("\u2615 \u00fcn\u00efc\u00f6d\u00e9")
    # Nothing read through a link out of the repository.
    assert "must-not-be-read" not in json.dumps(desired.objects)
    expected = {
        "bad/malformed.yaml": "invalid YAML at line",
        "bad/duplicate.yaml": "duplicate key 'metadata'",
        "bad/binary.yaml": "binary file",
        "bad/latin1.yaml": "not valid UTF-8",
        "bad/half.json": "invalid JSON at line 1",
        "bad/huge.yaml": "over the 4 MiB limit",
        "links/loop-a.yaml": "symlink loop",
        "links/loop-b.yaml": "symlink loop",
        "links/self.yaml": "symlink loop",
        "links/absolute.yaml": "symlink pointing outside the repository",
        "links/relative.yaml": "symlink pointing outside the repository",
        "links/through-dir-out.yaml": "symlink pointing outside the repository",
    }
    assert set(errors) == set(expected), errors
    for path, fragment in expected.items():
        assert fragment in errors[path], (path, errors[path])
        assert "\n" not in errors[path] and len(errors[path]) < 300, errors[path]
    print("\n" + "\n".join(f"{p}: {m}" for p, m in sorted(errors.items())))


# --- big and unicode objects, recorded and exported -----------------------------------------------


def export_json(db_path: Path, at: str = "now") -> dict[str, Any]:
    result = run_cli(
        "export", "--db", str(db_path), "--at", at, "--format", "json", "--window", "1d"
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_1_5_mb_configmap_is_recorded_and_exported_intact(tmp_path: Path) -> None:
    rng = random.Random(15)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/\n"
    blob = "".join(rng.choice(alphabet) for _ in range(1_500_000))
    changed = blob[:700_000] + "EDITED" + blob[700_006:]
    db_path = tmp_path / "tt.db"
    with ApiDouble(bookmark_interval=0.1) as double:
        double.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "big", "namespace": "apps"},
                "data": {"blob": blob},
            }
        )
        with recording(double, db_path, tmp_path, resources=["configmaps"]):
            wait_for(lambda: count(db_path, "SELECT count(*) FROM revisions") == 1, what="the list")
            between = datetime.now(UTC)
            time.sleep(0.05)
            double.patch(
                "v1",
                "ConfigMap",
                "apps",
                "big",
                lambda o: o["data"].update(blob=changed),
                manager="kubectl-edit",
            )
            wait_for(lambda: count(db_path, "SELECT count(*) FROM revisions") == 2, what="the edit")
    db = open_database(db_path, readonly=True)
    history = Reader(db).changes_between("0001-01-01T00:00:00.000000Z", END)
    db.conn.close()
    assert [r.obj["data"]["blob"] == v for r, v in zip(history, (blob, changed), strict=True)] == [
        True,
        True,
    ]
    now = export_json(db_path)
    before = export_json(db_path, between.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    for snapshot, expected in ((now, changed), (before, blob)):
        (big,) = [r for r in snapshot["resources"] if r["name"] == "big"]
        assert big["actual"]["data"]["blob"] == expected
    # The bundle carries the same object, whole.
    bundle = tmp_path / "bundle.tar.gz"
    result = run_cli(
        "export", "--db", str(db_path), "--at", "now", "--format", "bundle", "-o", str(bundle)
    )
    assert result.returncode == 0, result.stderr
    with tarfile.open(bundle) as tar:
        texts = [
            tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile() and m.name.endswith(".json")
        ]
    assert any(changed in text.replace("\\n", "\n") for text in texts)


UNICODE_NAMES = [
    "caf\u00e9-\u2615",
    "\u65e5\u672c\u8a9e",
    "emoji-\U0001f680",
    "rtl-\u05e9\u05dc\u05d5\u05dd",
    "zero\u200bwidth",
]


def test_unicode_names_are_recorded_and_exported_exactly(tmp_path: Path) -> None:
    db_path = tmp_path / "tt.db"
    with (
        ApiDouble(bookmark_interval=0.1) as double,
        recording(double, db_path, tmp_path, resources=["configmaps"]),
    ):
        for name in UNICODE_NAMES:
            double.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": name,
                        "namespace": "\u00e9quipe",
                        "labels": {"owner": "\u00c5sa"},
                    },
                    "data": {f"{name}.txt": f"{name} \u2603"},
                }
            )
        wait_for(
            lambda: count(db_path, "SELECT count(*) FROM revisions") == len(UNICODE_NAMES),
            what="all",
        )
    snapshot = export_json(db_path)
    shown = {r["name"]: r for r in snapshot["resources"] if r["namespace"] == "\u00e9quipe"}
    assert set(shown) == set(UNICODE_NAMES)
    for name, resource in shown.items():
        assert resource["actual"]["data"] == {f"{name}.txt": f"{name} \u2603"}
        assert resource["actual"]["metadata"]["labels"] == {"owner": "\u00c5sa"}
    for fmt in ("markdown", "html"):
        result = run_cli("export", "--db", str(db_path), "--at", "now", "--format", fmt)
        assert result.returncode == 0, result.stderr
        assert all(name in result.stdout for name in UNICODE_NAMES), fmt


# --- truncated and garbage streams ------------------------------------------------------------------


def test_truncated_import_events_reports_the_cut_and_keeps_the_rest(tmp_path: Path) -> None:
    db_path = tmp_path / "tt.db"
    lines = [event_line("ADDED", configmap(f"cm{i}", str(i + 1))) for i in range(50)]
    cut_middle = lines[20][: len(lines[20]) // 2]  # a line cut short, then the stream goes on
    cut_end = lines[49][: len(lines[49]) // 3]  # and the last record cut off
    data = "\n".join([*lines[:20], cut_middle, *lines[21:49], cut_end]).encode()
    result = run_cli("import-events", "--db", str(db_path), "--quiet", "-", stdin=data)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "48 revisions written" in result.stderr and "2 skipped" in result.stderr, result.stderr
    assert (
        "line 21:" in result.stderr and "line 50: truncated record at end of input" in result.stderr
    )
    db = open_database(db_path, readonly=True)
    names = {r.key.name for r in Reader(db).state_at(END)}
    db.conn.close()
    assert names == {f"cm{i}" for i in range(50)} - {"cm20", "cm49"}


def test_truncated_and_garbage_watch_streams_lose_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API double's stream is cut in the middle of an event, once ending the chunked
    # response cleanly (the client sees half a line) and once dropping the connection; and
    # an event without a name is slipped in. The recorder watches again from the last whole
    # event: the cut event comes again, the nameless one is skipped.
    plan = ["clean", "garbage", "abrupt", "clean", "abrupt"]
    real = _Handler._chunks

    def chunks(self: _Handler, lines: list[bytes]) -> None:
        if plan and lines and b'"type":"MODIFIED"' in lines[0] and "configmaps" in self.path:
            how = plan.pop(0)
            if how == "garbage":
                bad = b'{"type":"MODIFIED","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}}\n'
                return real(self, [bad, *lines])
            half = lines[0][: len(lines[0]) // 2]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(half), half))
            if how == "clean":
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            raise OSError(f"test: stream cut ({how})")
        return real(self, lines)

    monkeypatch.setattr(_Handler, "_chunks", chunks)
    db_path = tmp_path / "tt.db"
    with ApiDouble(bookmark_interval=0.1) as double:
        for i in range(10):
            double.create(configmap(f"cm{i}", ""))
        with recording(double, db_path, tmp_path, resources=["configmaps"]) as recorder:
            wait_for(
                lambda: count(db_path, "SELECT count(*) FROM revisions") == 10, what="the list"
            )
            edits = []
            for round_ in range(3):
                for i in range(10):
                    edits.append(
                        double.patch(
                            "v1",
                            "ConfigMap",
                            "payments",
                            f"cm{i}",
                            lambda o, r=round_: o["data"].update(k=f"v{r}"),
                            manager="kubectl-edit",
                        )
                    )
                time.sleep(0.2)
            wait_for(
                lambda: count(db_path, "SELECT count(*) FROM revisions") >= 40, what="every edit"
            )
            time.sleep(0.3)
            assert not plan, f"faults not injected: {plan}"
            assert recorder.stats.errors >= 5
        db = open_database(db_path, readonly=True)
        key = redaction_key(db)
        stored = Reader(db).changes_between("0001-01-01T00:00:00.000000Z", END)
        db.conn.close()
    # Exactly the 10 listed objects and the 30 edits, each once, with the right content.
    assert len(stored) == 40
    watched = {r.resource_version: r for r in stored if not r.inferred}
    assert len(watched) == 30
    for edit in edits:
        record = watched[edit["metadata"]["resourceVersion"]]
        assert record.change == "updated" and record.obj == normalize(edit, key)


def test_garbage_lines_in_an_audit_log_are_listed_and_the_rest_imported(tmp_path: Path) -> None:
    good = []
    for i in range(5):
        good.append({**AUDIT_EVENT, "auditID": f"5b0a7f0e-0d55-4bcd-9d23-2b5f8f1c7a{i:02d}"})
    lines: list[bytes] = [
        json.dumps(good[0]).encode(),
        b"\xff\xfe garbage \x00\x01",  # not UTF-8
        json.dumps(good[1]).encode(),
        json.dumps(good[2]).encode()[:80],  # cut short
        b'{"kind": 0}',
        b"[1, 2, 3]",
        json.dumps(good[3]).encode(),
        b"",  # blank lines are fine
        b"plain text in the middle of the log",
        json.dumps(good[4]).encode(),
    ]
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    db_path = tmp_path / "tt.db"
    result = run_cli("import-audit", "--db", str(db_path), "--quiet", str(log))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("imported 4 audit events"), result.stderr
    # Each bad line is listed with its number (a JSON array is read as a batch of events,
    # so its three numbers are three bad entries of line 6).
    listed = {int(m) for m in re.findall(r"^  line (\d+): ", result.stderr, re.MULTILINE)}
    assert listed == {2, 4, 5, 6, 9}, result.stderr
    stored = count(db_path, "SELECT count(*) FROM audit_events")
    ids = {r for r in _column(db_path, "SELECT audit_id FROM audit_events")}
    assert stored == 4 and ids == {good[i]["auditID"] for i in (0, 1, 3, 4)}


def _column(db_path: Path, sql: str) -> list[Any]:
    db = open_database(db_path, readonly=True)
    try:
        return [row[0] for row in db.execute(sql).fetchall()]
    finally:
        db.conn.close()


# --- hostile input: deep nesting, lone surrogates, times out of range, bombs ----------------------


def _names(db_path: Path) -> set[str]:
    db = open_database(db_path, readonly=True)
    try:
        return {r.key.name for r in Reader(db).state_at(END)}
    finally:
        db.conn.close()


def test_deeply_nested_records_are_skipped_and_the_rest_imported(tmp_path: Path) -> None:
    # Nested 1,000 deep orjson reads, but the store cannot write it; 100,000 deep once sent
    # the reader into Python's recursive decoder. Each is a skip with its line.
    def deep(name: str, depth: int) -> str:
        nested = "[" * depth + "]" * depth
        return event_line("ADDED", configmap(name, "1")).replace('{"k": "v"}', f'{{"k": {nested}}}')

    lines = [
        event_line("ADDED", configmap("before", "1")),
        deep("deep1000", 1000),
        event_line("ADDED", configmap("between", "1")),
        deep("deep100000", 100_000),
        event_line("ADDED", configmap("after", "1")),
    ]
    db_path = tmp_path / "tt.db"
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n")
    result = run_cli("import-events", "--db", str(db_path), "--quiet", str(source))
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "3 revisions written" in result.stderr and "2 skipped" in result.stderr, result.stderr
    assert "  line 2: object nested more than 200 levels deep" in result.stderr, result.stderr
    assert "  line 4: invalid JSON: depth limit exceeded" in result.stderr, result.stderr
    assert _names(db_path) == {"before", "between", "after"}


def test_deeply_nested_audit_lines_are_bad_lines_and_the_rest_imported(tmp_path: Path) -> None:
    good = [
        {**AUDIT_EVENT, "auditID": f"5b0a7f0e-0d55-4bcd-9d23-2b5f8f1c7b{i:02d}"} for i in range(3)
    ]
    lines = [
        json.dumps(good[0]),
        "[" * 1000 + "]" * 1000,  # an array of arrays: was read recursively
        json.dumps(good[1]),
        json.dumps({**AUDIT_EVENT, "auditID": "deep", "requestObject": {"a": 1}}).replace(
            '{"a": 1}', '{"a": ' * 100_000 + "1" + "}" * 100_000
        ),
        json.dumps(good[2]),
    ]
    log = tmp_path / "audit.log"
    log.write_text("\n".join(lines) + "\n")
    db_path = tmp_path / "tt.db"
    result = run_cli("import-audit", "--db", str(db_path), "--quiet", str(log))
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.startswith("imported 3 audit events"), result.stderr
    assert "  line 2: expected a JSON object, found list" in result.stderr, result.stderr
    assert "  line 4: invalid JSON (depth limit exceeded" in result.stderr, result.stderr
    ids = set(_column(db_path, "SELECT audit_id FROM audit_events"))
    assert ids == {event["auditID"] for event in good}


def test_times_out_of_range_and_lone_surrogates_are_skipped(tmp_path: Path) -> None:
    def with_text(name: str, old: str, new: str, at: str = "2026-11-19T21:00:00Z") -> str:
        line = event_line("ADDED", configmap(name, "1"), at)
        assert old in line
        return line.replace(old, new)

    lines = [
        event_line("ADDED", configmap("first", "1")),
        event_line("ADDED", configmap("year999", "1"), "0999-12-31T23:59:59Z"),
        event_line("ADDED", configmap("year1", "1"), "0001-01-01T00:00:00+01:00"),
        event_line("ADDED", configmap("year9999", "1"), "9999-12-31T23:59:59Z"),
        with_text("surrogate-name", '"surrogate-name"', '"bad-\\ud800"'),
        with_text("surrogate-value", '"v"', '"\\ud800"'),
        with_text("low-surrogate", '"v"', '"\\udc00 alone"'),
        event_line("ADDED", configmap("last", "1"), "2026-11-19T21:00:01Z"),
    ]
    db_path = tmp_path / "tt.db"
    result = run_cli(
        "import-events", "--db", str(db_path), "--quiet", "-", stdin="\n".join(lines).encode()
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "2 revisions written" in result.stderr and "6 skipped" in result.stderr, result.stderr
    supported = "is outside the supported range (1000-01-01T00:00:00Z to 9998-12-31T23:59:59Z)"
    for line_no, stamp in ((2, "0999-12-31T23:59:59Z"), (3, "0001-01-01T00:00:00+01:00")):
        assert f"  line {line_no}: observed_at {stamp!r} {supported}" in result.stderr
    assert f"  line 4: observed_at '9999-12-31T23:59:59Z' {supported}" in result.stderr
    for line_no in (5, 6, 7):
        assert f"  line {line_no}: invalid JSON: " in result.stderr, result.stderr
    assert _names(db_path) == {"first", "last"}


def test_moments_out_of_range_are_one_line_exit_2(tmp_path: Path) -> None:
    db_path = tmp_path / "tt.db"
    db = open_database(db_path)
    import_events(db, [event_line("ADDED", configmap("cm", "1"))], cluster="prod")
    db.conn.close()
    supported = "(1000-01-01T00:00:00Z to 9998-12-31T23:59:59Z)"
    cases = [
        (["export", "--at", "9999-12-31T23:59:59Z"], "time '9999-12-31T23:59:59Z' is outside"),
        (["export", "--at", "0001-01-01T00:00:00Z"], "time '0001-01-01T00:00:00Z' is outside"),
        (["ui", "--no-record", "--at", "9999-12-31T23:59:59Z"], "time '9999-12-31T23:59:59Z'"),
        (["ui", "--no-record", "--at", "0001-01-01T00:00:00Z"], "time '0001-01-01T00:00:00Z'"),
        (["export", "--at", "now", "--window", "3000000d"], "--window 3000000d around "),
        (["export", "--at", "1000-01-01T00:30:00Z"], "--window 1h around 1000-01-01T00:30:00Z"),
    ]
    for args, fragment in cases:
        try:
            result = run_cli(*args, "--db", str(db_path), timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{args} did not exit") from None
        assert result.returncode == 2, (args, result.returncode, result.stderr[-2000:])
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("timetravel: error: "), (args, lines)
        assert fragment in lines[0] and supported in lines[0], (args, lines[0])
    # Moments next to the ends of the range are moments like any other.
    for at, window in (
        ("1000-01-01T00:00:01Z", {"from": "1000-01-01T00:00:00Z", "to": "1000-01-01T00:00:02Z"}),
        ("9998-12-31T23:59:58Z", {"from": "9998-12-31T23:59:57Z", "to": "9998-12-31T23:59:59Z"}),
    ):
        result = run_cli(
            "export", "--db", str(db_path), "--at", at, "--window", "1s", "--format", "json"
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert json.loads(result.stdout)["window"] == window


def test_a_long_malformed_pretty_record_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Thousands of lines ending in '}' inside one record that never parses: trying to parse
    # the gathered text at each of them read it again and again (80,000 lines took 27 s).
    # Counted, not timed: every character goes to the JSON parser a bounded number of times.
    parsed: list[int] = []

    def loads(text: str | bytes) -> Any:
        parsed.append(len(text))
        return orjson.loads(text)

    monkeypatch.setattr(
        events_file,
        "orjson",
        type(
            "CountingOrjson",
            (),
            {"loads": staticmethod(loads), "JSONDecodeError": orjson.JSONDecodeError},
        ),
    )
    malformed = ["{", '  "type": "ADDED",', '  "object": {"apiVersion": "v1"}']
    malformed += [f'  "field{i}": {{"nested": {i}}}' for i in range(5000)]
    malformed += ["}"]
    lines = [
        *json.dumps(
            json.loads(event_line("ADDED", configmap("before", "1"))), indent=2
        ).splitlines(),
        *malformed,
        *json.dumps(
            json.loads(event_line("ADDED", configmap("after", "1"))), indent=2
        ).splitlines(),
    ]
    size = sum(len(line) + 1 for line in lines)
    records = list(events_file.read_records(line + "\n" for line in lines))
    good = [r.obj["metadata"]["name"] for r in records if isinstance(r, events_file.EventRecord)]
    bad = [r for r in records if isinstance(r, events_file.BadRecord)]
    assert good == ["before", "after"]
    first = lines.index("{", 1)
    assert [b.line for b in bad] == [first + 1], bad
    assert sum(parsed) <= 2 * size, (sum(parsed), size, len(parsed))


def test_a_gzip_bomb_in_an_audit_log_is_a_bad_line(tmp_path: Path) -> None:
    # 40 KB that decompress to 20 MiB without a newline: skipped past without holding it.
    good = [
        {**AUDIT_EVENT, "auditID": f"5b0a7f0e-0d55-4bcd-9d23-2b5f8f1c7c{i:02d}"} for i in range(2)
    ]
    bomb = b'{"kind": "Event", "pad": "' + b"A" * (20 * 1024 * 1024) + b'"}'
    log = tmp_path / "audit.log.gz"
    with gzip.open(log, "wb") as handle:
        handle.write(json.dumps(good[0]).encode() + b"\n")
        handle.write(bomb + b"\n")
        handle.write(json.dumps(good[1]).encode() + b"\n")
        handle.write(b"\x00" * (17 * 1024 * 1024))  # and at the end, without a newline
    assert log.stat().st_size < 100_000
    db_path = tmp_path / "tt.db"
    result = run_cli("import-audit", "--db", str(db_path), "--quiet", str(log))
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("imported 2 audit events"), result.stderr
    assert f"  line 2: line of {len(bomb):,} bytes is over the 16 MiB limit; skipped" in (
        result.stderr
    )
    assert "  line 4: line of 17,825,792 bytes is over the 16 MiB limit; skipped" in result.stderr
    ids = set(_column(db_path, "SELECT audit_id FROM audit_events"))
    assert ids == {event["auditID"] for event in good}


def test_a_watch_event_too_deep_to_store_is_one_skip_not_a_stopped_recorder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A ConfigMap whose data nests 300 levels (the store's JSON writer stops at 254) is
    # slipped into the configmaps watch before an ordinary edit: the recorder counts one
    # error and records the edit after it, and every other change.
    injected = []
    real = _Handler._chunks

    def chunks(self: _Handler, lines: list[bytes]) -> None:
        if (
            not injected
            and lines
            and b'"type":"MODIFIED"' in lines[0]
            and "configmaps" in self.path
        ):
            injected.append(True)
            # At the edit's own resourceVersion: after the one the watch started from.
            rv = orjson.loads(lines[0])["object"]["metadata"]["resourceVersion"]
            return real(self, [_deep_event_line(300, rv), *lines])
        return real(self, lines)

    monkeypatch.setattr(_Handler, "_chunks", chunks)
    db_path = tmp_path / "tt.db"
    with ApiDouble(bookmark_interval=0.1) as double:
        double.create(plain_configmap("plain", "payments"))
        with recording(double, db_path, tmp_path, resources=["configmaps"]) as recorder:
            wait_for(lambda: count(db_path, "SELECT count(*) FROM revisions") == 1, what="list")
            double.patch(
                "v1", "ConfigMap", "payments", "plain",
                lambda o: o["data"].update(k="after"), manager="kubectl-edit",
            )  # fmt: skip
            wait_for(lambda: count(db_path, "SELECT count(*) FROM revisions") == 2, what="the edit")
            assert injected, "the deep event was not slipped in"
            assert recorder.stats.errors == 1
            assert "not storable as JSON" in (recorder.stats.last_error or "")
        names = {r[2] for r in revisions(db_path)}
    assert names == {"plain"}


def _deep_event_line(levels: int, rv: str) -> bytes:
    """A watch line whose object nests ``levels`` deep, written by hand: orjson (and the
    API double) refuse to write one past 254."""
    inner = '"bottom"'
    for _ in range(levels):
        inner = '{"x":' + inner + "}"
    meta = '{"name":"deep","namespace":"payments","resourceVersion":"' + rv + '"}'
    obj = '{"apiVersion":"v1","kind":"ConfigMap","metadata":' + meta + ',"data":' + inner + "}"
    return ('{"type":"MODIFIED","object":' + obj + "}\n").encode()


def test_a_runaway_line_to_import_events_is_one_skip_read_past_not_held(tmp_path: Path) -> None:
    # 80 MB without a newline between two good records: over the 64 MiB line limit.
    path = tmp_path / "events.json"
    with path.open("wb") as out:
        out.write(event_line("ADDED", configmap("before", "1")).encode() + b"\n")
        chunk = b"x" * (1024 * 1024)
        for _ in range(80):
            out.write(chunk)
        out.write(b"\n")
        out.write(event_line("ADDED", configmap("after", "2")).encode() + b"\n")
    result = run_cli("import-events", "--db", str(tmp_path / "tt.db"), "-q", str(path))
    assert result.returncode == 1, result.stderr
    assert "line 2: line of 83,886,080 bytes is over the 64 MiB limit; skipped" in result.stderr
    assert "2 revisions written" in result.stderr

"""Migration m008: Secret values an older version stored in plaintext are hashed where they
lie, and the bytes that held them are gone from the file and its WAL (issue 20, item 2).

The old version is the current code with the old rule put back: redaction asked for
``apiVersion: v1`` exactly (so ``v1beta1`` and `` v1`` Secrets were stored plain), and
the parse cache kept Secret files. A store so written, with m008 not yet applied, is
opened by the current code.

docs/RELIABILITY.md lists the cases (security table).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard as zstd

from tests.fixtures.postgres import PostgresServer
from tests.fixtures.sample import SAMPLE_NOW, build_sample_store
from tests.gitrepo import GitOpsRepo
from timetravel.domain.normalize import LAST_APPLIED, normalize
from timetravel.recorder.events import import_events
from timetravel.recorder.git import GitSource
from timetravel.store import codec, pg_schema, secret_key
from timetravel.store import segments as seg
from timetravel.store.db import _connect, open_database, redaction_key
from timetravel.store.declared import entry_hash
from timetravel.store.gitstore import GitStore, SqliteBlobCache
from timetravel.store.migrations import migrations
from timetravel.store.reader import Reader
from timetravel.store.redact_stored import redact_stored_secrets

M008 = "m008_redact_stored_secrets"
END = "9999-12-31T23:59:59.999999Z"
START = "0001-01-01T00:00:00.000000Z"

PASSWORD = "0ld-Plaintext-Passw0rd-kept-by-v1beta1"
ROTATED = "r0tated-Plaintext-Passw0rd-v1beta1"
TOKEN = "tok-old-9c2e4f7a1b3d5e6f8a0b"
APPLIED_ONLY = "applied-only-0ld-Plaintext-value"
SPACED = "spaced-apiVersion-Plaintext-value"
GIT_VALUE = "g1t-v1beta1-Plaintext-value"
LOWER = "kind-in-lower-case-Plaintext-value"
LONG_S = "kind-with-a-long-s-Plaintext-value"
OLD_VALUES = [PASSWORD, ROTATED, TOKEN, APPLIED_ONLY, SPACED, GIT_VALUE, LOWER, LONG_S]
PROPER = "pr0per-v1-value-hashed-all-along"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def forms(value: str) -> list[bytes]:
    """A value as its bytes may lie in a file: itself, base64, JSON-escaped."""
    return [value.encode(), b64(value).encode(), json.dumps(value)[1:-1].encode()]


def leaks(data: bytes, values: list[str] = OLD_VALUES) -> list[str]:
    return [v for v in values if any(f in data for f in forms(v))]


def old_rule(obj: dict[str, Any]) -> bool:
    """What redaction asked before one rule by kind (455984d)."""
    return obj.get("kind") == "Secret" and str(obj.get("apiVersion", "v1")) in ("v1", "")


def secret(name: str, api_version: str, rv: int, **data: str) -> dict[str, Any]:
    applied = {
        "apiVersion": api_version,
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "payments"},
        "stringData": {"extra": APPLIED_ONLY},
    }
    return {
        "apiVersion": api_version,
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": "payments",
            "uid": f"uid-{name}",
            "resourceVersion": str(rv),
            "annotations": {LAST_APPLIED: json.dumps(applied)},
        },
        "type": "Opaque",
        "data": {k: b64(v) for k, v in data.items()},
        "stringData": {"token": TOKEN},
    }


def events() -> list[dict[str, Any]]:
    """A v1beta1 Secret created and rotated (its segment rewritten each time: old copies
    in free pages and the WAL), a `` v1`` one, a v1 one (hashed by the old rule too), and
    a ConfigMap that says "secret", and Secrets whose kind is not written "Secret"."""
    out = []

    def add(kind: str, obj: dict[str, Any], minute: int) -> None:
        at = f"2026-11-19T21:{minute:02d}:00Z"
        out.append({"type": kind, "object": obj, "observed_at": at})

    add("ADDED", secret("legacy", "v1beta1", 10, password=PASSWORD), 0)
    add("ADDED", secret("spaced", " v1", 11, password=SPACED), 1)
    add("ADDED", secret("proper", "v1", 12, password=PROPER), 2)
    # Kinds the old rule missed too: is_secret casefolds the kind ("ſecret" is "secret").
    add("ADDED", {**secret("lower", "v1", 14, password=LOWER), "kind": "secret"}, 4)
    add("ADDED", {**secret("long-s", "v1", 15, password=LONG_S), "kind": "\u017fecret"}, 5)
    note = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "note"}}
    note["metadata"].update(namespace="payments", uid="uid-note", resourceVersion="13")
    add("ADDED", {**note, "data": {"says": "the secret is the sauce"}}, 3)
    for i, value in enumerate((ROTATED, PASSWORD, ROTATED)):
        add("MODIFIED", secret("legacy", "v1beta1", 20 + i, password=value), 10 + i)
    return out


def old_store(path: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A store as the old version left it: plaintext in revisions, keyframes, a desired set
    and the parse cache; m008 not applied."""
    repo = GitOpsRepo(tmp / "repo")
    repo.write(
        "payments/secret.yaml",
        {
            "apiVersion": "v1beta1",
            "kind": "Secret",
            "metadata": {"name": "from-git", "namespace": "payments"},
            "stringData": {"password": GIT_VALUE},
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
    with monkeypatch.context() as old:
        old.setattr("timetravel.domain.normalize.is_secret", old_rule)
        old.setattr("timetravel.store.db._connect", _insecure(_connect))
        old.setattr("timetravel.recorder.git.is_secret", lambda obj: False)  # cached all
        # The old version took every object in git for desired state (no skipped files).
        old.setattr("timetravel.sources.desired.tool_reason", lambda obj, served=(): None)
        source = GitSource(
            path, repo.path, clock=lambda: "2026-11-19T10:00:00.000000Z", progress=False
        )
        assert source.sync() == 1
        db = open_database(path)
        with db.conn:
            db.execute("DELETE FROM _sqlite_migrations WHERE name = ?", (M008,))
        # One transaction each, as a recorder writes them: each rotation rewrites the
        # segment, and the copy it replaces stays in the file's free space and the WAL.
        for event in events():
            line = orjson.dumps(event).decode()
            report = import_events(db, [line], cluster="prod", clock=lambda: SAMPLE_NOW)
            assert not report.bad and report.written == 1
        key = redaction_key(db)
        db.conn.close()
    return {"repo": repo, "key": key}


def _insecure(connect: Any) -> Any:
    """Connections that leave deleted bytes where they were: SQLite's default where it is
    built without SQLITE_SECURE_DELETE (Debian's is built with it)."""

    def insecure(*args: Any, **kwargs: Any) -> Any:
        conn = connect(*args, **kwargs)
        conn.execute("PRAGMA secure_delete = OFF")
        return conn

    return insecure


def decoded(path: Path, *, frames_only: bool = False) -> bytes:
    """Every stored value decoded, read with sqlite3 alone (nothing migrated), and the raw
    bytes of the file, its WAL and shared memory (``frames_only``: the decoded frames
    alone, apart)."""
    parts: list[bytes] = []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        plain = zstd.ZstdDecompressor()
        keyframes = {}
        for kid, body in conn.execute("SELECT id, body FROM keyframes"):
            keyframes[kid] = plain.decompress(body)
            parts.append(keyframes[kid])
        for kid, body in conn.execute("SELECT keyframe_id, body FROM segments"):
            parts.append(seg.decompressor(keyframes[kid]).decompress(body))
        cache = codec.KeyframeCache()
        rows = conn.execute(
            "SELECT d.id, d.keyframe_id, d.body, k.body, d.content_hash FROM desired_sets d "
            "LEFT JOIN desired_sets k ON k.id = d.keyframe_id"
        )
        for set_id, kid, body, kbody, content_hash in rows:
            raw = codec.decode_body(body, kid, kbody, cache, set_id)
            assert raw is not None
            parts.append(raw)
            if not frames_only:
                parts.append(content_hash.encode())
        for (blob,) in conn.execute("SELECT parsed FROM manifest_cache"):
            parts.append(plain.decompress(blob))
        if frames_only:
            return b"\n\0\n".join(parts)
        for table in [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]:
            for row in conn.execute(f"SELECT * FROM [{table}]"):
                parts.extend(v if isinstance(v, bytes) else str(v).encode() for v in row)
    finally:
        conn.close()
    for suffix in ("", "-wal", "-shm"):
        file = Path(f"{path}{suffix}")
        if file.exists():
            parts.append(file.read_bytes())
    return b"\n".join(parts)


def raw_bytes(path: Path) -> bytes:
    return b"".join(
        Path(f"{path}{s}").read_bytes() for s in ("", "-wal", "-shm") if Path(f"{path}{s}").exists()
    )


_MAGIC = b"\x28\xb5\x2f\xfd"  # a zstd frame starts with it


def keyframes(path: Path) -> list[bytes]:
    """The raw bodies of the keyframes (the dictionaries segments are compressed with)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        plain = zstd.ZstdDecompressor()
        return [plain.decompress(body) for (body,) in conn.execute("SELECT body FROM keyframes")]
    finally:
        conn.close()


def carved(data: bytes, dictionaries: list[bytes]) -> list[bytes]:
    """Every whole zstd frame anywhere in ``data`` (a live row, or a copy left in free
    space), decompressed as someone holding the file would: plain, or with each keyframe
    as its dictionary (a frame decoded with the wrong one fails its checksum)."""
    contexts = [zstd.ZstdDecompressor()] + [
        zstd.ZstdDecompressor(
            dict_data=zstd.ZstdCompressionDict(d, dict_type=zstd.DICT_TYPE_RAWCONTENT)
        )
        for d in dictionaries
    ]
    out = []
    at = data.find(_MAGIC)
    while at >= 0:
        for context in contexts:
            try:
                reading = context.decompressobj()
                found = reading.decompress(data[at : at + (1 << 20)])
            except zstd.ZstdError:
                continue
            if reading.eof:
                out.append(found)
                break
        at = data.find(_MAGIC, at + 1)
    return out


def live_frames(path: Path) -> list[bytes]:
    """The decoded content of every frame a row holds (see :func:`decoded`)."""
    return decoded(path, frames_only=True).split(b"\n\0\n")


def secret_revisions(path: Path, name: str) -> list[Any]:
    db = open_database(path, readonly=True)
    try:
        return [
            r
            for r in Reader(db).changes_between(START, END)
            if r.key.kind == "Secret" and r.key.name == name
        ]
    finally:
        db.conn.close()


def applied(path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")]
    finally:
        conn.close()


def test_m008_hashes_plaintext_an_old_version_stored_and_leaves_no_byte_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    old_store(path, tmp_path, monkeypatch)
    before = decoded(path)
    assert set(leaks(before)) == set(OLD_VALUES), "the old version kept each value plain"
    assert M008 not in applied(path)
    # The values lie compressed: besides the rows, an earlier copy of a rewritten segment
    # is left in the file's free space, and carving finds it.
    old_keyframes = keyframes(path)
    live = live_frames(path)
    left = [f for f in carved(raw_bytes(path), old_keyframes) if f not in live]
    assert left and leaks(b"\n".join(left)), "no copy in free space to find: the check is blind"
    proper_before = [r.body for r in _bodies_without_migrating(path, "proper")]

    db = open_database(path)  # migrates
    key = redaction_key(db)
    db.conn.close()
    assert M008 in applied(path)

    after = decoded(path)
    assert leaks(after) == []
    raw = raw_bytes(path)
    assert leaks(raw) == []
    assert leaks(b"\n".join(carved(raw, old_keyframes + keyframes(path)))) == []
    # VACUUM rebuilt the file (no free page keeps anything) and the WAL was emptied.
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    conn.close()
    wal = Path(f"{path}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert PROPER.encode() not in after and b64(PROPER).encode() not in after

    # As the current code stores them: hashed with the database's key, in its scheme.
    history = secret_revisions(path, "legacy")
    assert [r.change for r in history] == ["created", "updated", "updated", "updated"]
    originals = [e["object"] for e in events() if e["object"]["metadata"]["name"] == "legacy"]
    for record, original in zip(history, originals, strict=True):
        expected = normalize(original, key)
        assert record.obj["data"] == expected["data"]
        assert record.obj["stringData"] == expected["stringData"]
        annotation = record.obj["metadata"]["annotations"][LAST_APPLIED]
        assert annotation == expected["metadata"]["annotations"][LAST_APPLIED]
    # A rotation is still a change, and a value that came back has its earlier hash.
    hashes = [r.obj["data"]["password"] for r in history]
    assert hashes[0] != hashes[1] and hashes[0] == hashes[2] and hashes[1] == hashes[3]
    spaced = secret_revisions(path, "spaced")[0].obj["data"]["password"]
    assert spaced.startswith("redacted:")
    # What was hashed already is kept byte for byte (hashing a hash would be a change).
    assert [r.body for r in secret_revisions(path, "proper")] == proper_before

    # The desired set, its hashes and the parse cache.
    db = open_database(path, readonly=True)
    try:
        store = GitStore(db)
        [repo] = store.repos()
        [(sha,)] = db.execute("SELECT sha FROM desired_sets").fetchall()
        stored = store.desired_set(repo.id, sha)
        assert stored is not None
        [item] = [o for o in stored.objects if o["obj"]["kind"] == "Secret"]
        assert item["obj"]["stringData"]["password"].startswith("redacted:")
        # The hashes made of the plaintext are made again of what is stored now.
        [(item_hash,)] = db.execute(
            "SELECT item_hash FROM declared_changes WHERE kind = 'Secret'"
        ).fetchall()
        assert bytes(item_hash) == entry_hash(codec.dumps(item))
        (content_hash,) = db.execute("SELECT content_hash FROM desired_sets").fetchone()
        body = codec.dumps({"errors": stored.errors, "objects": stored.objects})
        assert content_hash == hashlib.blake2b(body, digest_size=12).hexdigest()
        cached = [str(k) for (k,) in db.execute("SELECT key FROM manifest_cache")]
        assert len(cached) == 1  # the ConfigMap's file; the Secret's was purged
        assert SqliteBlobCache(db).get(cached[0].split(":", 1)[1]) is not None
    finally:
        db.conn.close()

    # `timetravel check` finds every frame sound; the export shows the hashed form.
    check = _run("check", "--db", str(path))
    assert check.returncode == 0 and "no damage found" in check.stdout, check.stdout
    export = _run("export", "--db", str(path), "--at", "2026-11-19T21:30:00Z", "--format", "json")
    assert export.returncode == 0, export.stderr
    snapshot = json.loads(export.stdout)
    shown = {r["name"]: r["actual"] for r in snapshot["resources"] if r["kind"] == "Secret"}
    assert shown["legacy"]["data"]["password"] == hashes[-1]
    assert leaks(export.stdout.encode()) == []

    # Opened again: nothing left to do, nothing rewritten.
    size = path.stat().st_size
    open_database(path).conn.close()
    assert path.stat().st_size == size and leaks(raw_bytes(path)) == []


def _bodies_without_migrating(path: Path, name: str) -> list[Any]:
    """The revisions of a Secret read from a copy migrated only up to m007 (the reader
    needs segments; the copy is what the old version left, read without m008)."""
    copy = path.with_name("peek.db")
    source = sqlite3.connect(path)
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    conn = sqlite3.connect(copy)
    with conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('timetravel', ?, '')",
            (M008,),
        )
    conn.close()
    try:
        return secret_revisions(copy, name)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copy}{suffix}").unlink(missing_ok=True)


def test_m008_without_the_databases_key_still_leaves_no_value_plain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy opened where its key is not (another machine): the values are hashed with a
    key made for the migration and forgotten; none is kept plain to wait for the key."""
    path = tmp_path / "old.db"
    key = old_store(path, tmp_path, monkeypatch)["key"]
    monkeypatch.setattr(secret_key, "key_dir", lambda: tmp_path / "no-keys-here")
    monkeypatch.delenv(secret_key.ENV_KEY, raising=False)
    monkeypatch.delenv(secret_key.ENV_KEY_FILE, raising=False)
    old_keyframes = keyframes(path)
    open_database(path).conn.close()
    assert M008 in applied(path)
    raw = raw_bytes(path)
    assert leaks(decoded(path)) == [] and leaks(raw) == []
    assert leaks(b"\n".join(carved(raw, old_keyframes + keyframes(path)))) == []
    [created, *_] = secret_revisions(path, "legacy")
    original = events()[0]["object"]
    assert created.obj["data"]["password"].startswith("redacted:")
    assert created.obj["data"]["password"] != normalize(original, key)["data"]["password"]


def test_m008_changes_nothing_the_current_code_stored(tmp_path: Path) -> None:
    path = build_sample_store(tmp_path / "sample.db")
    db = open_database(path)
    try:
        before = decoded(path)
        with db.conn:
            done = redact_stored_secrets(db, redaction_key(db))
        assert not done.changed and done.undecodable == []
        assert decoded(path) == before
    finally:
        db.conn.close()


def test_the_postgresql_history_has_sqlites_names_and_records_m008(
    postgres_server: PostgresServer,
) -> None:
    sqlite_names = [m.name for m in migrations._migrations]
    postgres_names = [*pg_schema.BASELINE_NAMES, *(name for name, _ in pg_schema.LATER)]
    assert postgres_names == sqlite_names
    url = postgres_server.new_database()
    open_database(url).conn.close()
    db = open_database(url, readonly=True)
    assert pg_schema.applied_names(db.conn) == sorted(sqlite_names)
    db.conn.close()
    # A team store from before m008: readers are told to migrate; a writer applies it.
    db = open_database(url)
    with db.conn:
        db.execute("DELETE FROM _migrations WHERE name = ?", (M008,))
    db.conn.close()
    with pytest.raises(Exception, match="not migrated"):
        open_database(url, readonly=True)
    result = _run("migrate", "--db", url)
    assert result.returncode == 0, result.stderr
    latest = f"now at schema {len(sqlite_names)} ({sqlite_names[-1]})"
    assert f"applied {M008}; {latest}" in result.stdout + result.stderr
    open_database(url, readonly=True).conn.close()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "timetravel", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_m008_leaves_a_damaged_segment_as_it_is_and_hashes_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Secret's segment whose bytes are damaged cannot be decoded, nor rewritten: the
    migration keeps it as it is (check names it) and the file still opens."""
    path = tmp_path / "old.db"
    old_store(path, tmp_path, monkeypatch)
    conn = sqlite3.connect(path)
    segment_id, body = conn.execute(
        "SELECT s.id, s.body FROM segments s JOIN resources r ON r.id = s.resource_id "
        "WHERE r.name = 'spaced'"
    ).fetchone()
    damaged = bytearray(body)
    damaged[len(damaged) // 2] ^= 0x20
    with conn:
        conn.execute("UPDATE segments SET body = ? WHERE id = ?", (bytes(damaged), segment_id))
    conn.close()
    open_database(path).conn.close()
    assert M008 in applied(path)
    conn = sqlite3.connect(path)
    (kept,) = conn.execute("SELECT body FROM segments WHERE id = ?", (segment_id,)).fetchone()
    conn.close()
    assert kept == bytes(damaged)
    assert [r.obj["data"]["password"][:9] for r in secret_revisions(path, "legacy")] == [
        "redacted:"
    ] * 4
    check = _run("check", "--db", str(path))
    assert check.returncode == 1 and f"damaged frame: segment {segment_id} of " in check.stdout

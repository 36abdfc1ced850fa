"""A Secret is a Secret whatever its apiVersion says (issue 20, part 2).

Identity (``ResourceKey.of``) files every ``kind: Secret`` whose apiVersion names no group
(``v1``, ``v1beta1``, ``/v1``, `` v1``, ``V1``...) as the core Secret; redaction must cover at
least that, and redacts too when the apiVersion cannot be read at all (missing, null, a
number) or names another group: no such object's value is stored, shown or exported.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from timetravel.domain.model import ResourceKey
from timetravel.domain.normalize import LAST_APPLIED, REDACTED_PREFIX, is_secret, normalize
from timetravel.recorder.events import import_events
from timetravel.store.db import open_database
from timetravel.store.reader import Reader

KEY = b"k" * 32
END = "9999-12-31T23:59:59.999999Z"
MISSING = object()  # no apiVersion key at all

# Every apiVersion form the issue names; the ids name them in the test report.
API_VERSIONS: list[Any] = ["v1", "v1beta1", "/v1", " v1", "V1", "v1 ", MISSING, None, 42, ""]
IDS = ["v1", "v1beta1", "slash-v1", "space-v1", "V1", "v1-space", "missing", "null", "42", "empty"]
# Forms a stored or imported record can have (the import skips a non-string apiVersion).
STRING_VERSIONS = [v for v in API_VERSIONS if isinstance(v, str)]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def values(tag: str) -> dict[str, str]:
    """Distinct plaintexts per case, so a leak names the case it came from."""
    return {
        "data": f"d4ta-{tag}-Hunter2Passw0rd",
        "string": f"str1ng-{tag}-ApiT0kenValue",
        "applied": f"appl1ed-{tag}-OnlyInTheAnnotation",
    }


def forms(value: str) -> list[bytes]:
    """A value as bytes may hold it: itself, base64 (with and without padding), JSON-escaped."""
    raw = value.encode()
    return [
        raw,
        base64.b64encode(raw),
        base64.b64encode(raw).rstrip(b"="),
        json.dumps(value)[1:-1].encode(),
    ]


def secret(
    api_version: Any, tag: str, *, kind: str = "Secret", rotated: bool = False
) -> dict[str, Any]:
    """A Secret-like object with ``data``, ``stringData`` and a last-applied copy of both."""
    v = values(tag)
    password = v["data"] + ("-rot" if rotated else "")
    body: dict[str, Any] = {
        "kind": kind,
        "metadata": {"name": f"db-{tag}", "namespace": "payments", "uid": f"u-{tag}"},
        "type": "Opaque",
        "data": {"password": b64(password)},
        "stringData": {"token": v["string"]},
    }
    if api_version is not MISSING:
        body["apiVersion"] = api_version
    applied = {
        **{k: val for k, val in body.items() if k != "metadata"},
        "metadata": {"name": f"db-{tag}", "namespace": "payments"},
        "stringData": {"token": v["string"], "extra": v["applied"]},
    }
    body["metadata"]["annotations"] = {LAST_APPLIED: json.dumps(applied), "team": "payments"}
    if rotated:
        body["metadata"]["resourceVersion"] = "2"
    return body


def forbidden(tag: str) -> list[bytes]:
    v = values(tag)
    plain = [v["data"], v["data"] + "-rot", v["string"], v["applied"]]
    return [f for text in plain for f in forms(text)]


def leaks(data: bytes, tag: str) -> list[bytes]:
    return [f for f in forbidden(tag) if f in data]


def assert_redacted(out: dict[str, Any]) -> None:
    assert out["data"]["password"].startswith(REDACTED_PREFIX)
    assert out["stringData"]["token"].startswith(REDACTED_PREFIX)
    applied = json.loads(out["metadata"]["annotations"][LAST_APPLIED])
    assert applied["stringData"]["extra"].startswith(REDACTED_PREFIX)
    assert applied["data"]["password"].startswith(REDACTED_PREFIX)
    assert out["metadata"]["annotations"]["team"] == "payments", "only values are redacted"


# --- normalize -----------------------------------------------------------------------------


@pytest.mark.parametrize("api_version", API_VERSIONS, ids=IDS)
def test_normalize_redacts_a_secret_whatever_its_api_version(api_version: Any) -> None:
    obj = secret(api_version, "n")
    assert is_secret(obj)
    out = normalize(obj, KEY)
    assert not leaks(json.dumps(out).encode(), "n")
    assert_redacted(out)
    assert out["kind"] == "Secret" and out["metadata"]["name"] == "db-n"
    assert out.get("apiVersion", MISSING) == api_version, "identity is kept as it was"


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("v1", "secret"),  # not a kind the API server serves, but a manifest may say it
        ("v1", " Secret "),
        ("v1", "SECRET"),
        ("example.com/v1", "Secret"),  # a CRD named Secret: redacted, the safe side
        ("v1/", "Secret"),  # identity reads group "v1" out of it
        ("core/v1", "Secret"),
    ],
)
def test_normalize_redacts_every_kind_naming_a_secret(api_version: str, kind: str) -> None:
    out = normalize(secret(api_version, "k", kind=kind), KEY)
    assert not leaks(json.dumps(out).encode(), "k")
    assert_redacted(out)


@pytest.mark.parametrize("kind", ["ConfigMap", "SealedSecret", "ExternalSecret", "Secrets"])
def test_other_kinds_are_not_redacted(kind: str) -> None:
    obj = secret("v1beta1", "o", kind=kind)
    assert not is_secret(obj)
    assert normalize(obj, KEY)["stringData"] == obj["stringData"]


def test_the_same_value_hashes_the_same_whatever_the_api_version() -> None:
    hashes = {normalize(secret(v, "h"), KEY)["data"]["password"] for v in API_VERSIONS}
    assert len(hashes) == 1, "a version change alone is not a value change"


api_versions = st.one_of(
    st.text(max_size=12),
    st.builds(
        lambda pre, version, post: pre + version + post,
        st.sampled_from(["", "/", " ", "\t", "//", "core/"]),
        st.sampled_from(["v1", "V1", "v1beta1", "v2alpha3", "", "1"]),
        st.sampled_from(["", " ", "\n", "/", "/v1"]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(api_version=api_versions)
def test_whenever_identity_says_core_secret_normalize_redacts(api_version: str) -> None:
    obj = secret(api_version, "p")
    key = ResourceKey.of(obj)
    if key.group == "" and key.kind == "Secret":
        out = normalize(obj, KEY)
        assert not leaks(json.dumps(out).encode(), "p")
        assert_redacted(out)


@settings(max_examples=100, deadline=None)
@given(api_version=st.one_of(api_versions, st.none(), st.integers(), st.floats(), st.booleans()))
def test_a_secret_kind_is_redacted_whatever_its_api_version(api_version: Any) -> None:
    out = normalize(secret(api_version, "q"), KEY)
    assert not leaks(json.dumps(out).encode(), "q")


# --- end to end: import-events into a real database file -----------------------------------


def event(obj: dict[str, Any], kind: str, minute: int) -> str:
    return json.dumps(
        {"type": kind, "object": obj, "observed_at": f"2026-11-19T21:{minute:02d}:00Z"}
    )


def files_of(db_path: Path) -> dict[str, bytes]:
    return {
        suffix: Path(f"{db_path}{suffix}").read_bytes()
        for suffix in ("", "-wal", "-shm")
        if Path(f"{db_path}{suffix}").exists()
    }


@pytest.mark.parametrize("api_version", API_VERSIONS, ids=IDS)
def test_imported_secret_is_stored_redacted(tmp_path: Path, api_version: Any) -> None:
    db_path = tmp_path / "tt.db"
    db = open_database(db_path)
    lines = [
        event(secret(api_version, "e"), "ADDED", 0),
        event(secret(api_version, "e", rotated=True), "MODIFIED", 1),
    ]
    report = import_events(db, lines, cluster="c")
    stored = isinstance(api_version, str)
    # Written while open: the database and its -wal, then again after the checkpoint.
    for suffix, data in files_of(db_path).items():
        assert not leaks(data, "e"), f"a value in tt.db{suffix}"
    for bad in report.bad:
        assert not leaks(bad.reason.encode(), "e")
    if stored:
        assert report.written == 2, "the rotation is still a visible change"
        reader = Reader(db)
        records = list(reader.changes_between("0001-01-01T00:00:00.000000Z", END))
        assert [r.key for r in records] == [ResourceKey.of(secret(api_version, "e"), "c")] * 2
        assert records[0].key.kind == "Secret" and records[0].key.name == "db-e"
        for record in records:
            assert_redacted(record.obj)
            assert record.obj["apiVersion"] == api_version
        assert records[0].obj["data"] != records[1].obj["data"]
    else:
        assert report.written == 0 and len(report.bad) == 2, "no readable identity: skipped"
    db.conn.close()
    for suffix, data in files_of(db_path).items():
        assert not leaks(data, "e"), f"a value in tt.db{suffix}"


def test_import_events_command_stores_no_value(tmp_path: Path) -> None:
    """The command line over every form at once, a typed List among them."""
    source = tmp_path / "events.json"
    lines = []
    for i, api_version in enumerate(API_VERSIONS):
        lines.append(event(secret(api_version, f"c{i}"), "ADDED", i))
    listed = secret(MISSING, "list")
    lines.append(json.dumps({"apiVersion": "v1beta1", "kind": "SecretList", "items": [listed]}))
    source.write_text("\n".join(lines) + "\n")
    db_path = tmp_path / "tt.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "timetravel",
            "import-events",
            "--db",
            str(db_path),
            "--quiet",
            str(source),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, "the three without a readable apiVersion are skipped"
    assert b"8 revisions written" in result.stderr, result.stderr.decode()
    tags = [f"c{i}" for i in range(len(API_VERSIONS))] + ["list"]
    output = result.stdout + result.stderr
    for data in [output, *files_of(db_path).values()]:
        for tag in tags:
            assert not leaks(data, tag), tag
    db = open_database(db_path, readonly=True)
    try:
        records = list(Reader(db).changes_between("0001-01-01T00:00:00.000000Z", END))
    finally:
        db.conn.close()
    assert {r.key.name for r in records} == {
        f"db-c{i}" for i, v in enumerate(API_VERSIONS) if isinstance(v, str)
    } | {"db-list"}
    for record in records:
        assert record.key.group == "" and record.key.kind == "Secret"
        assert_redacted(record.obj)

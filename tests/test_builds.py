"""`timetravel record-build`: builds from CI environments and from in-toto/SLSA provenance.

The statements below are written to the published formats (in-toto Statement v0.1 and v1,
SLSA provenance v0.2 and v1, DSSE, the Sigstore bundle v0.3), with the fields
slsa-github-generator and GitHub's attest-build-provenance action fill in.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from timetravel.domain.provenance import ProvenanceError, parse_document, read_provenance
from timetravel.store.builds import all_builds, builds_of_digests
from timetravel.store.db import open_database

from .test_ci_env import GITHUB, SHA

DIGEST = "sha256:" + "4f1c" * 16
OTHER = "sha256:" + "9e0a" * 16
SOURCE_SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


@pytest.fixture
def db_path(any_db: Path | str) -> Path | str:
    return any_db


def slsa_v02() -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": "ghcr.io/acme/api", "digest": {"sha256": DIGEST[7:]}}],
        "predicate": {
            "builder": {
                "id": "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.9.0"
            },
            "buildType": "https://github.com/slsa-framework/slsa-github-generator/container@v1",
            "invocation": {
                "configSource": {
                    "uri": "git+https://github.com/acme/api@refs/heads/main",
                    "digest": {"sha1": SOURCE_SHA},
                    "entryPoint": ".github/workflows/release.yml",
                },
                "parameters": {},
                "environment": {"github_run_id": "8123456", "github_actor": "carol"},
            },
            "metadata": {
                "buildInvocationID": "8123456-1",
                "buildStartedOn": "2026-11-26T20:40:00Z",
                "buildFinishedOn": "2026-11-26T20:52:00Z",
            },
            "materials": [
                {
                    "uri": "git+https://github.com/acme/api@refs/heads/main",
                    "digest": {"sha1": SOURCE_SHA},
                }
            ],
        },
    }


def slsa_v1() -> dict[str, Any]:
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "ghcr.io/acme/api", "digest": {"sha256": DIGEST[7:]}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {
                    "workflow": {
                        "ref": "refs/heads/main",
                        "repository": "https://github.com/acme/api",
                        "path": ".github/workflows/release.yml",
                    }
                },
                "internalParameters": {
                    "github": {"event_name": "push", "runner_environment": "github-hosted"}
                },
                "resolvedDependencies": [
                    {
                        "uri": "git+https://github.com/acme/api@refs/heads/main",
                        "digest": {"gitCommit": SOURCE_SHA},
                    }
                ],
            },
            "runDetails": {
                "builder": {"id": "https://github.com/actions/runner/github-hosted"},
                "metadata": {
                    "invocationId": "https://github.com/acme/api/actions/runs/8123456/attempts/1",
                    "startedOn": "2026-11-26T20:40:00Z",
                    "finishedOn": "2026-11-26T20:52:00Z",
                },
            },
        },
    }


def dsse(statement: dict[str, Any], signatures: int = 1) -> dict[str, Any]:
    return {
        "payloadType": "application/vnd.in-toto+json",
        "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
        "signatures": [{"keyid": "", "sig": "MEUCIQ" + "A" * 40} for _ in range(signatures)],
    }


def bundle(statement: dict[str, Any]) -> dict[str, Any]:
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"certificate": {"rawBytes": "MIIC"}, "tlogEntries": []},
        "dsseEnvelope": dsse(statement),
    }


@pytest.mark.parametrize("make", [slsa_v02, slsa_v1])
def test_both_slsa_versions_name_the_source_commit_and_the_run(make) -> None:
    (found,) = read_provenance(json.dumps(make()))
    assert found.subjects == (("ghcr.io/acme/api", DIGEST),)
    assert (found.source_repo, found.commit, found.ref) == (
        "https://github.com/acme/api",
        SOURCE_SHA,
        "refs/heads/main",
    )
    assert found.run_id == "8123456"
    assert found.builder and found.builder.startswith("https://github.com/")
    assert (
        found.started_at == "2026-11-26T20:40:00Z" and found.finished_at == "2026-11-26T20:52:00Z"
    )
    assert found.envelope == "none" and found.signatures == 0


def test_envelopes_are_unwrapped_and_signatures_counted_not_verified() -> None:
    enveloped = parse_document(dsse(slsa_v1(), signatures=2))
    assert enveloped.envelope == "dsse" and enveloped.signatures == 2
    assert enveloped.commit == SOURCE_SHA
    lines = "\n".join(json.dumps(bundle(slsa_v1())) for _ in range(2))
    bundles = read_provenance(lines)
    assert [b.envelope for b in bundles] == ["sigstore-bundle", "sigstore-bundle"]
    assert bundles[0].summary()["signatures_verified"] is False


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        (
            {
                "_type": "https://in-toto.io/Statement/v1",
                "predicateType": "https://spdx.dev/Document",
                "subject": [{"name": "x", "digest": {"sha256": "a" * 64}}],
                "predicate": {},
            },
            "not SLSA provenance",
        ),
        (
            {"payloadType": "text/plain", "payload": "aGk=", "signatures": []},
            "not application/vnd.in-toto+json",
        ),
        (
            {"payloadType": "application/vnd.in-toto+json", "payload": "%%%", "signatures": []},
            "not base64 JSON",
        ),
        (
            {**slsa_v1(), "subject": [{"name": "x", "digest": {"sha1": "a" * 40}}]},
            "no subject with a sha256",
        ),
        ({"kind": "Deployment"}, "not an in-toto statement"),
    ],
)
def test_what_is_not_provenance_says_what_it_is(doc: dict, says: str) -> None:
    with pytest.raises(ProvenanceError, match=re.escape(says)):
        parse_document(doc)


def run_cli(
    db_path: Path | str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": tempfile.mkdtemp(), "LANG": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, "-m", "timetravel", "record-build", "--db", str(db_path), *args],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_a_build_from_github_actions_then_its_provenance_merge(tmp_path: Path, db_path) -> None:
    first = run_cli(db_path, "--image", "ghcr.io/acme/api:2.4.0", "--digest", DIGEST, env=GITHUB)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("recorded build ghcr.io/acme/api@sha256:4f1c4f1c4f1c")
    assert "from https://github.example.com/acme/payments-gitops" in first.stdout
    statement = tmp_path / "attestation.jsonl"
    statement.write_text(json.dumps(bundle(slsa_v1())) + "\n")
    second = run_cli(
        db_path, "--image", "ghcr.io/acme/api:latest", "--provenance", str(statement), "--no-env"
    )
    assert second.returncode == 0, second.stderr
    assert "updated build" in second.stdout and "1 signature(s) not verified" in second.stdout
    db = open_database(db_path, readonly=True)
    try:
        (build,) = all_builds(db)
        assert builds_of_digests(db, [DIGEST, OTHER]) == {DIGEST: [build]}
    finally:
        db.conn.close()
    assert build.tags == ("2.4.0", "latest")  # both reports' tags
    # A later report replaces a value only with one of its own: the statement's source
    # and run; what it does not say (the pipeline, the actor) stays from the first report.
    assert build.commit == SOURCE_SHA and SHA != SOURCE_SHA
    assert build.source_repo == "https://github.com/acme/api"
    assert (build.provider, build.pipeline, build.run_id, build.actor) == (
        "github-actions",
        "deploy-prod",
        "8123456",
        "alice",
    )
    assert build.url == "https://github.com/acme/api/actions/runs/8123456"
    assert build.provenance is not None and build.provenance["envelope"] == "sigstore-bundle"
    assert build.source == "record-build+provenance"


def test_provenance_alone_names_the_image_and_source(tmp_path: Path, db_path) -> None:
    statement = tmp_path / "provenance.json"
    statement.write_text(json.dumps(dsse(slsa_v02())))
    done = run_cli(db_path, "--provenance", str(statement), "--no-env")
    assert done.returncode == 0, done.stderr
    db = open_database(db_path, readonly=True)
    try:
        (build,) = all_builds(db)
    finally:
        db.conn.close()
    assert (build.repository, build.digest, build.commit) == (
        "ghcr.io/acme/api",
        DIGEST,
        SOURCE_SHA,
    )
    assert build.source_repo == "https://github.com/acme/api" and build.run_id == "8123456"
    assert build.built_at is not None and build.built_at.startswith("2026-11-26T20:52:00")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--image", "ghcr.io/acme/api:1", "--digest", "sha256:abc"],
            "--digest 'sha256:abc': expected sha256:<64 hex digits>",
        ),
        (["--image", "ghcr.io/acme/api:1"], "missing --digest"),
        (["--digest", DIGEST], "missing --image"),
        (["--image", "a b", "--digest", DIGEST], "not an image reference"),
        (["--image", f"ghcr.io/acme/api@{OTHER}", "--digest", DIGEST], "--image names"),
        (
            ["--image", "ghcr.io/acme/api:1", "--digest", DIGEST, "--commit", "main"],
            "expected a git commit SHA",
        ),
        (
            ["--image", "x:1", "--provenance", "/nonexistent/p.json"],
            "--provenance /nonexistent/p.json",
        ),
    ],
)
def test_bad_reports_get_one_line_and_exit_2(db_path, args: list[str], says: str) -> None:
    done = run_cli(db_path, *args, "--no-env")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_the_source_commits_time_author_and_subject_come_from_the_checkout(
    tmp_path: Path, db_path
) -> None:
    checkout = tmp_path / "api"
    checkout.mkdir()
    who = {
        "GIT_AUTHOR_NAME": "Carol Pay",
        "GIT_AUTHOR_EMAIL": "carol@acme.io",
        "GIT_COMMITTER_NAME": "Carol Pay",
        "GIT_COMMITTER_EMAIL": "carol@acme.io",
        "GIT_COMMITTER_DATE": "2026-11-26T19:55:00+01:00",
        "GIT_AUTHOR_DATE": "2026-11-26T19:50:00+01:00",
        "HOME": str(tmp_path),
        "PATH": os.environ.get("PATH", ""),
    }
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "retry: back off harder"]):
        subprocess.run(["git", "-C", str(checkout), *args], env=who, check=True)
    sha = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    done = run_cli(
        db_path,
        "--image",
        "ghcr.io/acme/api:2.4.0",
        "--digest",
        DIGEST,
        "--commit",
        sha[:10],
        "--source-dir",
        str(checkout),
        "--no-env",
    )
    assert done.returncode == 0, done.stderr
    assert "of 2026-11-26T19:55:00+01:00" in done.stdout
    # Elsewhere (no checkout of it): the commit is kept as given, nothing is made up.
    other = run_cli(
        db_path,
        "--image",
        "ghcr.io/acme/api:2.4.1",
        "--digest",
        OTHER,
        "--commit",
        SOURCE_SHA,
        "--source-dir",
        str(tmp_path / "nowhere"),
        "--no-env",
    )
    assert other.returncode == 0, other.stderr
    db = open_database(db_path, readonly=True)
    try:
        built = {b.digest: b for b in all_builds(db)}
    finally:
        db.conn.close()
    assert built[DIGEST].commit == sha  # the full SHA, from the checkout
    assert built[DIGEST].commit_at is not None and built[DIGEST].commit_at.startswith(
        "2026-11-26T18:55:00"
    )
    assert (built[DIGEST].commit_author, built[DIGEST].commit_subject) == (
        "Carol Pay <carol@acme.io>",
        "retry: back off harder",
    )
    assert built[OTHER].commit == SOURCE_SHA and built[OTHER].commit_at is None


def test_hostile_reports_are_refused_in_one_line(tmp_path: Path, db_path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    done = run_cli(db_path, "--image", "ghcr.io/a/b:1", "--provenance", str(deep), "--no-env")
    assert done.returncode == 2 and "nested too deeply" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    escape = run_cli(db_path, "--image", "ghcr.io/a/\x1b[2Jb:1", "--digest", DIGEST, "--no-env")
    assert escape.returncode == 2 and "not an image reference" in escape.stderr
    assert "\x1b" not in escape.stderr  # shown as \\x1b

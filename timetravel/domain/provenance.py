"""Build provenance: an in-toto statement with a SLSA provenance predicate, read for the
facts timetravel keeps about a build.

What build jobs produce, and what is read here:

- an in-toto Statement (``_type`` ``https://in-toto.io/Statement/v0.1`` or ``/v1``) whose
  ``subject`` lists the artifacts (name, ``digest.sha256``) and whose ``predicateType`` is
  SLSA provenance ``https://slsa.dev/provenance/v0.2`` (``builder.id``, ``buildType``,
  ``invocation.configSource``, ``metadata.buildStartedOn``, ``materials``) or
  ``https://slsa.dev/provenance/v1`` (``buildDefinition.buildType``,
  ``externalParameters``, ``resolvedDependencies``, ``runDetails.builder.id``,
  ``runDetails.metadata.invocationId``, ``startedOn``, ``finishedOn``);
- the same wrapped in a DSSE envelope (``payloadType`` ``application/vnd.in-toto+json``,
  base64 ``payload``, ``signatures``), bare or inside a Sigstore bundle (``dsseEnvelope``,
  as GitHub's attest-build-provenance action and ``gh attestation download`` write them,
  one bundle per line).

Signatures are counted, **not verified**: a signed envelope says who claims to have built
the image only once its signature is checked against a trusted identity (``cosign
verify-attestation``, ``gh attestation verify``); timetravel records that one was present.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

STATEMENT_TYPES = ("https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1")
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
SLSA_V1 = "https://slsa.dev/provenance/v1"
IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
_GIT_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_RUN_URL = re.compile(
    r"^(?P<base>https://[^/]+/[^/]+/[^/]+/actions/runs/(?P<id>\d+))(?:/attempts/\d+)?/?$"
)


class ProvenanceError(ValueError):
    """A document that is not a provenance statement this reader understands."""


@dataclass(frozen=True)
class Material:
    uri: str
    digest: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Provenance:
    """The facts of one provenance statement."""

    predicate_type: str
    subjects: tuple[tuple[str, str], ...]  # (name, "sha256:<hex>")
    builder: str | None = None
    build_type: str | None = None
    source_repo: str | None = None  # https URL of the source repository
    commit: str | None = None
    ref: str | None = None
    invocation: str | None = None  # the build's run: a URL or an id
    run_id: str | None = None
    started_at: str | None = None  # RFC 3339 as the statement says it
    finished_at: str | None = None
    materials: tuple[Material, ...] = ()
    envelope: str = "none"  # none | dsse | sigstore-bundle
    signatures: int = 0  # present in the envelope; not verified

    def summary(self) -> dict[str, Any]:
        """What is kept in the store: the statement's facts, never its signatures' bytes."""
        return {
            "predicate_type": self.predicate_type,
            "builder": self.builder,
            "build_type": self.build_type,
            "invocation": self.invocation,
            "materials": [{"uri": m.uri, "digest": dict(m.digest)} for m in self.materials],
            "envelope": self.envelope,
            "signatures": self.signatures,
            "signatures_verified": False,
        }


def read_provenance(text: str) -> list[Provenance]:
    """Every provenance statement in a file: one JSON document, or one per line."""
    documents = list(_documents(text))
    if not documents:
        raise ProvenanceError("no JSON document in it")
    return [parse_document(doc) for doc in documents]


def _documents(text: str) -> Iterator[Any]:
    stripped = text.strip()
    if not stripped:
        return
    try:
        yield json.loads(stripped)
        return
    except json.JSONDecodeError:
        pass
    except RecursionError:
        raise ProvenanceError("its JSON is nested too deeply to be a statement") from None
    for number, line in enumerate(stripped.splitlines(), 1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ProvenanceError(f"line {number} is not JSON: {exc.msg}") from None
            except RecursionError:
                raise ProvenanceError(f"line {number} is nested too deeply") from None


def parse_document(doc: Any) -> Provenance:
    """A statement, a DSSE envelope or a Sigstore bundle holding one."""
    if not isinstance(doc, dict):
        raise ProvenanceError("not a JSON object")
    if isinstance(doc.get("dsseEnvelope"), dict):
        return _from_envelope(doc["dsseEnvelope"], "sigstore-bundle")
    if "payload" in doc and "payloadType" in doc:
        return _from_envelope(doc, "dsse")
    return parse_statement(doc)


def _from_envelope(envelope: Mapping[str, Any], kind: str) -> Provenance:
    payload_type = envelope.get("payloadType")
    if payload_type != IN_TOTO_PAYLOAD:
        raise ProvenanceError(f"a DSSE envelope of {payload_type!r}, not {IN_TOTO_PAYLOAD}")
    try:
        statement = json.loads(base64.b64decode(str(envelope.get("payload", "")), validate=True))
    except (binascii.Error, ValueError):
        raise ProvenanceError("a DSSE envelope whose payload is not base64 JSON") from None
    signatures = envelope.get("signatures")
    count = (
        len([s for s in signatures if isinstance(s, dict) and s.get("sig")])
        if isinstance(signatures, list)
        else 0
    )
    found = parse_statement(statement)
    return Provenance(**{**found.__dict__, "envelope": kind, "signatures": count})


def parse_statement(statement: Any) -> Provenance:
    """An in-toto statement with a SLSA v0.2 or v1 provenance predicate."""
    if not isinstance(statement, dict):
        raise ProvenanceError("the statement is not a JSON object")
    statement_type = statement.get("_type")
    if statement_type not in STATEMENT_TYPES:
        raise ProvenanceError(f"not an in-toto statement (_type {statement_type!r})")
    predicate_type = str(statement.get("predicateType") or "")
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict):
        raise ProvenanceError("the statement has no predicate")
    subjects = tuple(_subjects(statement.get("subject")))
    if not subjects:
        raise ProvenanceError("the statement names no subject with a sha256 digest")
    if predicate_type == SLSA_V02:
        return _slsa_v02(predicate, subjects)
    if predicate_type == SLSA_V1:
        return _slsa_v1(predicate, subjects)
    raise ProvenanceError(f"predicate {predicate_type!r} is not SLSA provenance v0.2 or v1")


def _subjects(value: Any) -> Iterator[tuple[str, str]]:
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        digest = item.get("digest")
        sha = digest.get("sha256") if isinstance(digest, dict) else None
        if isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha):
            yield str(item.get("name") or ""), f"sha256:{sha}"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dig(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _materials(value: Any) -> tuple[Material, ...]:
    out = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and _text(item.get("uri")):
            digest = _map(item.get("digest"))
            out.append(Material(str(item["uri"]), {str(k): str(v) for k, v in digest.items()}))
    return tuple(out)


def git_source(uri: str) -> tuple[str, str | None] | None:
    """``git+https://github.com/acme/api@refs/heads/main`` -> (the https URL, the ref)."""
    if not uri.startswith("git+"):
        return None
    rest = uri[len("git+") :]
    repo, at, ref = rest.partition("@")
    if rest.startswith("ssh://") or "://" not in repo:
        # git+ssh://git@host/x@ref: the user part is before the host, the ref after the path
        repo, at, ref = rest.rpartition("@") if rest.count("@") > 1 else (rest, "", "")
    repo = repo.removesuffix(".git")
    return repo, (ref or None) if at else None


def _source(materials: tuple[Material, ...]) -> tuple[str | None, str | None, str | None]:
    """The first git material: (repository, commit, ref)."""
    for material in materials:
        found = git_source(material.uri)
        if found is None:
            continue
        commit = material.digest.get("gitCommit") or material.digest.get("sha1")
        commit = commit if commit and _GIT_COMMIT.match(commit) else None
        return found[0], commit, found[1]
    return None, None, None


def _run(invocation: str | None, fallback_id: str | None) -> str | None:
    if invocation:
        match = _RUN_URL.match(invocation)
        if match:
            return match["id"]
    return fallback_id


def _slsa_v02(p: Mapping[str, Any], subjects: tuple[tuple[str, str], ...]) -> Provenance:
    materials = _materials(p.get("materials"))
    config = _dig(p, "invocation", "configSource")
    if isinstance(config, dict) and _text(config.get("uri")):
        digest = _map(config.get("digest"))
        materials = (
            Material(str(config["uri"]), {str(k): str(v) for k, v in digest.items()}),
            *materials,
        )
    repo, commit, ref = _source(materials)
    env = _map(_dig(p, "invocation", "environment"))
    metadata = _map(p.get("metadata"))
    invocation = _text(metadata.get("buildInvocationId")) or _text(
        metadata.get("buildInvocationID")
    )
    run_id = _text(env.get("github_run_id")) or (invocation.split("-")[0] if invocation else None)
    return Provenance(
        predicate_type=SLSA_V02,
        subjects=subjects,
        builder=_text(_dig(p, "builder", "id")),
        build_type=_text(p.get("buildType")),
        source_repo=repo,
        commit=commit,
        ref=ref,
        invocation=invocation,
        run_id=run_id,
        started_at=_text(metadata.get("buildStartedOn")),
        finished_at=_text(metadata.get("buildFinishedOn")),
        materials=materials,
    )


def _slsa_v1(p: Mapping[str, Any], subjects: tuple[tuple[str, str], ...]) -> Provenance:
    definition = _map(p.get("buildDefinition"))
    materials = _materials(definition.get("resolvedDependencies"))
    repo, commit, ref = _source(materials)
    workflow = _dig(definition, "externalParameters", "workflow")
    if repo is None and isinstance(workflow, dict):
        repo, ref = _text(workflow.get("repository")), _text(workflow.get("ref"))
    metadata = _map(_dig(p, "runDetails", "metadata"))
    invocation = _text(metadata.get("invocationId")) or _text(metadata.get("invocationID"))
    return Provenance(
        predicate_type=SLSA_V1,
        subjects=subjects,
        builder=_text(_dig(p, "runDetails", "builder", "id")),
        build_type=_text(definition.get("buildType")),
        source_repo=repo,
        commit=commit,
        ref=ref,
        invocation=invocation,
        run_id=_run(invocation, None),
        started_at=_text(metadata.get("startedOn")),
        finished_at=_text(metadata.get("finishedOn")),
        materials=materials,
    )


def run_url(invocation: str | None) -> str | None:
    """The run's page, from a GitHub Actions invocation id URL (attempt suffix dropped)."""
    if invocation:
        match = _RUN_URL.match(invocation)
        if match:
            return match["base"]
    return None

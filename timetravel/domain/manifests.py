"""Parse one manifest file's bytes into Kubernetes objects, never raising on bad input.

Pure: stdlib and PyYAML only. The caller (``sources.desired``) supplies bytes read from git and
caches the result by blob id, so everything here must depend only on ``data`` and on whether the
path names a JSON or a YAML file; messages never mention the path (the caller attributes them).

What a parse yields:

- ``objects``: every document that is a Kubernetes object (a mapping with ``apiVersion`` and
  ``kind``), with ``kind: List`` / ``*List`` documents flattened into their items.
- ``skipped``: the file holds no Kubernetes object and no error (Chart.yaml, values.yaml,
  kustomization.yaml, CI configs, an empty file). Skipping is silent by design: a GitOps
  repository is full of YAML that is not desired state.
- ``errors``: one-line messages. A file that is not valid YAML/JSON yields no objects at all
  (a half-read file would pass for a smaller desired state); a document that is not an object
  inside a file that has objects is reported and the other objects are kept.

Objects are JSON-compatible, as Kubernetes reads YAML: timestamps stay strings, ``!!binary``
stays its base64 text, scalar mapping keys are strings. Treat them as read-only: they are shared
through the caller's cache.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

try:
    # libyaml's parser is ~10x faster than the pure-Python one; the constructor (where the
    # duplicate-key check lives) is Python in both, so the behaviour is identical.
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

# Bump when parse results change, so a persistent cache keyed by blob id can be invalidated.
PARSER_VERSION = 1

# A manifest larger than this is almost certainly generated or vendored data; parsing it would
# stall a backfill, so it is reported instead.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024

# Alias expansion guard ("billion laughs"): PyYAML shares aliased nodes, but every consumer that
# walks or serializes the result expands them. No honest manifest comes close to this.
MAX_EXPANDED_VALUES = 1_000_000

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

HELM_TEMPLATE_ERROR = "a Helm template: rendered only by `helm template`"

# Kustomize's own configuration has apiVersion+kind but is not applied to a cluster.
_KUSTOMIZE_CONFIG_GROUPS = ("kustomize.config.k8s.io/",)
_LIST_KEYS = frozenset({"apiVersion", "kind", "metadata", "items"})

# Kinds the API server keeps outside any namespace (core and widely installed CRDs). A kind is
# matched by name alone: no namespaced kind of the same name is in common use.
CLUSTER_SCOPED_KINDS: frozenset[str] = frozenset(
    {
        "APIService",
        "CSIDriver",
        "CSINode",
        "CertificateSigningRequest",
        "ClusterIssuer",
        "ClusterPolicy",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterSecretStore",
        "ClusterTriggerBinding",
        "ComponentStatus",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PodSecurityPolicy",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "SelfSubjectAccessReview",
        "SelfSubjectRulesReview",
        "StorageClass",
        "StorageVersionMigration",
        "SubjectAccessReview",
        "TokenReview",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
        "VolumeSnapshotClass",
        "VolumeSnapshotContent",
    }
)


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """The outcome of parsing one file: its objects, its errors, or ``skipped``."""

    objects: tuple[dict[str, Any], ...] = ()
    errors: tuple[str, ...] = ()
    skipped: bool = False

    def to_json(self) -> str:
        """Serialize, for a persistent cache keyed by blob id (see :data:`PARSER_VERSION`)."""
        return json.dumps(
            {"objects": list(self.objects), "errors": list(self.errors), "skipped": self.skipped},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ParsedFile:
        data = json.loads(text)
        return cls(
            objects=tuple(data["objects"]),
            errors=tuple(data["errors"]),
            skipped=bool(data["skipped"]),
        )


SKIPPED = ParsedFile(skipped=True)


def is_manifest_path(path: str) -> bool:
    """Whether a file may hold manifests, by its name (``.yaml``, ``.yml``, ``.json``)."""
    return path.lower().endswith(MANIFEST_SUFFIXES)


def is_cluster_scoped(kind: str) -> bool:
    """Whether objects of ``kind`` live outside namespaces (built-in knowledge only)."""
    return kind in CLUSTER_SCOPED_KINDS


def too_large(size: int, limit: int = MAX_MANIFEST_BYTES) -> ParsedFile:
    """The result for a file over the size limit, so callers can skip reading it at all."""
    return ParsedFile(
        errors=(
            f"file is {_mib(size)} MiB, over the {_mib(limit)} MiB limit for a manifest; "
            "not parsed",
        )
    )


def parse_manifest_file(
    path: str, data: bytes, *, max_bytes: int = MAX_MANIFEST_BYTES
) -> ParsedFile:
    """Parse a manifest file (multi-document YAML, or JSON when ``path`` ends in ``.json``).

    Never raises for bad input: every problem becomes one line in ``errors``.
    """
    if len(data) > max_bytes:
        return too_large(len(data), max_bytes)
    text, problem = _decode(data)
    if text is None:
        return ParsedFile(errors=(problem,))
    # Cheap pre-filter: a file that never mentions both keys cannot hold an object, and need not
    # be parsed (or be valid) at all: most YAML in a repository is configuration of other tools.
    if "apiVersion" not in text or "kind" not in text:
        return SKIPPED
    if path.lower().endswith(".json"):
        docs, error = _load_json(text)
    else:
        docs, error = _load_yaml(text)
    if error is not None:
        return ParsedFile(errors=(error,))
    return _collect(docs)


def load_yaml_mapping(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Load a one-document YAML mapping (a kustomization, a Chart.yaml) with the same strict
    loader as manifests: ``(mapping, None)`` or ``(None, error)``. Never raises."""
    if len(data) > MAX_MANIFEST_BYTES:
        return None, too_large(len(data)).errors[0]
    text, problem = _decode(data)
    if text is None:
        return None, problem
    docs, error = _load_yaml(text)
    if error is not None:
        return None, error
    present = [d for _, d in docs if d is not None]
    if len(present) != 1 or not isinstance(present[0], dict):
        return None, "expected one YAML mapping"
    return present[0], None


# --- decoding ---------------------------------------------------------------------------------


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")


def _decode(data: bytes) -> tuple[str | None, str]:
    if b"\x00" in data:
        # UTF-16/32 text also has NUL bytes; Kubernetes tooling reads UTF-8 only.
        return None, "binary file (contains NUL bytes), not a manifest"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, f"not valid UTF-8 text (byte {exc.start}, line {line})"
    return text.removeprefix("\ufeff"), ""


# --- YAML ---------------------------------------------------------------------------------------


class _DuplicateKeyError(ConstructorError):
    def __init__(self, key: str, node: Node, first: Node) -> None:
        super().__init__(None, None, f"duplicate key {key!r}", node.start_mark)
        self.message = (
            f"duplicate key {key!r} at line {node.start_mark.line + 1}, "
            f"column {node.start_mark.column + 1} (first at line {first.start_mark.line + 1})"
        )


class _StrictLoader(_BaseLoader):
    """Safe loader that rejects duplicate keys and keeps values JSON-compatible."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Hashable, Any]:
        if not isinstance(node, MappingNode):
            raise ConstructorError(
                None,
                None,
                f"expected a mapping node, but found {type(node).__name__}",
                node.start_mark,
            )
        # Duplicates are checked on explicit keys only, before merging: a key that overrides
        # one brought in by ``<<: *anchor`` is how merge keys are meant to be used.
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self._key(key_node)
            first = seen.get(key)
            if first is not None:
                raise _DuplicateKeyError(key, key_node, first)
            seen[key] = key_node
        self.flatten_mapping(node)
        mapping: dict[Hashable, Any] = {}
        for key_node, value_node in node.value:
            mapping[self._key(key_node)] = self.construct_object(value_node, deep=deep)
        return mapping

    def _key(self, key_node: Node) -> str:
        if not isinstance(key_node, ScalarNode):
            raise ConstructorError(
                None, None, "a mapping key must be a scalar", key_node.start_mark
            )
        key = self.construct_object(key_node, deep=True)
        # JSON (and so Kubernetes) keys are strings: ``80: x`` means the key "80".
        return key if isinstance(key, str) else str(key_node.value)

    def construct_as_text(self, node: Node) -> str:
        return str(self.construct_scalar(node))  # type: ignore[arg-type]

    def construct_binary_text(self, node: Node) -> str:
        return re.sub(r"\s+", "", self.construct_as_text(node))


# Kubernetes converts YAML to JSON, where a timestamp is just a string; a datetime here would
# differ from what the cluster stores and would not serialize.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _StrictLoader.construct_as_text)
_StrictLoader.add_constructor("tag:yaml.org,2002:binary", _StrictLoader.construct_binary_text)


def _load_yaml(text: str) -> tuple[list[tuple[int, Any]], str | None]:
    """All documents with their first line, or the error that stopped the parse."""
    docs: list[tuple[int, Any]] = []
    loader = _StrictLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else 0
            docs.append((line, loader.construct_document(node) if node is not None else None))
    except yaml.MarkedYAMLError as exc:
        # Checked first: a Go template rarely survives YAML, and whatever error it trips over
        # (often a "duplicate key" between two branches of an if) would only mislead.
        if "{{" in text:
            return [], HELM_TEMPLATE_ERROR
        return [], _yaml_error_message(exc)
    except yaml.YAMLError as exc:
        return [], f"invalid YAML: {_one_line(str(exc))}"
    except RecursionError:
        return [], "invalid YAML: nested too deeply"
    finally:
        loader.dispose()
    if "&" in text:
        for _, doc in docs:
            if _expands_beyond(doc, MAX_EXPANDED_VALUES):
                return [], (
                    f"YAML aliases expand to more than {MAX_EXPANDED_VALUES:,} values; not parsed"
                )
    return docs, None


def _yaml_error_message(exc: yaml.MarkedYAMLError) -> str:
    if isinstance(exc, _DuplicateKeyError):
        return exc.message
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context = f" ({exc.context})" if exc.context else ""
    return _one_line(f"invalid YAML{where}: {exc.problem or 'unreadable'}{context}")


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _expands_beyond(value: Any, budget: int) -> bool:
    # Counts values as a serializer would see them (aliases expanded, cycles unbounded), with an
    # explicit stack so that a self-referencing document cannot recurse.
    stack = [value]
    count = 0
    while stack:
        item = stack.pop()
        count += 1
        if count > budget:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


# --- JSON ---------------------------------------------------------------------------------------


class _DuplicateJSONKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateJSONKey(key)
        result[key] = value
    return result


def _load_json(text: str) -> tuple[list[tuple[int, Any]], str | None]:
    try:
        return [(1, json.loads(text, object_pairs_hook=_no_duplicates))], None
    except _DuplicateJSONKey as exc:
        # The YAML loader reads JSON too and knows where the duplicate is.
        _, error = _load_yaml(text)
        return [], error or f"duplicate key {exc.args[0]!r}"
    except json.JSONDecodeError as exc:
        return [], f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except RecursionError:
        return [], "invalid JSON: nested too deeply"


# --- documents to objects -----------------------------------------------------------------------


# ``v1``, ``apps/v1``, ``example.com/v1alpha1``: a DNS subdomain group and a DNS label version.
_API_VERSION = re.compile(r"(?:[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?/)?[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_KIND = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def _is_object(doc: Any) -> bool:
    # Other tools' files borrow the two keys (ksonnet's app.yaml: ``apiVersion: 0.1.0``,
    # ``kind: ksonnet.io/app``); only the Kubernetes shapes of both make an object.
    if not isinstance(doc, dict):
        return False
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    return (
        isinstance(api_version, str)
        and isinstance(kind, str)
        and _API_VERSION.fullmatch(api_version) is not None
        and _KIND.fullmatch(kind) is not None
    )


def _is_list(doc: dict[str, Any]) -> bool:
    kind: str = doc["kind"]
    return kind.endswith("List") and isinstance(doc.get("items"), list) and doc.keys() <= _LIST_KEYS


def _collect(docs: list[tuple[int, Any]]) -> ParsedFile:
    objects: list[dict[str, Any]] = []
    errors: list[str] = []
    strays: list[tuple[int, int]] = []  # (document number, line) of non-object documents
    for number, (line, doc) in enumerate(docs, start=1):
        if doc is None:
            continue
        if not _is_object(doc):
            strays.append((number, line))
            continue
        if str(doc["apiVersion"]).startswith(_KUSTOMIZE_CONFIG_GROUPS):
            continue
        if _is_list(doc):
            for index, item in enumerate(doc["items"]):
                obj = _list_item(doc, item)
                if obj is None:
                    errors.append(
                        f"document {number} (line {line}): {doc['kind']} item {index} "
                        "is not a Kubernetes object"
                    )
                else:
                    objects.extend(_checked(obj, number, line, errors))
            continue
        objects.extend(_checked(doc, number, line, errors))
    if not objects and not errors:
        return SKIPPED
    # A file of objects with a stray document (a Deployment that lost its kind) is a broken
    # manifest; a file of nothing but non-object documents was never a manifest (above).
    for number, line in strays:
        errors.append(
            f"document {number} (line {line}) is not a Kubernetes object (no apiVersion and kind)"
        )
    return ParsedFile(objects=tuple(objects), errors=tuple(errors))


def _list_item(list_doc: dict[str, Any], item: Any) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        return None
    if _is_object(item):
        return item
    kind: str = list_doc["kind"]
    if kind == "List" or "apiVersion" in item or "kind" in item:
        return None
    # Typed lists from the API (DeploymentList) omit apiVersion/kind on their items.
    return {"apiVersion": list_doc["apiVersion"], "kind": kind.removesuffix("List"), **item}


def _checked(
    obj: dict[str, Any], number: int, line: int, errors: list[str]
) -> Iterator[dict[str, Any]]:
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        errors.append(f"document {number} (line {line}): metadata is not a mapping")
        return
    yield obj

"""parse_manifest_file: every shape of file a GitOps repository holds, and every way it breaks."""

from __future__ import annotations

import json

import pytest

from timetravel.domain.manifests import (
    HELM_TEMPLATE_ERROR,
    MAX_MANIFEST_BYTES,
    ParsedFile,
    is_cluster_scoped,
    is_manifest_path,
    load_yaml_mapping,
    parse_manifest_file,
)

DEPLOYMENT = b"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
"""

SERVICE = b"""\
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
"""


def test_multi_document_yaml_keeps_order_and_skips_empty_documents() -> None:
    data = b"---\n" + DEPLOYMENT + b"---\n---\n# only a comment\n---\n" + SERVICE + b"...\n"
    parsed = parse_manifest_file("app/web.yaml", data)
    assert parsed.errors == ()
    assert not parsed.skipped
    assert [(o["kind"], o["metadata"]["name"]) for o in parsed.objects] == [
        ("Deployment", "web"),
        ("Service", "web"),
    ]
    assert parsed.objects[0]["spec"] == {"replicas": 2}


def test_list_kinds_are_flattened() -> None:
    data = b"""\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: one}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: two}
---
apiVersion: apps/v1
kind: DeploymentList
metadata: {resourceVersion: "7"}
items:
- metadata: {name: typed}
  spec: {replicas: 1}
"""
    parsed = parse_manifest_file("lists.yml", data)
    assert parsed.errors == ()
    assert [(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in parsed.objects] == [
        ("v1", "ConfigMap", "one"),
        ("v1", "ConfigMap", "two"),
        # Items of a typed list carry no apiVersion/kind; the list's are theirs.
        ("apps/v1", "Deployment", "typed"),
    ]


def test_a_custom_kind_ending_in_list_is_not_flattened() -> None:
    data = b"apiVersion: net.example.com/v1\nkind: AllowList\nmetadata: {name: a}\n"
    data += b"spec: {}\nitems: [1, 2]\n"
    parsed = parse_manifest_file("allow.yaml", data)
    assert [o["kind"] for o in parsed.objects] == ["AllowList"]


def test_list_item_that_is_not_an_object_is_an_error_and_the_rest_is_kept() -> None:
    data = b"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n"
    data += b"  metadata: {name: ok}\n- just a string\n"
    parsed = parse_manifest_file("l.yaml", data)
    assert [o["metadata"]["name"] for o in parsed.objects] == ["ok"]
    assert parsed.errors == ("document 1 (line 1): List item 1 is not a Kubernetes object",)


def test_json_manifest() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    parsed = parse_manifest_file("c.json", json.dumps(obj, indent=2).encode())
    assert parsed == ParsedFile(objects=(obj,))


def test_json_list_and_duplicate_key() -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Secret"}]}
    assert [o["kind"] for o in parse_manifest_file("l.json", json.dumps(doc).encode()).objects] == [
        "Secret"
    ]
    dup = b'{\n  "apiVersion": "v1",\n  "kind": "ConfigMap",\n  "kind": "Secret"\n}\n'
    parsed = parse_manifest_file("d.json", dup)
    assert parsed.objects == ()
    assert len(parsed.errors) == 1
    assert "duplicate key 'kind'" in parsed.errors[0]
    assert "line 4" in parsed.errors[0]


def test_invalid_json_is_an_error_with_position() -> None:
    parsed = parse_manifest_file("x.json", b'{"apiVersion": "v1", "kind": }')
    assert parsed.objects == ()
    assert parsed.errors == ("invalid JSON at line 1, column 30: Expecting value",)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("chart/Chart.yaml", b"apiVersion: v2\nname: web\nversion: 0.1.0\n"),
        ("chart/values.yaml", b"replicaCount: 1\nimage:\n  repository: nginx\n"),
        (
            "app/kustomization.yaml",
            b"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            b"resources:\n- deployment.yaml\n",
        ),
        ("README.yaml", b"# nothing but a comment\n"),
        ("empty.yaml", b""),
        ("package.json", b'{"name": "x", "kind": "of", "apiVersion": 3}'),
        # ksonnet's app.yaml borrows both keys, in shapes Kubernetes never uses.
        ("ks/app.yaml", b"apiVersion: 0.1.0\nkind: ksonnet.io/app\nname: guestbook\n"),
        # Not even valid YAML: no apiVersion means it is no manifest, so it is not parsed.
        (".github/workflows/ci.yml", b"on: [push\njobs: {{ nope\n"),
    ],
)
def test_files_that_are_not_kubernetes_objects_are_skipped_silently(path: str, data: bytes) -> None:
    assert parse_manifest_file(path, data) == ParsedFile(skipped=True)


def test_a_stray_document_among_objects_is_reported_and_objects_kept() -> None:
    data = DEPLOYMENT + b"---\nmetadata:\n  name: lost-its-kind\n"
    parsed = parse_manifest_file("web.yaml", data)
    assert [o["kind"] for o in parsed.objects] == ["Deployment"]
    assert parsed.errors == (
        "document 2 (line 8) is not a Kubernetes object (no apiVersion and kind)",
    )


def test_duplicate_keys_name_the_key_and_line() -> None:
    data = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  x: '1'\n  x: '2'\n"
    parsed = parse_manifest_file("cm.yaml", data)
    assert parsed.objects == ()
    assert parsed.errors == ("duplicate key 'x' at line 7, column 3 (first at line 6)",)


def test_merge_keys_may_override_without_a_duplicate_error() -> None:
    data = b"""\
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
data:
  <<: {x: "from-anchor", y: "kept"}
  x: "override"
"""
    parsed = parse_manifest_file("cm.yaml", data)
    assert parsed.errors == ()
    assert parsed.objects[0]["data"] == {"x": "override", "y": "kept"}


def test_values_stay_json_compatible() -> None:
    data = b"""\
apiVersion: v1
kind: Secret
metadata:
  name: s
  annotations:
    created: 2024-01-02T03:04:05Z
data:
  80: !!binary |
    aGVs
    bG8=
"""
    parsed = parse_manifest_file("s.yaml", data)
    assert parsed.errors == ()
    obj = parsed.objects[0]
    # As Kubernetes reads YAML: timestamps are strings, keys are strings.
    assert obj["metadata"]["annotations"]["created"] == "2024-01-02T03:04:05Z"
    assert obj["data"] == {"80": "aGVsbG8="}
    assert ParsedFile.from_json(parsed.to_json()) == parsed


def test_invalid_utf8_is_an_error() -> None:
    prefix = DEPLOYMENT + b"  annotations: {note: caf"
    parsed = parse_manifest_file("web.yaml", prefix + b"\xe9}\n")
    assert parsed.objects == ()
    assert parsed.errors == (f"not valid UTF-8 text (byte {len(prefix)}, line 7)",)


def test_nul_bytes_mean_binary() -> None:
    parsed = parse_manifest_file(
        "image.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR apiVersion kind"
    )
    assert parsed.objects == ()
    assert parsed.errors == ("binary file (contains NUL bytes), not a manifest",)


def test_too_large_is_an_error_without_parsing() -> None:
    # Valid YAML, but over the limit: refused on size alone.
    data = DEPLOYMENT + b"# " + b"x" * MAX_MANIFEST_BYTES + b"\n"
    parsed = parse_manifest_file("huge.yaml", data)
    assert parsed.objects == ()
    assert parsed.errors == ("file is 4 MiB, over the 4 MiB limit for a manifest; not parsed",)


def test_helm_template_is_named_as_such() -> None:
    data = b"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "chart.fullname" . }}
  labels:
{{ include "chart.labels" . | indent 4 }}
"""
    parsed = parse_manifest_file("chart/templates/deployment.yaml", data)
    assert parsed.objects == ()
    assert parsed.errors == (HELM_TEMPLATE_ERROR,)


def test_truncated_yaml_is_one_line_with_line_and_column() -> None:
    data = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  key: [one, two\n"
    parsed = parse_manifest_file("cm.yaml", data)
    assert parsed.objects == ()
    assert len(parsed.errors) == 1
    message = parsed.errors[0]
    assert "\n" not in message
    assert message.startswith("invalid YAML at line 7, column 1:")


def test_a_broken_later_document_drops_the_whole_file() -> None:
    # A half-read file would pass for a smaller desired state.
    parsed = parse_manifest_file("two.yaml", DEPLOYMENT + b"---\napiVersion: v1\nkind: [\n")
    assert parsed.objects == ()
    assert parsed.errors[0].startswith("invalid YAML at line 10")


def test_alias_bomb_is_refused() -> None:
    lines = ["apiVersion: v1", "kind: ConfigMap", "a: &a ['lol', 'lol', 'lol', 'lol', 'lol']"]
    previous = "a"
    for name in "bcdefghij":
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 5) + "]")
        previous = name
    parsed = parse_manifest_file("bomb.yaml", "\n".join(lines).encode())
    assert parsed.objects == ()
    assert "aliases expand" in parsed.errors[0]


def test_deep_nesting_does_not_raise() -> None:
    data = b"apiVersion: v1\nkind: ConfigMap\ndata: " + b"[" * 50_000 + b"]" * 50_000 + b"\n"
    parsed = parse_manifest_file("deep.yaml", data)
    assert parsed.objects == ()
    assert len(parsed.errors) == 1


def test_metadata_must_be_a_mapping() -> None:
    parsed = parse_manifest_file("x.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata: oops\n")
    assert parsed.objects == ()
    assert parsed.errors == ("document 1 (line 1): metadata is not a mapping",)


def test_byte_order_mark_is_accepted() -> None:
    parsed = parse_manifest_file("bom.yaml", b"\xef\xbb\xbf" + SERVICE)
    assert [o["kind"] for o in parsed.objects] == ["Service"]


def test_is_manifest_path() -> None:
    assert is_manifest_path("a/b.yaml")
    assert is_manifest_path("b.YML")
    assert is_manifest_path("c.json")
    assert not is_manifest_path("templates/_helpers.tpl")
    assert not is_manifest_path("README.md")
    assert not is_manifest_path("yaml")


def test_cluster_scoped_kinds() -> None:
    assert is_cluster_scoped("ClusterRole")
    assert is_cluster_scoped("Namespace")
    assert not is_cluster_scoped("Deployment")


def test_load_yaml_mapping() -> None:
    assert load_yaml_mapping(b"resources:\n- a.yaml\n") == ({"resources": ["a.yaml"]}, None)
    assert load_yaml_mapping(b"a: 1\na: 2\n") == (
        None,
        "duplicate key 'a' at line 2, column 1 (first at line 1)",
    )
    assert load_yaml_mapping(b"- a\n") == (None, "expected one YAML mapping")

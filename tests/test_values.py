"""Values and changes in words: JSON, not Python; the most telling field first."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from timetravel.domain.diff import changed_fields
from timetravel.domain.model import ResourceKey
from timetravel.domain.snapshot import ChangeView, FieldChange
from timetravel.domain.values import (
    by_telling,
    change_summary,
    describe,
    field_label,
    short_value,
    telling_rank,
)

CONTAINER = "spec.template.spec.containers[api]"


def deployment(image: str, replicas: int, env: list[dict[str, Any]], **extra: Any) -> dict:
    container = {"name": "api", "image": image, "env": env}
    return {
        "metadata": {"annotations": extra.get("annotations", {})},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [container]}}},
        "status": extra.get("status", {}),
    }


def view(before: dict, after: dict) -> ChangeView:
    fields = tuple(FieldChange(*f) for f in changed_fields(before, after))
    key = ResourceKey("default", "apps", "Deployment", "payments", "api")
    return ChangeView(
        at="2026-11-19T21:24:00Z", key=key, api_version="apps/v1", type="updated", fields=fields
    )


def test_the_bad_rollout_is_summed_up_by_its_image_not_its_annotation() -> None:
    before = deployment("registry.example.com/payments/api:2.3.0", 3, [])
    after = deployment(
        "registry.example.com/payments/api:2.4.0",
        3,
        [],
        annotations={"deployment.kubernetes.io/revision": "7"},
        status={"observedGeneration": 7},
    )
    assert change_summary(view(before, after)) == "api image payments/api:2.3.0 → 2.4.0 (+2)"


def test_an_env_item_reads_as_name_equals_value() -> None:
    before = deployment("a:1", 2, [{"name": "A", "value": "1"}])
    after = deployment("a:1", 2, [{"name": "A", "value": "1"}, {"name": "DEBUG", "value": "true"}])
    (field,) = view(before, after).fields
    assert describe(field) == "api env DEBUG=true added"
    assert describe(FieldChange(field.path, field.after, None)) == "api env DEBUG removed"


def test_values_are_json_never_python_reprs() -> None:
    field = FieldChange(f"{CONTAINER}.ports", None, [{"name": "http", "containerPort": 80}])
    text = describe(field, limit=200)
    assert "{'" not in text and "None" not in text
    assert text == 'api ports [{"name": "http", "containerPort": 80}] added'
    assert short_value(None, 10) == "null" and short_value(True, 10) == "true"
    assert short_value("true", 10) == '"true"'  # a string that reads as a bool is quoted
    assert short_value("redacted:" + "ab" * 32, 40) == "redacted:abababababab…"


def test_labels_name_the_field_in_few_words() -> None:
    assert field_label(f"{CONTAINER}.image") == "api image"
    assert field_label(f"{CONTAINER}.env[DEBUG].value") == "api env DEBUG"
    assert field_label("spec.replicas") == "replicas"
    assert field_label("metadata.annotations.a") == "annotations.a"
    assert field_label("status.readyReplicas") == "status.readyReplicas"
    assert field_label(CONTAINER) == "container api"


def test_replicas_then_env_then_resources_then_the_rest_status_last() -> None:
    paths = [
        "status.readyReplicas",
        "metadata.generation",
        "spec.strategy.type",
        f"{CONTAINER}.resources.limits.cpu",
        f"{CONTAINER}.env[A].value",
        "spec.replicas",
        f"{CONTAINER}.image",
    ]
    ordered = [f.path for f in by_telling(FieldChange(p, 1, 2) for p in paths)]
    assert ordered == list(reversed(paths))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(json_values, st.integers(min_value=2, max_value=80))
def test_a_short_value_is_one_line_within_its_limit(value: Any, limit: int) -> None:
    text = short_value(value, limit)
    assert len(text) <= limit
    assert "\n" not in text and "\r" not in text
    if len(text) < limit and not text.endswith("…") and not isinstance(value, str):
        assert json.loads(text) == value  # uncut non-strings are exact JSON


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "image", "replicas", "status"]), json_values, max_size=5
    ),
    st.dictionaries(
        st.sampled_from(["a", "b", "image", "replicas", "status"]), json_values, max_size=5
    ),
)
def test_a_summary_leads_with_the_most_telling_field(before: dict, after: dict) -> None:
    v = view({"spec": before}, {"spec": after})
    summary = change_summary(v)
    if not v.fields:
        assert summary == "updated"
        return
    best = min(telling_rank(f.path) for f in v.fields)
    first = describe(by_telling(v.fields)[0])
    assert telling_rank(by_telling(v.fields)[0].path) == best
    assert summary.startswith(first)
    assert summary.endswith(f"(+{len(v.fields) - 1})") or len(v.fields) == 1

"""The own YAML writer (timetravel.domain.yaml_writer): what it writes reads back equal,
and the screen's side-by-side view and the exports write a value the same way."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timetravel.domain.yaml_writer import to_yaml
from timetravel.tui.sidebyside import to_yaml as screen_yaml

# Strings a YAML 1.1 reader could take for something else, and text shaped like YAML.
TRICKY = st.sampled_from(
    [
        "",
        " ",
        "yes",
        "No",
        "on",
        "OFF",
        "y",
        "n",
        "null",
        "Null",
        "~",
        "true",
        "False",
        "1",
        "-1",
        "0x1F",
        "0o17",
        "017",
        "1_000",
        "1e3",
        "1.5",
        ".5",
        ".inf",
        "-.Inf",
        ".nan",
        "1:20",
        "190:20:30",
        "2026-11-19",
        "2026-11-19T21:30:00Z",
        "<<",
        "=",
        "- a",
        "a: b",
        "a:b",
        "#x",
        "x #y",
        "&anchor",
        "*alias",
        "!tag",
        "%x",
        "@x",
        "`x",
        "{a: 1}",
        "[1]",
        "|",
        ">",
        "'",
        '"',
        "\\",
        "a\nb",
        "a\nb\n",
        "a\nb\n\n",
        "\na",
        " a\nb",
        "a\n b",
        "a\n  \nb",
        "a\r\nb",
        "a\tb",
        "\x1b[2J",
        "\x85",
        "\u2028",
        "\ufeff",
        "\x00",
        "é",
        "日本",
        "😀",
        "key: value\nother: 1",
    ]
)
TEXT = st.one_of(TRICKY, st.text(max_size=30))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    TEXT,
)
# JSON-like values: string keys (of the length Kubernetes allows a key: 253 + prefix).
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(TRICKY, st.text(max_size=60)), inner, max_size=5),
    ),
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    """Equal, with -0.0 and 0.0 told apart as YAML keeps them."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_what_the_writer_writes_reads_back_equal(value: Any) -> None:
    text = to_yaml(value)
    assert same(yaml.safe_load(text), value), text


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=20), VALUES, max_size=6))
def test_the_screen_writes_an_object_as_the_exports_do(obj: dict[str, Any]) -> None:
    assert screen_yaml(obj) == to_yaml(obj).splitlines()


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ({"a": "1"}, 'a: "1"'),
        ({"a": "true"}, 'a: "true"'),
        ({"a": "yes"}, 'a: "yes"'),
        ({"a": "null"}, 'a: "null"'),
        ({"a": "1.5"}, 'a: "1.5"'),
        ({"a": 1}, "a: 1"),
        ({"a": True}, "a: true"),
        ({"a": None}, "a: null"),
        ({"a": 1e16}, "a: 1.0e+16"),
        ({"a": {}}, "a: {}"),
        ({"a": []}, "a: []"),
        ({"a": "x\ny\n"}, "a: |\n  x\n  y"),
        ({"a": "x\ny"}, "a: |-\n  x\n  y"),
        ({"a": "\x1b[2J"}, 'a: "\\x1b[2J"'),
        ({"image": "nginx:1.27"}, "image: nginx:1.27"),
        ({"a": ["x", {"b": 1, "c": 2}]}, "a:\n- x\n- b: 1\n  c: 2"),
    ],
)
def test_values_are_styled_one_way(value: dict[str, Any], written: str) -> None:
    assert to_yaml(value) == written + "\n"
    assert screen_yaml(value) == written.split("\n")


def test_the_old_import_path_still_works() -> None:
    from timetravel.export.yaml_writer import to_yaml as old

    assert old is to_yaml

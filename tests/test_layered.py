"""``query.layered``: a mapping moved by changes without copying answers every question
as the dict made by copying and changing it would, through any sequence of moves (folded
into a new base or layered)."""

from __future__ import annotations

from typing import Any
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from timetravel.query import layered

KEYS = st.integers(0, 40)
MOVES = st.lists(
    st.tuples(st.lists(KEYS, max_size=6), st.dictionaries(KEYS, st.integers(), max_size=6)),
    max_size=25,
)


def same(got: Any, want: dict[int, int]) -> None:
    assert len(got) == len(want)
    assert sorted(got) == sorted(want)
    assert sorted(got.values()) == sorted(want.values())
    assert dict(got.items()) == want and got == want
    for key in range(-1, 42):
        assert (key in got) == (key in want)
        assert got.get(key, "none") == want.get(key, "none")
        if key in want:
            assert got[key] == want[key]
        else:
            try:
                got[key]
            except KeyError:
                pass
            else:
                raise AssertionError(f"{key} is not there")


@given(start=st.dictionaries(KEYS, st.integers(), max_size=30), moves=MOVES, fold=st.booleans())
def test_moves_answer_as_the_copied_dict(
    start: dict[int, int], moves: list[tuple[list[int], dict[int, int]]], fold: bool
) -> None:
    # Folding at once, or never below a share the small maps never reach.
    with mock.patch.object(layered, "FOLD_LEAST", 0 if fold else 10_000):
        got: Any = dict(start)
        want = dict(start)
        layers = 0
        for removed, added in moves:
            got = layered.moved(got, removed, added)
            layers += isinstance(got, layered.Layered)
            for key in removed:
                want.pop(key, None)
            want.update(added)
            same(got, want)
        if not fold and moves:
            assert layers == len(moves), "every move layered, none copied"

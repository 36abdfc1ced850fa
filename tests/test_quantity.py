from __future__ import annotations

from decimal import Decimal

import pytest

from timetravel.domain.quantity import parse_quantity, quantities_equal


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("0.5", Decimal("0.5")),
        ("1Gi", Decimal(1073741824)),
        ("1G", Decimal(1000000000)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("128974848", Decimal(128974848)),
        ("129e6", Decimal(129000000)),
        ("129M", Decimal(129000000)),
        ("123Mi", Decimal(128974848)),
        ("100n", Decimal("0.0000001")),
        ("250u", Decimal("0.00025")),
        ("2k", Decimal(2000)),
        ("1.5Ei", Decimal(1152921504606846976) * Decimal("1.5")),
        ("1E", Decimal(10) ** 18),
        (".5", Decimal("0.5")),
        ("+2", Decimal(2)),
        (" 1Ki ", Decimal(1024)),
        (3, Decimal(3)),
        (0.25, Decimal("0.25")),
    ],
)
def test_parse_quantity(text: str | int | float, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "m", "1.2.3", "1Mb", "ten", "1e", "1 Gi", "0x10", "Gi"])
def test_parse_quantity_rejects_what_is_not_a_quantity(text: str) -> None:
    assert parse_quantity(text) is None


def test_parse_quantity_rejects_booleans() -> None:
    assert parse_quantity(True) is None


@pytest.mark.parametrize(
    ("desired", "actual"),
    [
        ("500m", "0.5"),
        ("500m", 0.5),
        ("1Gi", "1073741824"),
        ("1Gi", 1073741824),
        ("123Mi", "128974848"),
        ("129e6", "129M"),
        ("1", 1),
        ("1000m", "1"),
    ],
)
def test_equal_quantities(desired: str, actual: str | int | float) -> None:
    assert quantities_equal(desired, actual)
    assert quantities_equal(actual, desired)


@pytest.mark.parametrize(
    ("desired", "actual"),
    [("500m", "1"), ("1Gi", "1G"), ("128Mi", "128M"), ("fast", "slow"), (None, "1"), (True, 1)],
)
def test_unequal_quantities(desired: object, actual: object) -> None:
    assert not quantities_equal(desired, actual)


def test_invalid_quantities_compare_as_text() -> None:
    assert quantities_equal("unlimited", "unlimited")
    assert not quantities_equal("unlimited", "Unlimited")

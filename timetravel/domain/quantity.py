"""Kubernetes resource quantities (``500m``, ``1Gi``, ``129e6``) compared by value."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
# The grammar of k8s.io/apimachinery resource.Quantity: sign, digits with at most one point,
# then a binary suffix, a decimal SI suffix, or a decimal exponent.
_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)


def parse_quantity(value: str | int | float) -> Decimal | None:
    """The exact value of a quantity (``500m`` -> 0.5, ``1Gi`` -> 1073741824), or None when
    ``value`` is not a quantity (booleans, empty or malformed strings, other types)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.fullmatch(value.strip())
    if match is None:
        return None
    suffix = match["suffix"] or ""
    # Quantities are exact; the default 28 digits would round 1.5Ei-sized values.
    with localcontext() as context:
        context.prec = 80
        try:
            number = Decimal(match["number"])
        except InvalidOperation:
            return None
        if suffix in _BINARY:
            return number * (Decimal(1024) ** _BINARY[suffix])
        if suffix in _DECIMAL:
            return number.scaleb(_DECIMAL[suffix])
        return number.scaleb(int(suffix[1:]))


def quantities_equal(desired: Any, actual: Any) -> bool:
    """Whether two quantities have the same value (``500m`` == ``0.5``, ``1Gi`` ==
    ``1073741824``); anything that is not a quantity is compared as text."""
    if isinstance(desired, bool) or isinstance(actual, bool):
        return desired is actual
    if isinstance(desired, str | int | float) and isinstance(actual, str | int | float):
        left, right = parse_quantity(desired), parse_quantity(actual)
        if left is not None and right is not None:
            return left == right
    if desired is None or actual is None:
        return desired is actual
    return str(desired) == str(actual)

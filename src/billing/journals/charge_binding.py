"""Reading the values of one charge line (billing-api.md §3.2, §3.3, §8.2), shaped for the validator's hot path.

* Objects bind with case-insensitive member names (the last occurrence wins) through `bind`, which returns an
  object already written with canonical names as it is, without copying (the common case).
* Numbers bind from JSON numbers or numeric strings through `amount`, rounded to 6 places half away from zero
  with an explicit 60-digit context: the same result as `billing.kit.money.round6` without its context switch.
* Messages quote raw inputs with `shown`: strings as given, numbers as canonical decimal text.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

from billing.kit.money import MAX_MAGNITUDE, QUANTUM, NotANumber, format_decimal, to_decimal

#: Enough digits for exact products and sums of 6-place values below 10^15 (the default context has 28).
EXACT = Context(prec=60, rounding=ROUND_HALF_UP)
#: The largest magnitude that stays below 10^15 once rounded to 6 places.
_ROUNDS_IN_RANGE = MAX_MAGNITUDE - Decimal("0.0000005")
_MAX_INT = int(MAX_MAGNITUDE)

Names = tuple[frozenset[str], dict[str, str]]


def names(*canonical: str) -> Names:
    """The canonical member names of an object, and the same keyed by their folded form."""
    return frozenset(canonical), {name.lower(): name for name in canonical}


TOP = names("externalIds", "search", "period", "quantity", "price", "segment", "description", "attributes")
EXTERNAL_IDS = names("vendor", "invoice", "reference")
SEARCH = names("source", "subscription", "order", "item")
SOURCE = names("type", "criteria", "value")
CRITERION = names("criteria", "value")
PERIOD = names("start", "end")
PRICE = names("unitPP", "PPx1", "currency")
DESCRIPTION = names("value1", "value2")
ATTRIBUTES = names("agreementVendorId", "segment")


def bind(value: Any, members: Names) -> dict[str, Any] | None:
    """``value`` with canonical member names and unknown members dropped; None when it is not an object."""
    if type(value) is not dict:
        return None
    canonical, folded = members
    if canonical.issuperset(value):
        return value
    bound: dict[str, Any] = {}
    for key, member in value.items():
        name = folded.get(key.lower()) if isinstance(key, str) else None
        if name is not None:
            bound[name] = member
    return bound


def shown(value: Any) -> str:
    """A raw input as quoted in a message: strings as given, numbers in canonical decimal text."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format_decimal(value) if value.is_finite() else str(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return format_decimal(Decimal(repr(value)))
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, default=str, ensure_ascii=False)


def text(value: Any) -> str | None:
    """A free-text input: strings as given, scalars as their text, objects and arrays unreadable (None)."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, dict | list):
        return None
    return shown(value)


def round6(value: Decimal) -> Decimal:
    """6 places, half away from zero (`billing.kit.money.round6` without the context switch)."""
    return value.quantize(QUANTUM, ROUND_HALF_UP, EXACT)


def amount(raw: Any, name: str, required: bool, errors: list[str]) -> Decimal | None:
    """Bind a numeric property: the value rounded to 6 places, or None after adding its error (V20–V22)."""
    kind = type(raw)
    if kind is int:
        if -_MAX_INT < raw < _MAX_INT:
            return Decimal(raw).quantize(QUANTUM, ROUND_HALF_UP, EXACT)
        errors.append(f"'{name}' is out of range.")
        return None
    if kind is Decimal and raw.is_finite():
        value = raw
    elif raw is None:
        if required:
            errors.append(f"'{name}' is required.")
        return None
    else:
        try:
            value = to_decimal(raw)
        except NotANumber:
            errors.append(f"'{name}' must be a number: '{shown(raw)}'.")
            return None
    if -_ROUNDS_IN_RANGE < value < _ROUNDS_IN_RANGE:
        return value.quantize(QUANTUM, ROUND_HALF_UP, EXACT)
    errors.append(f"'{name}' is out of range.")
    return None


def quick_amount(raw: Any) -> Decimal | None:
    """`amount` for an input that passes V20–V22, else None without a message (the validator's fast path).

    A string goes to `Decimal` as `to_decimal` does (surrounding blanks allowed), so the value is the same.
    """
    kind = type(raw)
    if kind is int:
        return Decimal(raw).quantize(QUANTUM, ROUND_HALF_UP, EXACT) if -_MAX_INT < raw < _MAX_INT else None
    if kind is Decimal:
        value = raw
    elif kind is str:
        try:
            value = Decimal(raw)
        except InvalidOperation:
            return None
    else:
        return None
    if value.is_finite() and -_ROUNDS_IN_RANGE < value < _ROUNDS_IN_RANGE:
        return value.quantize(QUANTUM, ROUND_HALF_UP, EXACT)
    return None

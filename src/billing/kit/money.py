"""Exact decimal handling (billing-api.md §3.3).

Amounts, prices, quantities and percentages are `Decimal`, stored with 6 places, rounded half away from
zero exactly once when stored. Output is plain decimal notation without trailing zeros.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

PLACES = 6
QUANTUM = Decimal(1).scaleb(-PLACES)
#: Supported magnitude (exclusive) of stored values, per the spec.
MAX_MAGNITUDE = Decimal(10) ** 15
#: The context of the single rounding: enough precision for any quantize to 6 places (built once: a
#: ``localcontext()`` per call cost three times the rounding itself).
_ROUNDING = Context(prec=60, rounding=ROUND_HALF_UP)


class NotANumber(ValueError):
    """The input is not a finite decimal number."""


def to_decimal(value: Any) -> Decimal:
    """Bind a JSON number or numeric string to a finite `Decimal` (billing-api.md §3.2).

    Accepts ints, Decimals, floats (via their shortest repr) and strings such as ``" 10 "`` or ``"1e3"``.
    Rejects booleans, empty strings, NaN and Infinity.
    """
    if isinstance(value, bool) or value is None:
        raise NotANumber(repr(value))
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise NotANumber(value)
        try:
            result = Decimal(text)
        except InvalidOperation as exc:
            raise NotANumber(value) from exc
    else:
        raise NotANumber(repr(value))
    if not result.is_finite():
        raise NotANumber(str(value))
    return result


def round6(value: Decimal) -> Decimal:
    """Round to 6 decimal places, half away from zero (the single rounding of a stored value)."""
    return value.quantize(QUANTUM, context=_ROUNDING)


def in_range(value: Decimal) -> bool:
    return abs(value) < MAX_MAGNITUDE


def format_decimal(value: Decimal) -> str:
    """Plain notation, trailing fractional zeros removed: ``100``, ``9.090909``, ``-0.5``."""
    if value == 0:
        return "0"
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text

"""Column types that keep values exact on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import JSON, BigInteger, Dialect, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

from billing.kit.money import QUANTUM, format_decimal, round6
from billing.kit.timeutil import format_instant, parse_instant

_SCALE = 10**6


class Money(TypeDecorator[Decimal]):
    """A decimal with 6 places, stored losslessly.

    PostgreSQL: ``NUMERIC(21, 6)`` (|x| < 10^15). SQLite has no exact decimal type (NUMERIC affinity turns
    values into binary floats), so there the value is a 64-bit integer count of millionths: exact, ordered
    and summed exactly by SQLite itself, for |x| < 9.2 × 10^12.
    """

    impl = Numeric(21, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(21, 6, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = round6(value if isinstance(value, Decimal) else Decimal(str(value)))
        if dialect.name == "sqlite":
            return int(exact * _SCALE)
        return exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / _SCALE).quantize(QUANTUM)
        return Decimal(value).quantize(QUANTUM)

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


class InstantText(TypeDecorator[datetime]):
    """An instant compared as its ISO-8601 text (used for audit events kept inside JSON)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return format_instant(value) if isinstance(value, datetime) else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else parse_instant(value.rstrip("Z"))


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(format_decimal(value).encode())
    if isinstance(value, datetime):
        return format_instant(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_dumps(value: Any) -> str:
    """JSON for stored documents: decimals as exact JSON numbers, instants as ISO text."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()


#: One decoder for every read (``json.loads`` with ``parse_float`` builds a new one per call, which costs about
#: as much as decoding a small document; list pages decode a few thousand).
_DECODER = json.JSONDecoder(parse_float=Decimal)


def json_loads(text: str | bytes) -> Any:
    """Numbers with a fraction or exponent come back as `Decimal`, never float."""
    if isinstance(text, str):
        return _DECODER.decode(text)
    # what json.loads does with bytes, without building a decoder per call (psycopg hands JSONB over as bytes)
    return _DECODER.decode(text.decode(json.detect_encoding(text), "surrogatepass"))


#: JSON documents (JSONB on PostgreSQL).
Document = JSON().with_variant(JSONB(), "postgresql")

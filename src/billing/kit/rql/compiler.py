"""Compiling RQL filters and ``order`` into SQLAlchemy Core expressions (billing-api.md §4.3–§4.6).

Only properties of the caller's registry can be referenced and every value is bound as a parameter through
the property's column type, so no user input ever reaches the SQL text.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, ColumnElement, and_, false, func, not_, or_, true
from sqlalchemy.orm import QueryableAttribute

from billing.kit.money import NotANumber, to_decimal
from billing.kit.rql.fields import Collection, Field, FieldType, Registry
from billing.kit.rql.parser import (
    MAX_LENGTH,
    And,
    Call,
    Empty,
    Expr,
    ListValue,
    Literal,
    Null,
    Or,
    Path,
    RqlError,
    excerpt,
    parse,
)
from billing.kit.timeutil import parse_instant

#: Bound values per query; keeps well below the parameter limits of SQLite (32766) and PostgreSQL (65535).
MAX_VALUES = 5000
#: Magnitude (as a power of ten) and significant digits accepted in number values: far beyond any stored
#: value, but small enough for every database's numeric type.
_MAX_DIGITS = 100
_MAX_INTEGER = 2**63
_TEXTUAL = frozenset({FieldType.STRING, FieldType.ID, FieldType.ENUM})
_TYPE_NAMES = {FieldType.INTEGER: "number"}


def compile_filter(filters: list[str], registry: Registry) -> ColumnElement[bool] | None:
    """AND of all filter expressions of a query string; None when there are none."""
    if sum(len(text) for text in filters) > MAX_LENGTH:
        raise RqlError("Query is too long.")
    compiler = _Compiler()
    clauses = [compiler.expression(parse(text), registry) for text in filters]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else and_(*clauses)


def compile_order(
    order: str | None, registry: Registry, *, default: str, tiebreak: ColumnElement[Any] | QueryableAttribute[Any]
) -> list[ColumnElement[Any]]:
    """ORDER BY clauses for ``order`` (or ``default`` when absent), nulls first ascending and last
    descending, with ``tiebreak`` ascending as the final key.

    The null placement is spelled ``NULLS FIRST``/``NULLS LAST`` (not a leading ``x IS NULL`` key), so that an
    index on the column, in that order, serves the sort: SQLite's own null order is exactly this one, and
    PostgreSQL uses an index declared with the same ``NULLS`` clause."""
    text = order if order and order.strip() else default
    if len(text) > MAX_LENGTH:
        raise RqlError("Query is too long.")
    clauses: list[ColumnElement[Any]] = []
    has_tiebreak = False
    offset = 0
    for term in text.split(","):
        position = offset + len(term) - len(term.lstrip())
        offset += len(term) + 1
        name = term.strip()
        descending = name.startswith("-")
        if name[:1] in "+-":
            name = name[1:].strip()
        if not name:
            raise RqlError(f"Empty order term at position {position}.")
        target = registry.get(name.lower())
        if target is None:
            raise RqlError(f"Unknown property '{excerpt(name)}'.")
        if isinstance(target, Collection) or not target.sortable:
            raise RqlError(f"Property '{name}' cannot be used in order.")
        expr = target.expr
        has_tiebreak = has_tiebreak or expr.__clause_element__().compare(tiebreak.__clause_element__())
        if not _nullable(expr):
            clauses.append(expr.desc() if descending else expr.asc())
        else:
            clauses.append(expr.desc().nulls_last() if descending else expr.asc().nulls_first())
    if not has_tiebreak:
        clauses.append(tiebreak.asc())
    return clauses


def _nullable(expr: ColumnElement[Any] | QueryableAttribute[Any]) -> bool:
    """False for a NOT NULL table column: its order needs no NULLS clause, so a plain index serves it (on
    PostgreSQL ``NULLS LAST`` descending is not what a default index gives)."""
    element = expr.__clause_element__() if isinstance(expr, QueryableAttribute) else expr
    return not isinstance(element, Column) or bool(element.nullable)


class _Compiler:
    def __init__(self) -> None:
        self._values = 0

    def expression(self, node: Expr, registry: Registry) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(*(self.expression(item, registry) for item in node.items))
        if isinstance(node, Or):
            return or_(*(self.expression(item, registry) for item in node.items))
        if node.op == "not":
            (inner,) = node.args
            assert isinstance(inner, And | Or | Call)
            return not_(_definite(self.expression(inner, registry)))
        path = node.args[0]
        assert isinstance(path, Path)
        if node.op in ("any", "all"):
            return self._quantified(node, path, registry)
        target = registry.get(path.key)
        if target is None:
            raise RqlError(f"Unknown property '{excerpt(path.text)}'.")
        value = node.args[1]
        if isinstance(target, Collection):
            if node.op in ("eq", "ne") and isinstance(value, Empty):
                present = target.exists(None)
                return not_(present) if node.op == "eq" else present
            raise RqlError(f"Property '{path.text}' is a collection; use any(), all() or empty().")
        if isinstance(value, ListValue):
            return self._membership(node.op, target, path, value)
        assert isinstance(value, Literal | Null | Empty)
        return self._comparison(node.op, target, path, value)

    def _quantified(self, node: Call, path: Path, registry: Registry) -> ColumnElement[bool]:
        """``any`` is EXISTS(match); ``all`` is NOT EXISTS(non-match), where a NULL result counts as a
        non-match, so ``all`` holds for an empty collection."""
        target = registry.get(path.key)
        if target is None:
            raise RqlError(f"Unknown property '{excerpt(path.text)}'.")
        if not isinstance(target, Collection):
            raise RqlError(f"Property '{path.text}' is not a collection; {node.op}() needs one.")
        inner = node.args[1]
        assert isinstance(inner, And | Or | Call)
        predicate = self.expression(inner, target.fields)
        if node.op == "any":
            return target.exists(predicate)
        return not_(target.exists(not_(_definite(predicate))))

    def _comparison(self, op: str, field: Field, path: Path, value: Literal | Null | Empty) -> ColumnElement[bool]:
        expr = field.expr
        if isinstance(value, Null):
            return expr.is_(None) if op == "eq" else expr.is_not(None)
        if isinstance(value, Empty):
            if field.type in _TEXTUAL:
                return or_(expr.is_(None), expr == "") if op == "eq" else and_(expr.is_not(None), expr != "")
            return expr.is_(None) if op == "eq" else expr.is_not(None)
        if op in ("like", "ilike"):
            return self._like(op, field, path, value)
        bound = self._convert(field, path, value)
        if op == "eq":
            return expr == bound
        if op == "ne":
            return or_(expr.is_(None), expr != bound)
        if op == "gt":
            return expr > bound
        if op == "ge":
            return expr >= bound
        if op == "lt":
            return expr < bound
        return expr <= bound

    def _membership(self, op: str, field: Field, path: Path, values: ListValue) -> ColumnElement[bool]:
        """``in`` / ``out``; ``null()`` and ``empty()`` may be list items. ``out`` holds for a null field
        unless the list names ``null()`` or ``empty()``."""
        expr = field.expr
        bound = [self._convert(field, path, item) for item in values.items if isinstance(item, Literal)]
        with_null = any(isinstance(item, Null | Empty) for item in values.items)
        with_blank = field.type in _TEXTUAL and any(isinstance(item, Empty) for item in values.items)
        if op == "in":
            matches: list[ColumnElement[bool]] = [expr.in_(bound)] if bound else []
            if with_null:
                matches.append(expr.is_(None))
            if with_blank:
                matches.append(expr == "")
            return or_(*matches) if matches else false()
        conditions: list[ColumnElement[bool]] = [expr.not_in(bound)] if bound else []
        if with_blank:
            conditions.append(expr != "")
        if with_null:
            return and_(expr.is_not(None), *conditions)
        return or_(expr.is_(None), *conditions) if conditions else true()

    def _like(self, op: str, field: Field, path: Path, value: Literal) -> ColumnElement[bool]:
        """``*`` matches any sequence and ``\\*`` is a literal star; without a wildcard it is equality.
        Ids and enums always match case-insensitively."""
        if field.type not in _TEXTUAL:
            raise RqlError(f"Operator '{op}' is not valid for {_type_name(field)} property '{path.text}'.")
        pattern, plain = _like_pattern(value.text)
        if pattern is None:
            literal = Literal(plain, value.quoted, value.position)
            if op == "like" or field.type is not FieldType.STRING:
                return field.expr == self._convert(field, path, literal)
            pattern = _escape_like(plain)
        self._count()
        if op == "like" and field.type is FieldType.STRING:
            return field.expr.like(pattern, escape="\\")
        return field.expr.ilike(pattern, escape="\\")

    def _convert(self, field: Field, path: Path, value: Literal) -> Any:
        """The literal converted to the property's type (quoted or not)."""
        self._count()
        text = value.text
        kind = field.type
        if kind is FieldType.STRING:
            return text
        if kind is FieldType.ID:
            return text.upper()
        if kind is FieldType.ENUM:
            canonical = {option.lower(): option for option in field.enum_values}.get(text.strip().lower())
            if canonical is None:
                raise RqlError(
                    f"Value '{excerpt(text)}' is not valid for enum property '{path.text}'; "
                    f"expected {', '.join(field.enum_values)}."
                )
            return canonical
        converted: Decimal | int | datetime | bool | None = None
        if kind in (FieldType.NUMBER, FieldType.INTEGER):
            converted = _number(text, integer=kind is FieldType.INTEGER)
        elif kind is FieldType.DATETIME:
            try:
                converted = parse_instant(text)
            except (ValueError, OverflowError):
                converted = None
        elif kind is FieldType.BOOLEAN:
            converted = {"true": True, "false": False}.get(text.strip().lower())
        if converted is None:
            raise RqlError(f"Value '{excerpt(text)}' is not valid for {_type_name(field)} property '{path.text}'.")
        return converted

    def _count(self) -> None:
        self._values += 1
        if self._values > MAX_VALUES:
            raise RqlError(f"Query has too many values (at most {MAX_VALUES}).")


def _definite(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """``condition`` with NULL (unknown) read as false, so that negating it gives the complement."""
    return func.coalesce(condition, false())


def _number(text: str, *, integer: bool) -> Decimal | int | None:
    try:
        number = to_decimal(text)
    except NotANumber:
        return None
    if not number:
        number = Decimal(0)
    elif abs(number.adjusted()) > _MAX_DIGITS or len(number.as_tuple().digits) > _MAX_DIGITS:
        return None
    if not integer:
        return number
    if number != number.to_integral_value() or abs(number) >= _MAX_INTEGER:
        return None
    return int(number)


def _like_pattern(text: str) -> tuple[str | None, str]:
    """(SQL LIKE pattern with ``\\`` as escape, or None when ``text`` has no wildcard; ``text`` with ``\\*``
    unescaped)."""
    pattern: list[str] = []
    plain: list[str] = []
    wildcard = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and text.startswith("*", index + 1):
            pattern.append("*")
            plain.append("*")
            index += 2
            continue
        if char == "*":
            pattern.append("%")
            wildcard = True
        else:
            pattern.append(_escape_like(char))
            plain.append(char)
        index += 1
    return ("".join(pattern) if wildcard else None), "".join(plain)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _type_name(field: Field) -> str:
    return _TYPE_NAMES.get(field.type, field.type.value)

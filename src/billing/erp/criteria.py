"""NAV filter criteria (erp-integration.md §1.3): emitted by the service, evaluated by the simulator.

Emitting (service): every literal is quoted, operators stay outside the quotes::

    equals("SOM-1")          → 'SOM-1'            any_of(["A", "B"])   → 'A'|'B'
    between(d1, d2)          → '2025-05-01'..'2025-05-31'
    at_least(101)            → '101'..             at_most(x) → ..'x'     not_equal("") → <>''

Parsing (simulator): ``parse(criteria, field_type)`` returns a `Criteria`, a predicate over typed field values
(str, int, Decimal, bool, date/datetime or None for a blank date). Grammar::

    criteria    := alternative ('|' alternative)*           any of
    alternative := term ('&' term)*                         all of
    term        := '@'? ( '(' criteria ')' | condition )    @ = case-insensitive
    condition   := ('<>' | '<=' | '>=' | '<' | '>' | '=') value
                 | value '..' value | value '..' | '..' value | value
    value       := 'quoted, '' inside is one quote' | unquoted text, where * and ? are wildcards

A quoted value is always literal (``'A..B'`` is the text ``A..B``); ``''`` is the blank value. Unquoted values
end at an operator character and lose surrounding spaces. Code fields compare upper-cased, like the ERP.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from billing.erp.pages import FieldType

Value = str | int | Decimal | bool | date | datetime | None
_OPERATORS = ("<>", "<=", ">=", "<", ">", "=")
_BLANK_SORT_KEYS: dict[FieldType, Any] = {
    FieldType.DATE: date.min,
    FieldType.DATETIME: datetime.min.replace(tzinfo=UTC),
}


class CriteriaError(ValueError):
    """The criteria text cannot be parsed, or a value does not fit the field type."""


# --- emitting -----------------------------------------------------------------------------------------------


def format_value(value: Value) -> str:
    """A value as criteria text (unquoted): dates ``2025-05-01``, datetimes UTC ``2025-05-01T10:00:00Z``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes in criteria must be timezone-aware")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def quote(value: Value) -> str:
    """The value as a quoted literal: ``O'Neil`` → ``'O''Neil'``; a blank value → ``''``."""
    return "'" + format_value(value).replace("'", "''") + "'"


def equals(value: Value) -> str:
    return quote(value)


def not_equal(value: Value) -> str:
    return "<>" + quote(value)


def any_of(values: Iterable[Value]) -> str:
    """``'A'|'B'|…``; refuses an empty list (it would match everything)."""
    items = [quote(value) for value in values]
    if not items:
        raise ValueError("any_of needs at least one value")
    return "|".join(items)


def between(lower: Value, upper: Value) -> str:
    return f"{quote(lower)}..{quote(upper)}"


def at_least(lower: Value) -> str:
    return f"{quote(lower)}.."


def at_most(upper: Value) -> str:
    return f"..{quote(upper)}"


def compare(operator: str, value: Value) -> str:
    """``<X``, ``<=X``, ``>X``, ``>=X`` or ``<>X`` with ``X`` quoted."""
    if operator not in _OPERATORS:
        raise ValueError(f"unknown operator {operator!r}")
    return operator + quote(value)


# --- parsing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    text: str
    quoted: bool

    @property
    def is_pattern(self) -> bool:
        return not self.quoted and ("*" in self.text or "?" in self.text)


@dataclass(frozen=True, slots=True)
class Bounds:
    """A range implied by a criteria: ``lower``/``upper`` (typed, None = open) and whether each is included."""

    lower: Any = None
    lower_inclusive: bool = True
    upper: Any = None
    upper_inclusive: bool = True


class Criteria:
    """A parsed criteria: call it with a typed field value to test it; `exact_values` and `bounds` describe it
    for index narrowing (both return None when the criteria is not of that simple shape)."""

    def __init__(self, text: str, field_type: FieldType, node: _Node | None) -> None:
        self.text = text
        self.field_type = field_type
        self._node = node

    def __call__(self, value: Value) -> bool:
        return True if self._node is None else self._node.matches(value)

    def __repr__(self) -> str:
        return f"Criteria({self.text!r}, {self.field_type.value})"

    def exact_values(self) -> tuple[Any, ...] | None:
        """The values when the criteria is only case-sensitive equalities joined by ``|``."""
        alternatives = self._node.alternatives if isinstance(self._node, _AnyOf) else (self._node,)
        values = []
        for node in alternatives:
            if not (isinstance(node, _Compare) and node.operator == "=" and not node.fold and node.pattern is None):
                return None
            values.append(node.value)
        return tuple(values)

    def bounds(self) -> Bounds | None:
        """The range when the criteria is one range or comparison, or several joined by ``&``."""
        terms = self._node.terms if isinstance(self._node, _AllOf) else (self._node,)
        bounds = Bounds()
        for node in terms:
            if isinstance(node, _Range) and not node.fold:
                pairs = [(">=", node.lower), ("<=", node.upper)]
            elif isinstance(node, _Compare) and node.operator in ("<", "<=", ">", ">=", "=") and not node.fold:
                if node.pattern is not None:
                    return None
                pairs = (
                    [(node.operator, node.value)] if node.operator != "=" else [(">=", node.value), ("<=", node.value)]
                )
            else:
                return None
            for operator, value in pairs:
                if value is _OPEN:
                    continue
                if operator.startswith(">"):
                    bounds = Bounds(value, operator == ">=", bounds.upper, bounds.upper_inclusive)
                else:
                    bounds = Bounds(bounds.lower, bounds.lower_inclusive, value, operator == "<=")
        return bounds


def parse(text: str, field_type: FieldType = FieldType.TEXT) -> Criteria:
    """Parse criteria for a field of ``field_type``; raises `CriteriaError` with the reason."""
    if not text.strip():
        return Criteria(text, field_type, None)
    parser = _Parser(text, field_type)
    node = parser.criteria(fold=False)
    if parser.peek() is not None:
        raise CriteriaError(f"Unexpected {parser.peek()!r} in the filter {text!r}.")
    return Criteria(text, field_type, node)


_OPEN = object()


class _Node:
    def matches(self, value: Value) -> bool:
        raise NotImplementedError


class _AnyOf(_Node):
    def __init__(self, alternatives: tuple[_Node, ...]) -> None:
        self.alternatives = alternatives

    def matches(self, value: Value) -> bool:
        return any(node.matches(value) for node in self.alternatives)


class _AllOf(_Node):
    def __init__(self, terms: tuple[_Node, ...]) -> None:
        self.terms = terms

    def matches(self, value: Value) -> bool:
        return all(node.matches(value) for node in self.terms)


class _Compare(_Node):
    """``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=`` against one value, or (in)equality against a wildcard pattern."""

    def __init__(self, operator: str, value: Any, key: Callable[[Value], Any], fold: bool, pattern: str | None):
        self.operator = operator
        self.value = value
        self.key = key
        self.fold = fold
        self.pattern = re.compile(_wildcard_regex(pattern), re.IGNORECASE if fold else 0) if pattern else None
        self.target = key(value)

    def matches(self, value: Value) -> bool:
        if self.pattern is not None:
            found = self.pattern.fullmatch(value if isinstance(value, str) else str(value or "")) is not None
            return found if self.operator == "=" else not found
        actual = self.key(value)
        match self.operator:
            case "=":
                return bool(actual == self.target)
            case "<>":
                return bool(actual != self.target)
            case "<":
                return bool(actual < self.target)
            case "<=":
                return bool(actual <= self.target)
            case ">":
                return bool(actual > self.target)
            case _:
                return bool(actual >= self.target)


class _Range(_Node):
    def __init__(self, lower: Any, upper: Any, key: Callable[[Value], Any], fold: bool) -> None:
        self.lower = lower
        self.upper = upper
        self.fold = fold
        self.key = key
        self.low_key = None if lower is _OPEN else key(lower)
        self.high_key = None if upper is _OPEN else key(upper)

    def matches(self, value: Value) -> bool:
        actual = self.key(value)
        if self.low_key is not None and actual < self.low_key:
            return False
        return self.high_key is None or actual <= self.high_key


def _wildcard_regex(pattern: str) -> str:
    return "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)


class _Parser:
    def __init__(self, text: str, field_type: FieldType) -> None:
        self.text = text
        self.field_type = field_type
        self.tokens = _tokenize(text)
        self.position = 0

    def peek(self) -> str | _Literal | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str | _Literal | None:
        token = self.peek()
        self.position += 1
        return token

    def expect_value(self) -> _Literal:
        token = self.take()
        if not isinstance(token, _Literal):
            raise CriteriaError(f"A value is missing in the filter {self.text!r}.")
        return token

    def criteria(self, fold: bool) -> _Node:
        alternatives = [self.alternative(fold)]
        while self.peek() == "|":
            self.take()
            alternatives.append(self.alternative(fold))
        return alternatives[0] if len(alternatives) == 1 else _AnyOf(tuple(alternatives))

    def alternative(self, fold: bool) -> _Node:
        terms = [self.term(fold)]
        while self.peek() == "&":
            self.take()
            terms.append(self.term(fold))
        return terms[0] if len(terms) == 1 else _AllOf(tuple(terms))

    def term(self, fold: bool) -> _Node:
        if self.peek() == "@":
            self.take()
            fold = True
        if self.peek() == "(":
            self.take()
            node = self.criteria(fold)
            if self.take() != ")":
                raise CriteriaError(f"A ')' is missing in the filter {self.text!r}.")
            return node
        token = self.peek()
        if token in _OPERATORS:
            self.take()
            literal = self.expect_value()
            operator = str(token)
            if literal.is_pattern and operator not in ("=", "<>"):
                raise CriteriaError(f"Wildcards cannot be used with {operator} in the filter {self.text!r}.")
            return self.compare(operator, literal, fold)
        if token == "..":
            self.take()
            return _Range(_OPEN, self.bound(self.expect_value()), self.key(fold), fold)
        literal = self.expect_value()
        if self.peek() == "..":
            self.take()
            upper = self.bound(self.expect_value()) if isinstance(self.peek(), _Literal) else _OPEN
            return _Range(self.bound(literal), upper, self.key(fold), fold)
        return self.compare("=", literal, fold)

    def bound(self, literal: _Literal) -> Any:
        if literal.is_pattern:
            raise CriteriaError(f"Wildcards cannot be used in a range in the filter {self.text!r}.")
        return self.convert(literal.text)

    def compare(self, operator: str, literal: _Literal, fold: bool) -> _Compare:
        if literal.is_pattern:
            if self.field_type not in (FieldType.CODE, FieldType.TEXT, FieldType.OPTION):
                raise CriteriaError(f"Wildcards only apply to text in the filter {self.text!r}.")
            text = literal.text.upper() if self.field_type is FieldType.CODE and not fold else literal.text
            return _Compare(operator, text, self.key(fold), fold, text)
        return _Compare(operator, self.convert(literal.text), self.key(fold), fold, None)

    def key(self, fold: bool) -> Callable[[Value], Any]:
        """The comparison key of a typed value: blanks sort first, text folds case under ``@``."""
        blank = _BLANK_SORT_KEYS.get(self.field_type)
        if self.field_type is FieldType.OPTION or (fold and self.field_type in (FieldType.CODE, FieldType.TEXT)):
            return lambda value: "" if value is None else str(value).casefold()
        if blank is not None:
            return lambda value: blank if value is None else value
        if self.field_type in (FieldType.CODE, FieldType.TEXT):
            return lambda value: "" if value is None else value
        return lambda value: value

    def convert(self, text: str) -> Value:
        """A literal as a typed value of the field; ``''`` is the type's blank."""
        kind = self.field_type
        try:
            if kind is FieldType.CODE:
                return text.upper()
            if kind is FieldType.OPTION:
                return text.replace(" ", "_")
            if kind is FieldType.TEXT:
                return text
            if kind in (FieldType.INTEGER, FieldType.BIGINTEGER):
                return int(text) if text else 0
            if kind is FieldType.DECIMAL:
                number = Decimal(text) if text else Decimal(0)
                if not number.is_finite():
                    raise InvalidOperation
                return number
            if kind is FieldType.BOOLEAN:
                return _boolean(text)
            if not text:
                return None
            if kind is FieldType.DATE:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text)
            return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        except (ValueError, InvalidOperation):
            raise CriteriaError(
                f"The value {text!r} in the filter {self.text!r} is not a valid {kind.value}."
            ) from None


def _boolean(text: str) -> bool:
    folded = text.casefold()
    if folded in ("true", "yes", "1"):
        return True
    if folded in ("false", "no", "0", ""):
        return False
    raise ValueError(text)


def _tokenize(text: str) -> list[str | _Literal]:
    tokens: list[str | _Literal] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
        elif text.startswith("..", index):
            tokens.append("..")
            index += 2
        elif char in "|&()@":
            tokens.append(char)
            index += 1
        elif char in "<>=":
            operator = next(op for op in _OPERATORS if text.startswith(op, index))
            tokens.append(operator)
            index += len(operator)
        elif char == "'":
            value, index = _quoted(text, index)
            tokens.append(_Literal(value, quoted=True))
        else:
            end = index
            while end < len(text) and text[end] not in "|&()@<>='" and not text.startswith("..", end):
                end += 1
            tokens.append(_Literal(text[index:end].strip(), quoted=False))
            index = end
        if len(tokens) >= 2 and isinstance(tokens[-1], _Literal) and isinstance(tokens[-2], _Literal):
            raise CriteriaError(f"Two values follow each other in the filter {text!r}; quote the whole value.")
    return tokens


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The literal of a quoted value starting at ``start`` and the index after its closing quote."""
    parts = []
    index = start + 1
    while True:
        end = text.find("'", index)
        if end < 0:
            raise CriteriaError(f"A closing quote is missing in the filter {text!r}.")
        parts.append(text[index:end])
        if text.startswith("''", end):
            parts.append("'")
            index = end + 2
        else:
            return "".join(parts), end + 1

"""Recursive-descent parser for RQL filter expressions (billing-api.md §4.2, §4.3).

The parser only checks syntax and operator shapes; property names and value types are resolved by the
compiler against an allow-list registry. Every problem raises `RqlError` naming the offending token and its
0-based position in the expression.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MAX_LENGTH = 64 * 1024
MAX_DEPTH = 64

COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le", "like", "ilike"})
OPERATORS = COMPARISONS | {"in", "out", "and", "or", "not", "any", "all"}
VALUE_FUNCTIONS = frozenset({"null", "empty"})


class RqlError(ValueError):
    """An invalid query; `message` is the full sentence reported to the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]
    position: int

    @property
    def text(self) -> str:
        """The path as the user spelled it (for messages)."""
        return ".".join(self.parts)

    @property
    def key(self) -> str:
        """The registry key: paths match case-insensitively."""
        return self.text.lower()


@dataclass(frozen=True)
class Literal:
    text: str
    quoted: bool
    position: int


@dataclass(frozen=True)
class Null:
    position: int


@dataclass(frozen=True)
class Empty:
    position: int


Value = Literal | Null | Empty


@dataclass(frozen=True)
class ListValue:
    items: tuple[Value, ...]
    position: int


@dataclass(frozen=True)
class Call:
    """A comparison (`op` in COMPARISONS, args ``(Path, Value)``), ``in``/``out`` (``(Path, ListValue)``),
    ``not`` (``(Expr,)``) or ``any``/``all`` (``(Path, Expr)``). ``and``/``or`` calls become `And`/`Or`."""

    op: str
    args: tuple[Path | Value | ListValue | Expr, ...]
    position: int


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


Expr = Call | And | Or


def excerpt(text: str, limit: int = 60) -> str:
    """Shorten user input quoted back in an error message."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse(expression: str) -> Expr:
    """Parse one filter expression (an already percent-decoded query-string piece)."""
    if len(expression) > MAX_LENGTH:
        raise RqlError("Query is too long.")
    return _Parser(expression).parse()


# --- tokens ------------------------------------------------------------------------------------------------

_EOF = "end"
_WORD = "word"
_QUOTED = "quoted"
_TOKEN = re.compile(r"""([(),&|;=])|'([^']*)'|"([^"]*)"|([^(),&|;='"\s][^(),&|;='"]*)|(['"])""")
_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class _Token:
    kind: str  # a punctuation character, _WORD, _QUOTED or _EOF
    text: str  # bare word (trimmed) or the content of a quoted literal
    position: int
    source: str  # the token as written, for messages

    def describe(self) -> str:
        if self.kind == _EOF:
            return "end of expression"
        shown = excerpt(self.source)
        return f'"{shown}"' if "'" in shown else f"'{shown}'"


def _tokenize(text: str) -> list[_Token]:
    bad = _BAD_CHARACTER.search(text)
    if bad:
        raise RqlError(f"Invalid character U+{ord(bad.group()):04X} at position {bad.start()}.")
    tokens: list[_Token] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            tokens.append(_Token(_EOF, "", pos, ""))
            return tokens
        match = _TOKEN.match(text, pos)
        assert match is not None  # every non-space character starts some token
        punctuation, single, double, bare, unterminated = match.groups()
        if unterminated is not None:
            raise RqlError(f"Unterminated quoted value starting at position {pos}.")
        if punctuation is not None:
            tokens.append(_Token(punctuation, punctuation, pos, punctuation))
        elif bare is not None:
            word = bare.rstrip()
            tokens.append(_Token(_WORD, word, pos, word))
        else:
            quoted = single if single is not None else double
            tokens.append(_Token(_QUOTED, quoted, pos, match.group()))
        pos = match.end()


# --- grammar -----------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self._tokens = _tokenize(text)
        self._index = 0
        self._depth = 0

    def parse(self) -> Expr:
        expr = self._or_group(in_arguments=False)
        token = self._peek()
        if token.kind != _EOF:
            raise _unexpected(token)
        return expr

    # helpers

    def _peek(self) -> _Token:
        return self._tokens[self._index]

    def _next(self) -> _Token:
        token = self._tokens[self._index]
        if token.kind != _EOF:
            self._index += 1
        return token

    def _expect(self, kind: str) -> _Token:
        token = self._next()
        if token.kind != kind:
            raise _unexpected(token)
        return token

    @contextmanager
    def _nested(self, opening: _Token) -> Iterator[None]:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise RqlError(f"Expression is nested too deeply at position {opening.position}.")
        yield
        self._depth -= 1

    def _separator(self, op: str) -> None:
        """The ``,`` before a required argument of ``op``."""
        token = self._next()
        if token.kind == ")":
            raise RqlError(f"Too few arguments for '{op}' at position {token.position}.")
        if token.kind != ",":
            raise _unexpected(token)

    def _close(self, op: str) -> None:
        """The ``)`` after the last argument of ``op``."""
        token = self._next()
        if token.kind == ",":
            raise RqlError(f"Too many arguments for '{op}' at position {token.position}.")
        if token.kind != ")":
            raise _unexpected(token)

    # expressions

    def _or_group(self, *, in_arguments: bool) -> Expr:
        items = [self._and_group(in_arguments=in_arguments)]
        while self._peek().kind in ("|", ";"):
            self._next()
            items.append(self._and_group(in_arguments=in_arguments))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def _and_group(self, *, in_arguments: bool) -> Expr:
        """Inside call arguments ``,`` separates arguments, so only ``&`` means AND there."""
        separators = ("&",) if in_arguments else ("&", ",")
        items = [self._operand()]
        while self._peek().kind in separators:
            self._next()
            items.append(self._operand())
        return items[0] if len(items) == 1 else And(tuple(items))

    def _operand(self) -> Expr:
        token = self._next()
        if token.kind == "(":
            with self._nested(token):
                expr = self._or_group(in_arguments=False)
                self._expect(")")
            return expr
        if token.kind == _WORD:
            following = self._peek()
            if following.kind == "(":
                return self._call(token)
            if following.kind == "=":
                self._next()
                return Call("eq", (_path(token), self._value(allow_special=True)), token.position)
            raise _unexpected(following)
        raise _unexpected(token)

    def _call(self, name: _Token) -> Expr:
        op = name.text.lower()
        if op in VALUE_FUNCTIONS:
            raise RqlError(f"Unexpected '{name.text}()' at position {name.position}.")
        if op not in OPERATORS:
            raise RqlError(f"Unknown operator '{excerpt(name.text)}' at position {name.position}.")
        with self._nested(self._expect("(")):
            expr = self._arguments(op, name.position)
        return expr

    def _arguments(self, op: str, position: int) -> Expr:
        """Parse the arguments of ``op`` (after its ``(``) through the closing ``)``."""
        if op in ("and", "or"):
            if self._peek().kind == ")":
                raise RqlError(f"Too few arguments for '{op}' at position {self._peek().position}.")
            items = [self._or_group(in_arguments=True)]
            while self._peek().kind == ",":
                self._next()
                items.append(self._or_group(in_arguments=True))
            self._expect(")")
            return And(tuple(items)) if op == "and" else Or(tuple(items))
        if op == "not":
            if self._peek().kind == ")":
                raise RqlError(f"Too few arguments for 'not' at position {self._peek().position}.")
            inner = self._or_group(in_arguments=True)
            self._close(op)
            return Call(op, (inner,), position)
        path = self._path_argument(op)
        self._separator(op)
        args: tuple[Path | Value | ListValue | Expr, ...]
        if op in ("any", "all"):
            args = (path, self._or_group(in_arguments=True))
        elif op in ("in", "out"):
            if self._peek().kind == "(":
                args = (path, self._list())
            else:
                first = self._value(allow_special=True)
                values = [first]
                while self._peek().kind == ",":
                    self._next()
                    values.append(self._value(allow_special=True))
                args = (path, ListValue(tuple(values), first.position))
        else:
            args = (path, self._value(allow_special=op in ("eq", "ne")))
        self._close(op)
        return Call(op, args, position)

    def _path_argument(self, op: str) -> Path:
        token = self._next()
        if token.kind == ")":
            raise RqlError(f"Too few arguments for '{op}' at position {token.position}.")
        if token.kind != _WORD or self._peek().kind == "(":
            raise _unexpected(token)
        return _path(token)

    def _list(self) -> ListValue:
        opening = self._expect("(")
        items: list[Value] = []
        with self._nested(opening):
            if self._peek().kind != ")":
                items.append(self._value(allow_special=True))
                while self._peek().kind == ",":
                    self._next()
                    items.append(self._value(allow_special=True))
            self._expect(")")
        return ListValue(tuple(items), opening.position)

    def _value(self, *, allow_special: bool) -> Value:
        """A quoted or bare literal, or (when ``allow_special``) ``null()`` / ``empty()``."""
        token = self._next()
        if token.kind == _QUOTED:
            return Literal(token.text, True, token.position)
        if token.kind != _WORD:
            raise _unexpected(token)
        if self._peek().kind != "(":
            return Literal(token.text, False, token.position)
        function = token.text.lower()
        if function not in VALUE_FUNCTIONS:
            raise _unexpected(self._peek())
        self._next()
        self._expect(")")
        if not allow_special:
            raise RqlError(f"Unexpected '{token.text}()' at position {token.position}.")
        return Null(token.position) if function == "null" else Empty(token.position)


def _path(token: _Token) -> Path:
    if not _PATH.fullmatch(token.text):
        raise RqlError(f"Invalid property path {token.describe()} at position {token.position}.")
    return Path(tuple(token.text.split(".")), token.position)


def _unexpected(token: _Token) -> RqlError:
    return RqlError(f"Unexpected {token.describe()} at position {token.position}.")

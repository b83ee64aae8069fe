"""Resource Query Language (billing-api.md §4): query-string splitting, parsing and SQL compilation."""

from billing.kit.rql.compiler import compile_filter, compile_order
from billing.kit.rql.fields import Collection, Field, FieldType, Registry
from billing.kit.rql.parser import (
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
    parse,
)
from billing.kit.rql.querystring import ParsedQuery, parse_query_string

__all__ = [
    "And",
    "Call",
    "Collection",
    "Empty",
    "Expr",
    "Field",
    "FieldType",
    "ListValue",
    "Literal",
    "Null",
    "Or",
    "ParsedQuery",
    "Path",
    "Registry",
    "RqlError",
    "compile_filter",
    "compile_order",
    "parse",
    "parse_query_string",
]

"""Query-string splitting (billing-api.md §4.1)."""

from __future__ import annotations

import pytest

from billing.kit.rql import ParsedQuery, parse_query_string


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # the four examples of §4.1
        (
            "eq(status,Validated)&order=-audit.created.at&limit=50&offset=0",
            ParsedQuery(["eq(status,Validated)"], order="-audit.created.at", limit="50", offset="0"),
        ),
        (
            "limit=100&offset=0&order=name&select=-*,id,status"
            "&and(eq(authorization.id,'AUT-5305-9928'),ne(status,'Deleted'))",
            ParsedQuery(
                ["and(eq(authorization.id,'AUT-5305-9928'),ne(status,'Deleted'))"],
                select="-*,id,status",
                order="name",
                limit="100",
                offset="0",
            ),
        ),
        (
            "status=Issued&billingType=Automated&select=audit",
            ParsedQuery(["status=Issued", "billingType=Automated"], select="audit"),
        ),
        ("select=-lines", ParsedQuery([], select="-lines")),
        # splitting only at depth 0 and outside quotes
        ("and(eq(a,1)&eq(b,2))&limit=5", ParsedQuery(["and(eq(a,1)&eq(b,2))"], limit="5")),
        ("eq(name,'a&b')&eq(x,\"c&d\")", ParsedQuery(["eq(name,'a&b')", 'eq(x,"c&d")'])),
        ("eq(name,'(')&limit=1", ParsedQuery(["eq(name,'(')"], limit="1")),
        ("eq(a,1))&limit=5", ParsedQuery(["eq(a,1))"], limit="5")),
        ("eq(a,1)|eq(b,2)&eq(c,3)", ParsedQuery(["eq(a,1)|eq(b,2)", "eq(c,3)"])),
        # percent-decoding once, after splitting; + is a literal plus
        ("eq(name,a%26b)&x=1", ParsedQuery(["eq(name,a&b)", "x=1"])),
        ("eq(name,%27a%26b%27)", ParsedQuery(["eq(name,'a&b')"])),
        ("ge(at,2025-01-01T00:00:00+01:00)", ParsedQuery(["ge(at,2025-01-01T00:00:00+01:00)"])),
        ("ge(at,2025-01-01T00%3A00%3A00%2B01%3A00)", ParsedQuery(["ge(at,2025-01-01T00:00:00+01:00)"])),
        ("eq(name,June%202025)", ParsedQuery(["eq(name,June 2025)"])),
        ("eq(name,%2541)", ParsedQuery(["eq(name,%41)"])),
        ("order=+name", ParsedQuery([], order="+name")),
        ("order=%20name&select=%2Baudit", ParsedQuery([], select="+audit", order=" name")),
        # reserved parameters: case-insensitive, last wins, empty values kept
        ("SELECT=a&Order=b&LIMIT=1&OffSet=2", ParsedQuery([], select="a", order="b", limit="1", offset="2")),
        ("limit=1&limit=2&offset=3&offset=", ParsedQuery([], limit="2", offset="")),
        ("select%3Da", ParsedQuery([], select="a")),
        ("selection=x&orders=y&rql=eq(a,1)", ParsedQuery(["selection=x", "orders=y", "rql=eq(a,1)"])),
        ("eq(order.id,ORD-2413-8980-9419)", ParsedQuery(["eq(order.id,ORD-2413-8980-9419)"])),
        # render() and empty pieces are ignored
        ("render()&eq(a,1)&RENDER()", ParsedQuery(["eq(a,1)"])),
        ("&&eq(a,1)&&%20&", ParsedQuery(["eq(a,1)"])),
        ("", ParsedQuery()),
    ],
)
def test_parse_query_string(raw: str, expected: ParsedQuery) -> None:
    assert parse_query_string(raw) == expected


def test_unterminated_quote_keeps_the_rest_for_the_parser() -> None:
    assert parse_query_string("eq(name,'x&limit=5").filters == ["eq(name,'x&limit=5"]

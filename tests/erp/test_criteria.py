"""NAV filter criteria (§1.3): the parser as a table of cases, errors, the index hints, and the emit helpers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from billing.erp.criteria import (
    Bounds,
    CriteriaError,
    any_of,
    at_least,
    at_most,
    between,
    compare,
    equals,
    format_value,
    not_equal,
    parse,
    quote,
)
from billing.erp.pages import FieldType as F

T, C = F.TEXT, F.CODE
D1, D2, D3 = date(2025, 5, 1), date(2025, 5, 15), date(2025, 6, 1)
M = datetime(2025, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)

CASES = [
    # criteria, field type, value, expected
    ("abc", T, "abc", True),
    ("abc", T, "ABC", False),
    ("abc", T, "abcd", False),
    ("'abc'", T, "abc", True),
    ("  abc  ", T, "abc", True),
    ("Contoso Ltd", T, "Contoso Ltd", True),
    ("'Contoso Ltd'", T, "Contoso Ltd", True),
    ("=abc", T, "abc", True),
    ("<>abc", T, "abc", False),
    ("<>abc", T, "abd", True),
    ("<b", T, "a", True),
    ("<b", T, "b", False),
    ("<=b", T, "b", True),
    (">b", T, "c", True),
    (">b", T, "b", False),
    (">=b", T, "b", True),
    ("b..d", T, "c", True),
    ("b..d", T, "b", True),
    ("b..d", T, "d", True),
    ("b..d", T, "e", False),
    ("b..d", T, "a", False),
    ("b..", T, "z", True),
    ("b..", T, "a", False),
    ("..d", T, "a", True),
    ("..d", T, "e", False),
    ("'b'..'d'", T, "c", True),
    ("'A..B'", T, "A..B", True),
    ("'A..B'", T, "A", False),
    ("'A..B'", T, "B", False),
    ("a|b|c", T, "b", True),
    ("a|b|c", T, "d", False),
    ("'a'|'b'", T, "a", True),
    (">a&<c", T, "b", True),
    (">a&<c", T, "c", False),
    ("(a|b)&<>b", T, "a", True),
    ("(a|b)&<>b", T, "b", False),
    ("*oso*", T, "Contoso", True),
    ("*oso*", T, "Fabrikam", False),
    ("*to*", T, "Contoso", True),
    ("Con*", T, "Contoso", True),
    ("Con*", T, "contoso", False),
    ("*so", T, "Contoso", True),
    ("C?ntoso", T, "Contoso", True),
    ("C?ntoso", T, "Cntoso", False),
    ("'*oso*'", T, "*oso*", True),
    ("'*oso*'", T, "Contoso", False),
    ("<>*x*", T, "abc", True),
    ("<>*x*", T, "axc", False),
    ("@contoso", T, "CONTOSO", True),
    ("@*TOS*", T, "contoso", True),
    ("@a..c", T, "B", True),
    ("@(a|b)", T, "B", True),
    ("''", T, "", True),
    ("''", T, "x", False),
    ("<>''", T, "x", True),
    ("<>''", T, "", False),
    ("'O''Neil'", T, "O'Neil", True),
    ("''''", T, "'", True),
    ("'a|b'", T, "a|b", True),
    ("'a&b'", T, "a&b", True),
    ("'(x)'", T, "(x)", True),
    ("'<x>'", T, "<x>", True),
    ("'a=b'", T, "a=b", True),
    ("'a@b.com'", T, "a@b.com", True),
    ("'a b'", T, "a b", True),
    ("", T, "anything", True),
    ("   ", T, "anything", True),
    # Code fields compare upper-cased, like the ERP
    ("som-1", C, "SOM-1", True),
    ("'som-1'", C, "SOM-1", True),
    ("som*", C, "SOM-1", True),
    ("'SOM-3197-5868-3617-1129-0665'", C, "SOM-3197-5868-3617-1129-0665", True),
    # integers
    ("10000", F.INTEGER, 10000, True),
    ("10000..", F.INTEGER, 9999, False),
    ("10000..", F.INTEGER, 10000, True),
    ("'101'..", F.INTEGER, 102, True),
    ("5..10", F.INTEGER, 7, True),
    ("5..10", F.INTEGER, 11, False),
    ("5|7", F.INTEGER, 7, True),
    (">0", F.INTEGER, 0, False),
    ("''", F.INTEGER, 0, True),
    ("<>0", F.BIGINTEGER, 3, True),
    # decimals compare by value
    ("12.5", F.DECIMAL, Decimal("12.50"), True),
    (">0", F.DECIMAL, Decimal("0.01"), True),
    (">0", F.DECIMAL, Decimal("0"), False),
    ("0", F.DECIMAL, Decimal("0.00"), True),
    ("-5..5", F.DECIMAL, Decimal("-5"), True),
    ("1.5..2.5", F.DECIMAL, Decimal("2"), True),
    # booleans
    ("true", F.BOOLEAN, True, True),
    ("Yes", F.BOOLEAN, True, True),
    ("false", F.BOOLEAN, True, False),
    ("0", F.BOOLEAN, False, True),
    # dates, with a blank date sorting first
    ("2025-05-01", F.DATE, D1, True),
    ("'2025-05-01'..'2025-05-31'", F.DATE, D2, True),
    ("2025-05-01..2025-05-31", F.DATE, D3, False),
    ("..2025-05-31", F.DATE, None, True),
    ("''", F.DATE, None, True),
    ("''", F.DATE, D1, False),
    ("<>''", F.DATE, D1, True),
    ("2025-05-02..", F.DATE, D1, False),
    # datetimes (UTC, Z or offsets)
    ("'2025-05-01T10:00:00Z'..'2025-05-01T10:00:01Z'", F.DATETIME, M, True),
    ("2025-05-01T10:00:00Z..2025-05-01T10:00:01Z", F.DATETIME, M, True),
    ("'2025-05-01T10:00:01Z'..", F.DATETIME, M, False),
    ("..'2025-05-01T12:00:01+02:00'", F.DATETIME, M, True),
    ("..'2025-05-01T12:00:00+02:00'", F.DATETIME, M, False),
    (">2025-05-01T10:00:00Z", F.DATETIME, M, True),
    ("..2025-05-01T10:00:00Z", F.DATETIME, None, True),
    # options: by XML name or caption, case-insensitive
    ("Invoice", F.OPTION, "Invoice", True),
    ("invoice", F.OPTION, "Invoice", True),
    ("'Credit Memo'", F.OPTION, "Credit_Memo", True),
    ("Invoice|Payment", F.OPTION, "Payment", True),
    ("''", F.OPTION, "", True),
    ("<>''", F.OPTION, "", False),
]


@pytest.mark.parametrize(("text", "field_type", "value", "expected"), CASES)
def test_criteria_table(text: str, field_type: F, value: object, expected: bool) -> None:
    assert parse(text, field_type)(value) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "field_type", "message"),
    [
        ("'abc", T, "closing quote"),
        ("'a''", T, "closing quote"),
        ("a..b..c", T, "Unexpected"),
        ("(a|b", T, "')' is missing"),
        ("a)", T, "Unexpected"),
        ("|a", T, "value is missing"),
        ("a|", T, "value is missing"),
        ("a&", T, "value is missing"),
        ("..", T, "value is missing"),
        ("<>", T, "value is missing"),
        ("'a' 'b'", T, "quote the whole value"),
        ("abc'def'", T, "quote the whole value"),
        ("a@b.com", T, "Unexpected"),
        ("a*..b", T, "Wildcards cannot be used in a range"),
        (">a*", T, "Wildcards cannot be used with >"),
        ("1*", F.INTEGER, "Wildcards only apply to text"),
        ("x", F.INTEGER, "not a valid Integer"),
        ("1.5", F.INTEGER, "not a valid Integer"),
        ("abc", F.DECIMAL, "not a valid Decimal"),
        ("NaN", F.DECIMAL, "not a valid Decimal"),
        ("maybe", F.BOOLEAN, "not a valid Boolean"),
        ("2025-13-01", F.DATE, "not a valid Date"),
        ("yesterday", F.DATETIME, "not a valid DateTime"),
    ],
)
def test_invalid_criteria_are_refused_with_the_reason(text: str, field_type: F, message: str) -> None:
    with pytest.raises(CriteriaError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(text, field_type)


class TestIndexHints:
    @pytest.mark.parametrize(
        ("text", "field_type", "values"),
        [
            ("'A'|'B'", C, ("A", "B")),
            ("a", C, ("A",)),
            ("7", F.INTEGER, (7,)),
            ("'A'|>B", C, None),
            ("@a", T, None),
            ("*a*", T, None),
            ("a..b", T, None),
            ("", T, None),
            ("<>a", T, None),
        ],
    )
    def test_exact_values(self, text: str, field_type: F, values: tuple | None) -> None:
        assert parse(text, field_type).exact_values() == values

    @pytest.mark.parametrize(
        ("text", "field_type", "bounds"),
        [
            ("5..10", F.INTEGER, Bounds(5, True, 10, True)),
            ("5..", F.INTEGER, Bounds(5, True, None, True)),
            ("..10", F.INTEGER, Bounds(None, True, 10, True)),
            (">5&<10", F.INTEGER, Bounds(5, False, 10, False)),
            (">=5", F.INTEGER, Bounds(5, True, None, True)),
            ("7", F.INTEGER, Bounds(7, True, 7, True)),
            ("5|7", F.INTEGER, None),
            ("<>5", F.INTEGER, None),
            ("@a..b", T, None),
            ("", T, None),
            ("a*", T, None),
        ],
    )
    def test_bounds(self, text: str, field_type: F, bounds: Bounds | None) -> None:
        assert parse(text, field_type).bounds() == bounds

    def test_datetime_bounds_are_typed_utc(self) -> None:
        hint = parse("'2025-05-01T12:00:00+02:00'..", F.DATETIME).bounds()
        assert hint is not None and hint.lower == datetime(2025, 5, 1, 10, tzinfo=UTC)


class TestEmit:
    def test_every_literal_is_quoted_and_operators_stay_outside(self) -> None:
        assert equals("SOM-1") == "'SOM-1'"
        assert quote("O'Neil") == "'O''Neil'"
        assert quote("") == "''"
        assert quote(None) == "''"
        assert not_equal("") == "<>''"
        assert any_of(["A", "B"]) == "'A'|'B'"
        assert between(D1, date(2025, 5, 31)) == "'2025-05-01'..'2025-05-31'"
        assert at_least(101) == "'101'.."
        assert at_most("x") == "..'x'"
        assert compare(">=", Decimal("1.50")) == ">='1.50'"

    def test_values_are_formatted_for_the_erp(self) -> None:
        assert format_value(datetime(2025, 5, 1, 12, 0, 0, 999999, tzinfo=timezone(timedelta(hours=2)))) == (
            "2025-05-01T10:00:00Z"
        )
        assert format_value(True) == "true"
        assert format_value(Decimal("1E+2")) == "100"
        with pytest.raises(ValueError, match="timezone-aware"):
            format_value(datetime(2025, 5, 1))

    def test_helpers_refuse_nonsense(self) -> None:
        with pytest.raises(ValueError, match="at least one"):
            any_of([])
        with pytest.raises(ValueError, match="unknown operator"):
            compare("!", 1)

    @pytest.mark.parametrize(
        "value",
        ["plain", "A..B", "a|b", "x&y", "(p)", "<>", "=", "50% *off*", "@home", "O'Neil", "''", " spaced ", "ünï"],
    )
    def test_a_quoted_value_matches_exactly_itself(self, value: str) -> None:
        criteria = parse(equals(value))
        assert criteria(value)
        assert not criteria(value + "x")
        assert parse(any_of([value, "other"]))(value)

    def test_emitted_ranges_parse_back(self) -> None:
        lower, upper = datetime(2025, 5, 1, tzinfo=UTC), datetime(2025, 5, 2, tzinfo=UTC)
        criteria = parse(between(lower, upper), F.DATETIME)
        assert criteria(M) and not criteria(upper + timedelta(seconds=1))
        assert parse(at_least(10001), F.INTEGER)(10001)
        assert not parse(at_least(10001), F.INTEGER)(10000)

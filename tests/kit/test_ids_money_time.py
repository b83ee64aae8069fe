"""ids, money and time helpers."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

import pytest

from billing.kit.ids import digits_of, new_id, normalise_path_id, random_digits
from billing.kit.money import NotANumber, format_decimal, round6, to_decimal
from billing.kit.timeutil import format_instant, parse_instant


def test_random_ids_have_the_spec_shape_and_are_spread():
    ids = {new_id("BOV", 2) for _ in range(2000)}
    assert all(re.fullmatch(r"BOV-\d{4}-\d{4}", i) for i in ids)
    assert len(ids) > 1990
    assert "0000-0000" not in {random_digits(2) for _ in range(1000)}
    assert digits_of("SOM-2589-1434-3617-1129-0665") == "2589-1434-3617-1129-0665"


@pytest.mark.parametrize(
    ("raw", "expected"), [("bov-1234-5678", "BOV-1234-5678"), (" BJO-0001-0002 ", "BJO-0001-0002")]
)
def test_path_ids_normalise_to_upper_case(raw, expected):
    assert normalise_path_id(raw) == expected


@pytest.mark.parametrize("raw", ["", "BOV", "BOV-12", "B0V-1234-5678", "BOV-1234-5678-", "1234"])
def test_malformed_path_ids_are_none(raw):
    assert normalise_path_id(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(10, "10"), ("183.9829", "183.9829"), (" 10 ", "10"), ("1e3", "1000"), (0.1, "0.1"), (Decimal("-2.50"), "-2.5")],
)
def test_numbers_bind_from_numbers_and_strings(raw, expected):
    assert format_decimal(to_decimal(raw)) == expected


@pytest.mark.parametrize("raw", ["", " ", "NaN", "Infinity", "-inf", "abc", True, None, [1]])
def test_not_numbers(raw):
    with pytest.raises(NotANumber):
        to_decimal(raw)


def test_rounding_and_formatting():
    assert round6(Decimal("9.0909090909")) == Decimal("9.090909")
    assert round6(Decimal("-0.0000005")) == Decimal("-0.000001")
    assert format_decimal(Decimal("100.000000")) == "100"
    assert format_decimal(Decimal("1E+2")) == "100"
    assert format_decimal(Decimal("-0.000")) == "0"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-01-01", "2025-01-01T00:00:00.000Z"),
        ("2025-06-30T23:59:59Z", "2025-06-30T23:59:59.000Z"),
        ("2025-06-30T23:59:59.1234567", "2025-06-30T23:59:59.123Z"),
        ("2025-06-30T01:00:00+02:00", "2025-06-29T23:00:00.000Z"),
        ("2025-06-30T01:00:00-0130", "2025-06-30T02:30:00.000Z"),
    ],
)
def test_instants(raw, expected):
    assert format_instant(parse_instant(raw)) == expected


@pytest.mark.parametrize("raw", ["2025-13-01", "yesterday", "2025-06-30T25:00:00Z", ""])
def test_bad_instants(raw):
    with pytest.raises(ValueError):
        parse_instant(raw)


def test_format_accepts_aware_datetimes():
    from datetime import UTC

    assert format_instant(datetime(2025, 1, 1, tzinfo=UTC)) == "2025-01-01T00:00:00.000Z"

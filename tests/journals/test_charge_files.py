"""Charge-file readers (billing-api.md §8.1–8.3): every case of the bad-input corpus, as exact RawLine sequences."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from corpus import CURRENT_HEADER, LEGACY_HEADER, charge, jsonl, truncate_first_sheet, write_xlsx, xlsx_row

from billing.journals.files import (
    XLSX_MEDIA_TYPE,
    ChargeFileError,
    RawLine,
    UnsupportedFormat,
    detect_format,
    has_charges,
    iter_jsonl,
    iter_xlsx,
)


def read_jsonl(content: bytes, **options: int) -> list[RawLine]:
    return list(iter_jsonl(io.BytesIO(content), **options))


def read_record(content: bytes) -> dict[str, Any]:
    """The data of a one-line JSONL file that must parse."""
    (raw,) = read_jsonl(content)
    assert raw.error is None and raw.data is not None
    return raw.data


def has_jsonl_charges(tmp_path: Path, content: bytes) -> bool:
    path = tmp_path / "charges.jsonl"
    path.write_bytes(content)
    return has_charges(path, "jsonl")


class TestJsonlLines:
    def test_each_line_is_one_record_in_its_original_spelling(self) -> None:
        second = {"ExternalIds": {"Vendor": "B"}, "price": {"UnitPP": 1, "ppx1": "2"}}
        assert read_jsonl(jsonl(charge("A"), second)) == [RawLine(1, charge("A"), None), RawLine(2, second, None)]

    def test_invalid_json_fails_only_its_line(self) -> None:
        content = jsonl(charge("A"), '{"quantity": x}', charge("C"))
        assert read_jsonl(content) == [
            RawLine(1, charge("A"), None),
            RawLine(2, None, "unexpected character, expected a JSON value: line 1 column 14 (char 13)"),
            RawLine(3, charge("C"), None),
        ]

    def test_trailing_garbage_after_the_object(self) -> None:
        assert read_jsonl(b'{"a": 1} {"b": 2}\n') == [
            RawLine(1, None, "unexpected content after document: line 1 column 10 (char 9)")
        ]

    def test_truncated_last_line(self) -> None:
        content = jsonl(charge("A"), '{"externalIds": {"vendor": "B"', final_newline=False)
        assert read_jsonl(content) == [
            RawLine(1, charge("A"), None),
            RawLine(2, None, "unexpected end of data: line 1 column 31 (char 30)"),
        ]

    def test_last_line_without_newline_is_read(self) -> None:
        content = jsonl(charge("A"), charge("B"), final_newline=False)
        assert read_jsonl(content) == [RawLine(1, charge("A"), None), RawLine(2, charge("B"), None)]

    def test_leading_bom_is_ignored(self) -> None:
        assert read_jsonl(b"\xef\xbb\xbf" + jsonl(charge("A"))) == [RawLine(1, charge("A"), None)]

    def test_bom_after_the_start_of_the_file_is_an_error(self) -> None:
        assert read_jsonl(jsonl(charge("A"), b"\xef\xbb\xbf{}")) == [
            RawLine(1, charge("A"), None),
            RawLine(2, None, "UTF-8 byte order mark (BOM) is not supported: line 1 column 1 (char 0)"),
        ]

    def test_crlf_line_ends(self) -> None:
        content = jsonl(charge("A"), charge("B"), newline=b"\r\n")
        assert read_jsonl(content) == [RawLine(1, charge("A"), None), RawLine(2, charge("B"), None)]

    def test_blank_and_whitespace_only_lines_are_skipped_but_counted(self) -> None:
        content = jsonl("", "   \t", charge("A"), "\r", "", charge("B"), " ", final_newline=False)
        assert read_jsonl(content) == [RawLine(3, charge("A"), None), RawLine(6, charge("B"), None)]

    def test_non_utf8_bytes(self) -> None:
        content = jsonl(charge("A"), b'{"description": {"value1": "caf\xe9"}}', charge("C"))
        assert read_jsonl(content) == [
            RawLine(1, charge("A"), None),
            RawLine(2, None, "not valid UTF-8: byte 0xe9 at column 32 (char 31)"),
            RawLine(3, charge("C"), None),
        ]

    def test_escaped_lone_surrogate(self) -> None:
        assert read_jsonl(b'{"segment": "\\ud800"}\n') == [
            RawLine(1, None, "no low surrogate in string: line 1 column 14 (char 13)")
        ]

    @pytest.mark.parametrize("line", ["[1, 2]", "[]", "42", "-1.5", '"charge"', "null", "true"])
    def test_valid_json_that_is_not_an_object(self, line: str) -> None:
        assert read_jsonl(jsonl(charge("A"), line)) == [
            RawLine(1, charge("A"), None),
            RawLine(2, None, "not a JSON object"),
        ]

    @pytest.mark.parametrize(
        ("literal", "error"),
        [
            ("NaN", "unexpected character, expected a JSON value: line 1 column 14 (char 13)"),
            ("Infinity", "unexpected character, expected a JSON value: line 1 column 14 (char 13)"),
            ("-Infinity", "no digit after sign: line 1 column 15 (char 14)"),
            ("nan", "invalid literal, expected 'null': line 1 column 14 (char 13)"),
            # valid JSON, but beyond a double: orjson rejects it (it would be out of range anyway, §3.3)
            ("1.5e999", "number is infinity when parsed as double: line 1 column 14 (char 13)"),
        ],
    )
    def test_nan_and_infinity_are_rejected(self, literal: str, error: str) -> None:
        assert read_jsonl(jsonl(f'{{"quantity": {literal}}}')) == [RawLine(1, None, error)]


class TestJsonlNumbers:
    def test_integers_stay_integers(self) -> None:
        data = read_record(jsonl(charge("A")))
        assert type(data["quantity"]) is int and type(data["price"]["PPx1"]) is int

    def test_fractions_are_exact_decimals(self) -> None:
        content = jsonl('{"quantity": 0.1, "price": {"unitPP": 183.98291234567891234, "PPx1": -10.50}}')
        data = read_record(content)
        assert data == {
            "quantity": Decimal("0.1"),
            "price": {"unitPP": Decimal("183.98291234567891234"), "PPx1": Decimal("-10.50")},
        }
        assert [str(data["price"]["unitPP"]), str(data["price"]["PPx1"])] == ["183.98291234567891234", "-10.50"]

    def test_exponent_notation_is_an_exact_decimal(self) -> None:
        content = b'{"quantity": 1e3, "price": {"unitPP": 25E-3, "PPx1": 1e-999}}'
        data = read_record(content)
        assert data == {"quantity": Decimal("1E+3"), "price": {"unitPP": Decimal("0.025"), "PPx1": Decimal("1e-999")}}
        assert type(data["quantity"]) is Decimal and type(data["price"]["unitPP"]) is Decimal

    def test_integers_beyond_64_bits_are_exact(self) -> None:
        assert read_jsonl(b'{"quantity": 123456789012345678901234567890, "x": [-9223372036854775809]}\n') == [
            RawLine(1, {"quantity": 123456789012345678901234567890, "x": [-9223372036854775809]}, None)
        ]

    def test_numeric_strings_are_kept_as_strings(self) -> None:
        line = {"quantity": "10.5", "price": {"unitPP": " 1e3 ", "PPx1": "183.9829"}}
        assert read_jsonl(jsonl(line)) == [RawLine(1, line, None)]

    def test_float_like_text_in_strings_leaves_integers_alone(self) -> None:
        line = charge("A", period={"start": "2025-06-01T00:00:00.000Z", "end": "v1.2e5"}, quantity=10000000000000000000)
        data = read_record(jsonl(line))
        assert data == line and type(data["quantity"]) is int

    def test_floats_deep_inside_arrays(self) -> None:
        assert read_jsonl(b'{"attributes": {"tiers": [[1, {"rate": 0.3}]]}}') == [
            RawLine(1, {"attributes": {"tiers": [[1, {"rate": Decimal("0.3")}]]}}, None)
        ]


class TestJsonlSize:
    @pytest.mark.parametrize("depth", [999, 1100])  # beyond json's nesting limit (the exact path), then orjson's
    def test_deep_nesting_fails_its_line(self, depth: int) -> None:
        (raw,) = read_jsonl(jsonl('{"a":' * depth + "1.5" + "}" * depth))
        assert (raw.line, raw.data, raw.error and raw.error.split(":")[0]) == (1, None, "depth limit exceeded")

    def test_a_ten_megabyte_line_is_read(self) -> None:
        big = charge("A", description={"value1": "x" * (10 * 1024 * 1024)})
        assert read_jsonl(jsonl(charge("first"), big, charge("last"))) == [
            RawLine(1, charge("first"), None),
            RawLine(2, big, None),
            RawLine(3, charge("last"), None),
        ]

    def test_a_line_over_the_cap_fails_alone(self) -> None:
        content = jsonl({"a": 1}, {"b": "x" * 200}, {"c": 3})
        assert read_jsonl(content, max_line_bytes=100) == [
            RawLine(1, {"a": 1}, None),
            RawLine(2, None, "the line is longer than 100 bytes"),
            RawLine(3, {"c": 3}, None),
        ]

    def test_an_oversized_last_line_without_newline(self) -> None:
        content = jsonl({"a": 1}, {"b": "x" * 200}, final_newline=False)
        assert read_jsonl(content, max_line_bytes=100) == [
            RawLine(1, {"a": 1}, None),
            RawLine(2, None, "the line is longer than 100 bytes"),
        ]

    @pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
    def test_the_cap_excludes_the_line_end(self, newline: bytes) -> None:
        at_cap = {"b": "x" * 92}  # 100 bytes serialised
        over = {"b": "x" * 93}
        content = jsonl(at_cap, over, at_cap, newline=newline)
        assert read_jsonl(content, max_line_bytes=100) == [
            RawLine(1, at_cap, None),
            RawLine(2, None, "the line is longer than 100 bytes"),
            RawLine(3, at_cap, None),
        ]


class TestJsonlHasCharges:
    @pytest.mark.parametrize("content", [b"", b"\n\n", b"  \r\n\t\n   ", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n \n"])
    def test_empty_or_blank_files_have_no_charges(self, tmp_path: Path, content: bytes) -> None:
        assert read_jsonl(content) == []
        assert has_jsonl_charges(tmp_path, content) is False

    @pytest.mark.parametrize("content", [jsonl(charge("A")), b"\n\n  \nnot json", b"[]"])
    def test_any_non_blank_line_is_a_charge(self, tmp_path: Path, content: bytes) -> None:
        assert has_jsonl_charges(tmp_path, content) is True


FULL_ROW = xlsx_row(
    CURRENT_HEADER,
    Entry_ID="ext-0001",
    External_Reference="ORD-2413-8980-9419",
    Vendor_Invoice_Reference=12345,
    Source="Subscription",
    Source_Criteria="id",
    Source_Value="  SUB-0356-5642-8669 ",
    Order_Search_Criteria="order.id",
    Order_Search_Value="ORD-2413-8980-9419",
    Item_Search_Criteria="item.externalIds.vendor",
    Item_Search_Value="SKU-STD-01",
    Usage_Start_Time=datetime(2025, 6, 1),
    Usage_End_Time=datetime(2025, 6, 30, 23, 59, 59),
    Quantity=10,
    Purchase_Price=10.1,
    Total_Purchase_Price=101.0,
    Currency="USD",
    Description1="Standard seat",
    Description2="June",
    Market_Segment="COM",
    Optional_Agreement_Vendor_ID="TENANT-77",
)
FULL_RECORD = {
    "externalIds": {"vendor": "ext-0001", "reference": "ORD-2413-8980-9419", "invoice": "12345"},
    "search": {
        "source": {"type": "Subscription", "criteria": "id", "value": "SUB-0356-5642-8669"},
        "order": {"criteria": "order.id", "value": "ORD-2413-8980-9419"},
        "item": {"criteria": "item.externalIds.vendor", "value": "SKU-STD-01"},
    },
    "period": {"start": "2025-06-01T00:00:00Z", "end": "2025-06-30T23:59:59Z"},
    "quantity": 10,
    "price": {"unitPP": Decimal("10.1"), "PPx1": Decimal("101.0"), "currency": "USD"},
    "description": {"value1": "Standard seat", "value2": "June"},
    "segment": "COM",
    "attributes": {"agreementVendorId": "TENANT-77"},
}
MINIMAL_ROW = xlsx_row(
    CURRENT_HEADER,
    Entry_ID="ext-0002",
    Source="Agreement",
    Source_Criteria="externalIds.vendor",
    Source_Value="TENANT-77",
    Item_Search_Criteria="item.id",
    Item_Search_Value="ITM-0001-0001-0001",
    Usage_Start_Time="2025-06-01",
    Usage_End_Time="2025-06-30",
    Quantity="-2.5",
    Purchase_Price=-0.000001,
)
MINIMAL_RECORD = {
    "externalIds": {"vendor": "ext-0002"},
    "search": {
        "source": {"type": "Agreement", "criteria": "externalIds.vendor", "value": "TENANT-77"},
        "item": {"criteria": "item.id", "value": "ITM-0001-0001-0001"},
    },
    "period": {"start": "2025-06-01", "end": "2025-06-30"},
    "quantity": "-2.5",
    "price": {"unitPP": Decimal("-0.000001")},
}


class TestXlsxRows:
    def test_rows_map_to_the_jsonl_shape(self, tmp_path: Path) -> None:
        path = write_xlsx(tmp_path / "charges.xlsx", [CURRENT_HEADER, FULL_ROW, MINIMAL_ROW])
        assert list(iter_xlsx(path)) == [RawLine(2, FULL_RECORD, None), RawLine(3, MINIMAL_RECORD, None)]

    def test_cell_types(self, tmp_path: Path) -> None:
        header = ["Entry ID", "Usage Start Time", "Usage End Time", "Quantity", "Purchase Price", "Currency"]
        row = [1001, date(2025, 6, 1), datetime(2025, 6, 30, 12, 30, 0, 500000), 3.0, 1234567.123456, True]
        path = write_xlsx(tmp_path / "types.xlsx", [[*header, *CURRENT_HEADER[3:6], *CURRENT_HEADER[8:10]], row])
        record = {
            "externalIds": {"vendor": "1001"},
            "period": {"start": "2025-06-01T00:00:00Z", "end": "2025-06-30T12:30:00.500000Z"},
            "quantity": Decimal("3.0"),
            "price": {"unitPP": Decimal("1234567.123456"), "currency": "True"},
        }
        assert list(iter_xlsx(path)) == [RawLine(2, record, None)]

    def test_legacy_subscription_columns(self, tmp_path: Path) -> None:
        row = xlsx_row(
            LEGACY_HEADER,
            Entry_ID="ext-0003",
            Subscription_Search_Criteria="subscription.id",
            Subscription_Search_Value="SUB-0356-5642-8669",
            Item_Search_Criteria="item.id",
            Item_Search_Value="ITM-0001-0001-0001",
            Usage_Start_Time=datetime(2025, 6, 1),
            Usage_End_Time=datetime(2025, 6, 30),
            Quantity=1,
            Purchase_Price=5,
        )
        path = write_xlsx(tmp_path / "legacy.xlsx", [LEGACY_HEADER, row])
        assert list(iter_xlsx(path)) == [
            RawLine(
                2,
                {
                    "externalIds": {"vendor": "ext-0003"},
                    "search": {
                        "subscription": {"criteria": "subscription.id", "value": "SUB-0356-5642-8669"},
                        "item": {"criteria": "item.id", "value": "ITM-0001-0001-0001"},
                    },
                    "period": {"start": "2025-06-01T00:00:00Z", "end": "2025-06-30T00:00:00Z"},
                    "quantity": 1,
                    "price": {"unitPP": 5},
                },
                None,
            )
        ]

    def test_column_order_is_free(self, tmp_path: Path) -> None:
        order = list(reversed(range(len(CURRENT_HEADER))))
        rows = [[source[i] for i in order] for source in (CURRENT_HEADER, FULL_ROW, MINIMAL_ROW)]
        path = write_xlsx(tmp_path / "reordered.xlsx", rows)
        assert list(iter_xlsx(path)) == [RawLine(2, FULL_RECORD, None), RawLine(3, MINIMAL_RECORD, None)]

    def test_header_matching_ignores_case_and_surrounding_spaces(self, tmp_path: Path) -> None:
        header = [f"  {title.upper()} " if i % 2 else title.lower() for i, title in enumerate(CURRENT_HEADER)]
        path = write_xlsx(tmp_path / "header.xlsx", [header, FULL_ROW])
        assert list(iter_xlsx(path)) == [RawLine(2, FULL_RECORD, None)]

    def test_unknown_columns_are_ignored(self, tmp_path: Path) -> None:
        header = ["Notes", *CURRENT_HEADER, "Subscription"]
        path = write_xlsx(tmp_path / "unknown.xlsx", [header, ["a note", *FULL_ROW, "SUB-1"]])
        assert list(iter_xlsx(path)) == [RawLine(2, FULL_RECORD, None)]

    def test_the_file_name_does_not_matter(self, tmp_path: Path) -> None:
        path = write_xlsx(tmp_path / "charges.xlsx", [CURRENT_HEADER, FULL_ROW])
        stored = path.rename(tmp_path / "5f1c0e7a9b")  # uploads are stored under their digest
        assert list(iter_xlsx(stored)) == [RawLine(2, FULL_RECORD, None)]
        assert has_charges(stored, "xlsx") is True

    def test_only_the_first_worksheet_is_read(self, tmp_path: Path) -> None:
        path = write_xlsx(
            tmp_path / "sheets.xlsx",
            [CURRENT_HEADER, FULL_ROW],
            extra_sheets={"Summary": [["Total", 101]], "More": [CURRENT_HEADER, MINIMAL_ROW]},
            active_sheet=2,
        )
        assert list(iter_xlsx(path)) == [RawLine(2, FULL_RECORD, None)]

    def test_empty_rows_are_skipped_and_row_numbers_kept(self, tmp_path: Path) -> None:
        blank = [None, "   ", "", None]
        rows = [CURRENT_HEADER, None, FULL_ROW, blank, None, MINIMAL_ROW, None, blank]
        path = write_xlsx(tmp_path / "gaps.xlsx", rows)
        assert list(iter_xlsx(path)) == [RawLine(3, FULL_RECORD, None), RawLine(6, MINIMAL_RECORD, None)]

    def test_a_row_with_only_an_unknown_cell_is_a_record(self, tmp_path: Path) -> None:
        path = write_xlsx(tmp_path / "notes.xlsx", [[*CURRENT_HEADER, "Notes"], [None] * len(CURRENT_HEADER) + ["x"]])
        assert list(iter_xlsx(path)) == [RawLine(2, {}, None)]


class TestXlsxUnusable:
    @pytest.mark.parametrize(
        ("removed", "reason"),
        [
            (["Quantity", "Purchase Price"], "missing required column(s) Quantity, Purchase Price"),
            (["Purchase Price", "Entry ID"], "missing required column(s) Entry ID, Purchase Price"),
            (["Source Value"], "missing required column(s) Source Value"),
            (
                ["Source", "Source Criteria", "Source Value"],
                "missing required column(s) Source, Source Criteria, Source Value",
            ),
            (
                ["Usage Start Time", "Usage End Time", "Item Search Value"],
                "missing required column(s) Item Search Value, Usage Start Time, Usage End Time",
            ),
        ],
    )
    def test_missing_required_columns(self, tmp_path: Path, removed: list[str], reason: str) -> None:
        header = [title for title in CURRENT_HEADER if title not in removed]
        path = write_xlsx(tmp_path / "missing.xlsx", [header, ["x"] * len(header)])
        rows = iter_xlsx(path)
        with pytest.raises(ChargeFileError) as raised:
            next(rows)
        assert raised.value.reason == reason

    def test_incomplete_legacy_columns_name_the_legacy_column(self, tmp_path: Path) -> None:
        header = [title for title in LEGACY_HEADER if title != "Subscription Search Value"]
        path = write_xlsx(tmp_path / "legacy.xlsx", [header])
        with pytest.raises(ChargeFileError, match=r"^missing required column\(s\) Subscription Search Value$"):
            list(iter_xlsx(path))

    def test_an_empty_worksheet_lacks_every_required_column(self, tmp_path: Path) -> None:
        path = write_xlsx(tmp_path / "empty.xlsx", [])
        with pytest.raises(ChargeFileError) as raised:
            list(iter_xlsx(path))
        assert raised.value.reason == (
            "missing required column(s) Entry ID, Source, Source Criteria, Source Value, Item Search Criteria, "
            "Item Search Value, Usage Start Time, Usage End Time, Quantity, Purchase Price"
        )

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            (b"this is not a workbook", "the workbook could not be opened: File is not a zip file"),
            (b"PK\x03\x04 truncated", "the workbook could not be opened: File is not a zip file"),
            (jsonl(charge("A")), "the workbook could not be opened: File is not a zip file"),
        ],
    )
    def test_corrupt_bytes_with_an_xlsx_name(self, tmp_path: Path, content: bytes, reason: str) -> None:
        path = tmp_path / "charges.xlsx"
        path.write_bytes(content)
        with pytest.raises(ChargeFileError) as raised:
            next(iter_xlsx(path))
        assert raised.value.reason == reason

    def test_a_zip_that_is_not_a_workbook(self, tmp_path: Path) -> None:
        path = tmp_path / "charges.xlsx"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("hello.txt", "hi")
        with pytest.raises(ChargeFileError) as raised:
            next(iter_xlsx(path))
        assert raised.value.reason == (
            "the workbook could not be opened: \"There is no item named '[Content_Types].xml' in the archive\""
        )

    def test_a_worksheet_corrupt_further_down_fails_the_file(self, tmp_path: Path) -> None:
        rows = [xlsx_row(CURRENT_HEADER, Entry_ID=f"ext-{number}", Quantity=number) for number in range(200)]
        path = truncate_first_sheet(write_xlsx(tmp_path / "charges.xlsx", [CURRENT_HEADER, *rows]))
        read: list[RawLine] = []
        with pytest.raises(ChargeFileError) as raised:
            read.extend(iter_xlsx(path))
        assert raised.value.reason.startswith("the worksheet could not be read: ")
        assert 0 < len(read) < 200 and read[0] == RawLine(2, {"externalIds": {"vendor": "ext-0"}, "quantity": 0}, None)


class TestXlsxHasCharges:
    def test_header_only(self, tmp_path: Path) -> None:
        path = write_xlsx(tmp_path / "header.xlsx", [CURRENT_HEADER, None, [None, "  "]])
        assert has_charges(path, "xlsx") is False

    def test_a_data_row(self, tmp_path: Path) -> None:
        path = write_xlsx(tmp_path / "rows.xlsx", [CURRENT_HEADER, None, MINIMAL_ROW])
        assert has_charges(path, "xlsx") is True

    @pytest.mark.parametrize("rows", [[], [["Entry ID"], ["ext-1"]]])
    def test_an_unusable_workbook_is_left_to_the_validation(self, tmp_path: Path, rows: list[list[str]]) -> None:
        assert has_charges(write_xlsx(tmp_path / "bad.xlsx", rows), "xlsx") is True

    def test_corrupt_bytes(self, tmp_path: Path) -> None:
        path = tmp_path / "charges.xlsx"
        path.write_bytes(b"garbage")
        assert has_charges(path, "xlsx") is True


class TestDetectFormat:
    @pytest.mark.parametrize(
        "content_type",
        [
            "application/jsonl",
            "application/x-ndjson",
            "application/json",
            "text/plain",
            "application/json; charset=utf-8",
            "Text/Plain;charset=UTF-8",
            " APPLICATION/X-NDJSON ",
        ],
    )
    def test_jsonl_content_types(self, content_type: str) -> None:
        assert detect_format(content_type, "charges.xlsx", b"PK\x03\x04") == "jsonl"

    @pytest.mark.parametrize("content_type", [XLSX_MEDIA_TYPE, XLSX_MEDIA_TYPE.upper() + "; name=x"])
    def test_the_xlsx_content_type(self, content_type: str) -> None:
        assert detect_format(content_type, "charges.jsonl", b"{}") == "xlsx"

    @pytest.mark.parametrize("content_type", [None, "", "application/octet-stream", "Application/Octet-Stream; q=1"])
    @pytest.mark.parametrize(
        ("filename", "head", "expected"),
        [
            ("charges.jsonl", b"PK\x03\x04\x14\x00", "xlsx"),
            (None, b"PK\x03\x04", "xlsx"),
            ("charges.jsonl", b'{"a": 1}', "jsonl"),
            ("charges.ndjson", b"", "jsonl"),
            ("CHARGES.JSON", b"{", "jsonl"),
            ("charges.txt", b"{", "jsonl"),
            ("C:\\uploads\\charges.xlsx", b"garbage", "xlsx"),
        ],
    )
    def test_octet_stream_or_absent_by_content_then_name(
        self, content_type: str | None, filename: str | None, head: bytes, expected: str
    ) -> None:
        assert detect_format(content_type, filename, head) == expected

    @pytest.mark.parametrize("content_type", ["text/csv", "application/xml", "multipart/form-data", "image/png"])
    def test_other_content_types_are_unsupported(self, content_type: str) -> None:
        with pytest.raises(UnsupportedFormat) as raised:
            detect_format(content_type, "charges.jsonl", b"{}")
        assert raised.value.message == (
            f"Unsupported content type '{content_type}'; a charge file is JSONL (application/json, application/jsonl,"
            f" application/x-ndjson, text/plain) or XLSX ({XLSX_MEDIA_TYPE})."
        )

    @pytest.mark.parametrize(
        ("filename", "shown"), [("charges.csv", "charges.csv"), ("charges", "charges"), (None, "")]
    )
    def test_unknown_name_without_zip_content_is_unsupported(self, filename: str | None, shown: str) -> None:
        with pytest.raises(UnsupportedFormat) as raised:
            detect_format("application/octet-stream", filename, b"Entry ID,Quantity")
        assert raised.value.message == (
            f"Cannot tell the format of the file '{shown}'; a charge file is JSONL (.jsonl, .ndjson, .json, .txt)"
            " or XLSX (.xlsx)."
        )

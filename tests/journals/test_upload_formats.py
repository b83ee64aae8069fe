"""Charge files through the API (billing-api.md §8.1–8.3, §8.6, §8.8, §6.3, §6.4, §2.6): XLSX and JSONL variants,
split billing, overrides, and what each role sees of a journal charge and its sellers."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import orjson
import pytest
from corpus import CURRENT_HEADER
from journal_kit import AGREEMENTS, AUTH, DATASET, ITEM, SUBSCRIPTION, VENDOR, jsonl, line, new_journal, upload

from billing.reference.demo import DEMO_ACCOUNTS

ITEMS = {i["id"]: i for i in DATASET["items"]}
AGREEMENT = AGREEMENTS[SUBSCRIPTION["agreement"]]
#: The demo's split agreement (§8.8), a subscription of it, and an authorization of its vendor/product/currency.
SPLIT = next(a for a in DATASET["agreements"] if a.get("split"))
SPLIT_AUTH = next(
    a
    for a in DATASET["authorizations"]
    if a["vendor"] == SPLIT["vendor"] and a["product"] == SPLIT["product"] and a["currency"] == SPLIT["currency"]
)
SPLIT_SUBSCRIPTION = next(s for s in DATASET["subscriptions"] if s["agreement"] == SPLIT["id"] and s.get("items"))
SPLIT_ITEM = SPLIT_SUBSCRIPTION["items"][0]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NO_COUNTS = {"total": 0, "ready": 0, "split": 0, "skipped": 0, "error": 0}


# --- helpers ------------------------------------------------------------------------------------------------------


def upload_without_content_type(api, vendor, journal_id, content: bytes, filename: str):
    """A multipart upload whose ``file`` part has no Content-Type header at all (§8.1 "absent")."""
    boundary = "billing-test-boundary-7f3a"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n\r\n'.encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {**vendor, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    return api.post(f"/journals/{journal_id}/upload", headers=headers, content=body)


def exact(response) -> Any:
    """A response body with its numbers as exact Decimals (floats would hide a wrongly rendered number)."""
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def validated(api, vendor, drain, content: bytes, name="charges.jsonl", media="application/x-ndjson", **kwargs):
    """Create a journal, upload ``content``, run the validation; returns (journal, its charges)."""
    journal_id = new_journal(api, vendor, **kwargs)
    response = upload(api, vendor, journal_id, content, name, media)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Validating"
    assert drain() == 1
    journal = exact(api.get(f"/journals/{journal_id}", headers=vendor))
    charges = exact(api.get(f"/journals/{journal_id}/charges?limit=1000", headers=vendor))["data"]
    return journal, charges


def by_entry(charges: list[dict]) -> dict[str, dict]:
    return {c["externalIds"]["vendor"]: c for c in charges}


# --- XLSX --------------------------------------------------------------------------------------------------------

HEADER = CURRENT_HEADER
LEGACY_HEADER = [
    *(h for h in HEADER if h not in ("Source", "Source Criteria", "Source Value")),
    "Subscription Search Criteria",
    "Subscription Search Value",
]


def xrow(entry: Any, **cells: Any) -> dict[str, Any]:
    """One worksheet row by column title: a valid charge unless ``cells`` say otherwise."""
    row: dict[str, Any] = {
        "Entry ID": entry,
        "Source": "Subscription",
        "Source Criteria": "id",
        "Source Value": SUBSCRIPTION["id"],
        "Item Search Criteria": "item.id",
        "Item Search Value": ITEM,
        "Usage Start Time": date(2025, 6, 1),
        "Usage End Time": datetime(2025, 6, 30, 23, 59, 59),
        "Quantity": 10,
        "Purchase Price": 10,
        "Total Purchase Price": 100,
    }
    row.update({name.replace("_", " "): value for name, value in cells.items()})
    return row


def workbook(
    tmp_path: Path,
    rows: list[dict[str, Any] | None],
    header: list[str] = HEADER,
    *,
    extra_sheets: dict[str, list[list[Any]]] | None = None,
) -> bytes:
    """An .xlsx file written by openpyxl: ``header`` then one row per dict (``None`` = an empty row)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Charges"
    sheet.append(header)
    for row in rows:
        sheet.append([None] * len(header) if row is None else [row.get(title.strip()) for title in header])
    for title, content in (extra_sheets or {}).items():
        extra = book.create_sheet(title)
        for values in content:
            extra.append(values)
    path = tmp_path / f"charges-{len(list(tmp_path.iterdir()))}.xlsx"
    book.save(path)
    return path.read_bytes()


class TestXlsxUpload:
    def test_a_valid_workbook_with_typed_and_text_cells(self, api, vendor, drain, tmp_path):
        content = workbook(
            tmp_path,
            [
                xrow(
                    "x-1",
                    External_Reference="REF-1",
                    Vendor_Invoice_Reference="INV-9",
                    Order_Search_Criteria="order.id",
                    Order_Search_Value="ORD-2413-8980-9419",
                    Quantity=2.5,
                    Purchase_Price=1.1,
                    Total_Purchase_Price=2.75,
                    Currency="USD",
                    Description1="Standard seat",
                    Description2="June",
                    Market_Segment="com",
                    Optional_Agreement_Vendor_ID="TENANT-77",
                ),
                xrow(
                    1002,  # a number typed into a text column means its text
                    Source="subscription",
                    Source_Criteria="externalIds.vendor",
                    Source_Value=SUBSCRIPTION["externalIds"]["vendor"],
                    Item_Search_Criteria="item.externalIds.vendor",
                    Item_Search_Value=ITEMS[ITEM]["externalIds"]["vendor"],
                    Usage_Start_Time="2025-06-01",
                    Usage_End_Time="2025-06-30T23:59:59Z",
                    Quantity=3,
                    Purchase_Price="4.5",
                    Total_Purchase_Price=None,
                ),
                None,  # an empty row: skipped, but the next row keeps its worksheet row number
                xrow("x-3", Quantity=-1, Purchase_Price=10, Total_Purchase_Price=-10),
            ],
        )
        journal, charges = validated(api, vendor, drain, content, "June.xlsx", XLSX)
        assert journal["status"] == "Validated", journal
        assert journal["upload"] == {"total": 3, "ready": 3, "split": 0, "skipped": 0, "error": 0}
        assert journal["price"]["totalPP"] == Decimal("6.25")  # 2.75 + 13.5 - 10
        charges = by_entry(charges)
        assert list(charges) == ["x-1", "1002", "x-3"]
        first, second, third = charges.values()
        assert [c["upload"] for c in (first, second, third)] == [
            {"status": "Ready", "errors": [], "line": 2},
            {"status": "Ready", "errors": [], "line": 3},
            {"status": "Ready", "errors": [], "line": 5},
        ]
        assert first["externalIds"] == {"vendor": "x-1", "invoice": "INV-9", "reference": "REF-1"}
        assert first["quantity"] == Decimal("2.5") and first["quantity"].as_tuple().exponent == -1
        assert first["price"] == {"currency": {"purchase": "USD"}, "unitPP": Decimal("1.1"), "PPx1": Decimal("2.75")}
        assert first["period"] == {"start": "2025-06-01T00:00:00.000Z", "end": "2025-06-30T23:59:59.000Z"}
        assert first["segment"] == "COM"
        assert first["description"] == {"value1": "Standard seat", "value2": "June"}
        assert first["attributes"] == {"agreementVendorId": "TENANT-77"}
        assert first["order"] == {"id": "ORD-2413-8980-9419"}
        assert first["subscription"]["id"] == SUBSCRIPTION["id"] and first["item"]["id"] == ITEM
        assert first["agreement"]["id"] == AGREEMENT["id"]
        assert first["search"] == {
            "source": {"type": "Subscription", "criteria": "id", "value": SUBSCRIPTION["id"]},
            "order": {"criteria": "order.id", "value": "ORD-2413-8980-9419"},
            "item": {"criteria": "item.id", "value": ITEM},
        }
        assert second["externalIds"] == {"vendor": "1002", "invoice": None, "reference": None}
        assert second["subscription"]["id"] == SUBSCRIPTION["id"] and second["item"]["id"] == ITEM
        assert (second["quantity"], second["price"]["unitPP"], second["price"]["PPx1"]) == (
            3,
            Decimal("4.5"),
            Decimal("13.5"),
        )
        assert second["period"] == first["period"]  # text dates read like date cells
        assert (third["quantity"], third["price"]["PPx1"]) == (-1, -10)

    def test_numbers_are_rendered_as_exact_json_numbers(self, api, vendor, drain, tmp_path):
        content = workbook(tmp_path, [xrow("x-1", Quantity=0.1, Purchase_Price=0.2, Total_Purchase_Price=None)])
        journal_id = new_journal(api, vendor)
        upload(api, vendor, journal_id, content, "c.xlsx", XLSX)
        drain()
        text = api.get(f"/journals/{journal_id}/charges/CHG-{journal_id[4:]}-0000-0000-0200", headers=vendor).text
        assert '"quantity":0.1,' in text.replace(" ", "")
        assert '"unitPP":0.2,"PPx1":0.02' in text.replace(" ", "")  # not 0.020000000000000004

    def test_legacy_subscription_search_columns(self, api, vendor, drain, tmp_path):
        content = workbook(
            tmp_path,
            [
                xrow(
                    "l-1", Subscription_Search_Criteria="subscription.id", Subscription_Search_Value=SUBSCRIPTION["id"]
                ),
                xrow(
                    "l-2",
                    Subscription_Search_Criteria="subscription.externalIds.vendor",
                    Subscription_Search_Value=SUBSCRIPTION["externalIds"]["vendor"],
                ),
            ],
            LEGACY_HEADER,
        )
        journal, charges = validated(api, vendor, drain, content, "legacy.xlsx", XLSX)
        assert journal["status"] == "Validated", charges
        assert journal["upload"]["ready"] == 2
        first, second = charges
        assert [c["subscription"]["id"] for c in charges] == [SUBSCRIPTION["id"]] * 2
        assert first["search"] == {
            "subscription": {"criteria": "subscription.id", "value": SUBSCRIPTION["id"]},
            "item": {"criteria": "item.id", "value": ITEM},
        }
        assert second["search"]["subscription"]["criteria"] == "subscription.externalIds.vendor"

    def test_reordered_columns_odd_titles_and_extra_sheets(self, api, vendor, drain, tmp_path):
        header = ["  quantity ", "Comment", *reversed([h for h in HEADER if h != "Quantity"])]
        header = [title.upper() if title == "Entry ID" else title for title in header]
        rows = [{**xrow(f"r-{n}"), "quantity": n, "Comment": "ignored", "ENTRY ID": f"r-{n}"} for n in (1, 2)]
        for row in rows:
            row["Total Purchase Price"] = 10 * row["quantity"]
        content = workbook(
            tmp_path,
            rows,
            header,
            extra_sheets={"Notes": [["nothing", "to", "see"], ["x"]], "Bad": [["Entry ID"], ["garbage"]]},
        )
        journal, charges = validated(api, vendor, drain, content, "many-sheets.xlsx", XLSX)
        assert journal["status"] == "Validated", charges
        assert [(c["externalIds"]["vendor"], c["quantity"], c["price"]["PPx1"]) for c in charges] == [
            ("r-1", 1, 10),
            ("r-2", 2, 20),
        ]

    @pytest.mark.parametrize(
        ("removed", "message"),
        [
            (
                ["Quantity", "Purchase Price"],
                "The file could not be read: missing required column(s) Quantity, Purchase Price.",
            ),
            (["Source Value"], "The file could not be read: missing required column(s) Source Value."),
            (
                ["Entry ID", "Usage End Time"],
                "The file could not be read: missing required column(s) Entry ID, Usage End Time.",
            ),
        ],
    )
    def test_a_missing_required_column_fails_the_whole_file(self, api, vendor, ops, drain, tmp_path, removed, message):
        header = [title for title in HEADER if title not in removed]
        content = workbook(tmp_path, [xrow("m-1"), xrow("m-2")], header)
        journal, charges = validated(api, vendor, drain, content, "missing.xlsx", XLSX)
        assert journal["status"] == "Error"
        assert journal["error"] == {"id": "BJO:0002", "message": message}
        assert journal["upload"] == NO_COUNTS and journal["price"]["totalPP"] == 0
        assert charges == []
        assert api.get(f"/journals/{journal['id']}/sellers", headers=ops).json()["data"] == []

    def test_a_corrupt_workbook_fails_the_whole_file(self, api, vendor, drain):
        content = b"PK\x03\x04" + b"not really a zip archive" * 10
        journal, charges = validated(api, vendor, drain, content, "broken.xlsx", XLSX)
        assert journal["status"] == "Error" and charges == []
        assert journal["error"]["id"] == "BJO:0002"
        assert journal["error"]["message"].startswith("The file could not be read: the workbook could not be opened: ")

    @pytest.mark.parametrize(
        ("name", "media"),
        [
            ("charges.xlsx", XLSX),
            ("charges.xlsx", f"{XLSX}; charset=binary"),
            ("upload.bin", "application/octet-stream"),  # by the PK magic bytes alone
            ("charges.jsonl", "application/octet-stream"),  # the content wins over a misleading name
            ("charges.xlsx", "application/octet-stream"),
        ],
    )
    def test_xlsx_is_recognised_by_content_type_or_magic_bytes(self, api, vendor, drain, tmp_path, name, media):
        content = workbook(tmp_path, [xrow("k-1")])
        journal, charges = validated(api, vendor, drain, content, name, media)
        assert journal["status"] == "Validated", charges
        assert [(c["externalIds"]["vendor"], c["upload"]["line"]) for c in charges] == [("k-1", 2)]

    @pytest.mark.parametrize(
        ("filename", "kind", "status"),
        [
            ("upload", "xlsx", 200),  # by the magic bytes
            ("charges.jsonl", "xlsx", 200),  # the magic bytes win over the name
            ("charges.jsonl", "jsonl", 200),  # by the name
            ("charges.TXT", "jsonl", 200),
            ("upload", "jsonl", 415),  # neither
        ],
    )
    def test_a_part_without_content_type(self, api, vendor, drain, tmp_path, filename, kind, status):
        content = workbook(tmp_path, [xrow("a-1")]) if kind == "xlsx" else jsonl(line("a-1"))
        journal_id = new_journal(api, vendor)
        response = upload_without_content_type(api, vendor, journal_id, content, filename)
        assert response.status_code == status, response.text
        if status == 200:
            drain()
            body = api.get(f"/journals/{journal_id}", headers=vendor).json()
            assert (body["status"], body["upload"]["ready"]) == ("Validated", 1)
            charges = api.get(f"/journals/{journal_id}/charges", headers=vendor).json()["data"]
            assert [c["upload"]["line"] for c in charges] == [2 if kind == "xlsx" else 1]

    @pytest.mark.parametrize(("name", "media"), [("upload.bin", "application/octet-stream"), ("c.xlsx", XLSX)])
    def test_regenerate_reads_the_stored_workbook_again(self, api, vendor, ops, drain, tmp_path, name, media):
        content = workbook(tmp_path, [xrow("g-1"), xrow("g-2", Quantity=2, Total_Purchase_Price=20)])
        journal, charges = validated(api, vendor, drain, content, name, media)
        assert journal["status"] == "Validated", charges
        assert api.post(f"/journals/{journal['id']}/submit", headers=vendor).status_code == 200
        assert api.post(f"/journals/{journal['id']}/regenerate", headers=ops).json()["status"] == "Validating"
        assert drain() == 1
        again = exact(api.get(f"/journals/{journal['id']}", headers=ops))
        assert (again["status"], again["error"], again["upload"]) == ("Review", None, journal["upload"])
        regenerated = exact(api.get(f"/journals/{journal['id']}/charges", headers=vendor))["data"]
        assert [(c["id"], c["upload"], c["quantity"]) for c in regenerated] == [
            (c["id"], c["upload"], c["quantity"]) for c in charges
        ]

    def test_an_xlsx_with_a_header_only_has_no_charges(self, api, vendor, tmp_path):
        journal_id = new_journal(api, vendor)
        response = upload(api, vendor, journal_id, workbook(tmp_path, []), "empty.xlsx", XLSX)
        assert response.status_code == 400
        assert response.json()["errors"] == {"file": ["The file contains no charges."]}
        assert api.get(f"/journals/{journal_id}", headers=vendor).json()["status"] == "Draft"

    def test_row_errors_use_worksheet_row_numbers(self, api, vendor, drain, tmp_path):
        content = workbook(tmp_path, [xrow("e-1"), None, xrow("e-1"), xrow("e-3", Quantity="ten")])
        journal, charges = validated(api, vendor, drain, content, "errors.xlsx", XLSX)
        assert journal["error"] == {"id": "BJO:0001", "message": "2 of 3 charges failed validation."}
        assert [c["upload"]["errors"] for c in charges] == [
            [],
            ["Line 4: Duplicate 'externalIds.vendor' 'e-1'; already used on line 2."],
            ["Line 5: 'quantity' must be a number: 'ten'."],
        ]


# --- JSONL --------------------------------------------------------------------------------------------------------


class TestJsonlUpload:
    @pytest.mark.parametrize(
        "media",
        [
            "application/jsonl",
            "application/x-ndjson",
            "application/json",
            "text/plain",
            "text/plain; charset=utf-8",
            "Application/JSON; charset=UTF-8",
        ],
    )
    def test_each_jsonl_content_type(self, api, vendor, drain, media):
        # the name says nothing: the content type decides
        journal, charges = validated(api, vendor, drain, jsonl(line("j-1"), line("j-2")), "charges.dat", media)
        assert journal["status"] == "Validated"
        assert [c["externalIds"]["vendor"] for c in charges] == ["j-1", "j-2"]

    @pytest.mark.parametrize("name", ["c.jsonl", "c.ndjson", "c.json", "c.txt", "C.JSONL"])
    def test_octet_stream_jsonl_by_file_name(self, api, vendor, drain, name):
        journal, charges = validated(api, vendor, drain, jsonl(line("j-1")), name, "application/octet-stream")
        assert journal["status"] == "Validated" and len(charges) == 1

    def test_octet_stream_with_an_unknown_name_is_415(self, api, vendor):
        journal_id = new_journal(api, vendor)
        response = upload(api, vendor, journal_id, jsonl(line("j-1")), "charges.dat", "application/octet-stream")
        assert response.status_code == 415
        assert api.get(f"/journals/{journal_id}", headers=vendor).json()["status"] == "Draft"

    def test_bom_crlf_and_blank_lines_keep_physical_line_numbers(self, api, vendor, drain):
        content = (
            b"\xef\xbb\xbf"
            + orjson.dumps(line("b-1"))
            + b"\r\n\r\n   \t \r\n"
            + orjson.dumps(line("b-4"))
            + b"\r\n\n"
            + orjson.dumps(line("b-6"))  # the last line has no line end
        )
        journal, charges = validated(api, vendor, drain, content)
        assert journal["status"] == "Validated", charges
        assert journal["upload"]["total"] == 3
        assert [(c["externalIds"]["vendor"], c["upload"]["line"]) for c in charges] == [
            ("b-1", 1),
            ("b-4", 4),
            ("b-6", 6),
        ]
        assert [c["id"][-4:] for c in charges] == ["0100", "0400", "0600"]

    def test_an_invalid_json_line_fails_alone(self, api, vendor, drain):
        content = jsonl(line("g-1"), '{"externalIds": {"vendor": "g-2"}, "quantity": ', line("g-3"), "[1, 2]")
        journal, charges = validated(api, vendor, drain, content)
        assert journal["status"] == "Error"
        assert journal["error"] == {"id": "BJO:0001", "message": "2 of 4 charges failed validation."}
        assert journal["upload"] == {"total": 4, "ready": 2, "split": 0, "skipped": 0, "error": 2}
        assert journal["price"]["totalPP"] == 200  # the good lines count
        assert [(c["upload"]["line"], c["upload"]["status"]) for c in charges] == [
            (1, "Ready"),
            (2, "Error"),
            (3, "Ready"),
            (4, "Error"),
        ]
        bad, not_object = charges[1], charges[3]
        assert len(bad["upload"]["errors"]) == 1
        assert bad["upload"]["errors"][0].startswith("Line 2: Invalid JSON: ")
        assert bad["upload"]["errors"][0].endswith(".")
        assert bad["externalIds"]["vendor"] is None and bad["quantity"] is None  # nothing could be read
        assert not_object["upload"]["errors"] == ["Line 4: Invalid JSON: not a JSON object."]
        assert by_entry(charges)["g-3"]["subscription"]["id"] == SUBSCRIPTION["id"]

    def test_legacy_search_subscription_form(self, api, vendor, drain):
        legacy = {
            "subscription": {"criteria": "subscription.id", "value": SUBSCRIPTION["id"]},
            "item": {"criteria": "item.id", "value": ITEM},
        }
        by_vendor_id = {
            "subscription": {
                "criteria": "subscription.externalIds.vendor",
                "value": SUBSCRIPTION["externalIds"]["vendor"],
            },
            "item": {"criteria": "item.externalIds.vendor", "value": ITEMS[ITEM]["externalIds"]["vendor"]},
        }
        both = {  # search.source wins over search.subscription
            "source": {"type": "Subscription", "criteria": "id", "value": SUBSCRIPTION["id"]},
            "subscription": {"criteria": "subscription.id", "value": "SUB-0000-0000-0000"},
            "item": {"criteria": "item.id", "value": ITEM},
        }
        content = jsonl(line("s-1", search=legacy), line("s-2", search=by_vendor_id), line("s-3", search=both))
        journal, charges = validated(api, vendor, drain, content)
        assert journal["status"] == "Validated", charges
        assert [c["subscription"]["id"] for c in charges] == [SUBSCRIPTION["id"]] * 3
        assert [c["agreement"]["id"] for c in charges] == [AGREEMENT["id"]] * 3
        assert charges[0]["search"] == legacy

    def test_case_insensitive_names_and_numeric_strings(self, api, vendor, drain):
        shouting = {
            "EXTERNALIDS": {"Vendor": "c-1", "INVOICE": "INV-7"},
            "Search": {
                "Source": {"TYPE": "subscription", "Criteria": "subscription.ID", "value": SUBSCRIPTION["id"]},
                "ITEM": {"criteria": "ITEM.ID", "Value": ITEM},
            },
            "PERIOD": {"Start": "2025-06-01", "END": "2025-06-30T23:59:59Z"},
            "Quantity": "2.500",
            "PRICE": {"UnitPP": "4", "ppx1": "10.0", "Currency": "usd"},
            "Segment": "edu",
            "Description": {"VALUE1": "Seats"},
        }
        journal, charges = validated(api, vendor, drain, jsonl(shouting))
        assert journal["status"] == "Validated", charges
        [charge] = charges
        assert charge["externalIds"] == {"vendor": "c-1", "invoice": "INV-7", "reference": None}
        assert charge["subscription"]["id"] == SUBSCRIPTION["id"] and charge["item"]["id"] == ITEM
        assert (charge["quantity"], charge["price"]["unitPP"], charge["price"]["PPx1"]) == (
            Decimal("2.5"),
            4,
            10,
        )
        assert charge["period"] == {"start": "2025-06-01T00:00:00.000Z", "end": "2025-06-30T23:59:59.000Z"}
        assert charge["segment"] == "EDU" and charge["description"]["value1"] == "Seats"
        # §6.3: `search` is stored as uploaded with its property names normalised
        assert set(charge["search"]) == {"source", "item"}
        assert set(charge["search"]["source"]) == {"type", "criteria", "value"}
        assert set(charge["search"]["item"]) == {"criteria", "value"}


# --- split billing (§8.8) ---------------------------------------------------------------------------------------


def split_line(entry: str, quantity: Any, unit_pp: Any, ppx1: Any = None) -> dict:
    price = {"unitPP": unit_pp} if ppx1 is None else {"unitPP": unit_pp, "PPx1": ppx1}
    return line(
        entry,
        search={
            "source": {"type": "Subscription", "criteria": "id", "value": SPLIT_SUBSCRIPTION["id"]},
            "item": {"criteria": "item.id", "value": SPLIT_ITEM},
        },
        quantity=quantity,
        price=price,
    )


def plain_line(entry: str) -> dict:
    return line(entry)


class TestSplitBilling:
    def test_a_split_parent_and_its_children(self, api, vendor, ops, drain):
        assert SPLIT_AUTH["id"] == AUTH["id"]  # the demo's split agreement is on the main authorization
        content = jsonl(plain_line("p-1"), split_line("p-2", "3.333333", "1.5"))
        journal, charges = validated(api, vendor, drain, content, authorization=SPLIT_AUTH["id"])
        assert journal["status"] == "Validated", charges
        assert journal["upload"] == {"total": 4, "ready": 3, "split": 1, "skipped": 0, "error": 0}
        digits = journal["id"][4:]
        assert [c["id"] for c in charges] == [
            f"CHG-{digits}-0000-0000-0100",
            f"CHG-{digits}-0000-0000-0200",
            f"CHG-{digits}-0000-0000-0201",
            f"CHG-{digits}-0000-0000-0202",
        ]
        plain, parent, first, second = charges
        assert parent["upload"] == {"status": "Split", "errors": [], "line": 2}
        assert parent["parent"] is None and parent["split"] is None
        assert parent["agreement"]["id"] == SPLIT["id"]
        # PPx1 defaults to round6(3.333333 × 1.5 = 4.9999995) = 5
        assert (parent["quantity"], parent["price"]["PPx1"]) == (Decimal("3.333333"), 5)
        allocations = SPLIT["split"]
        for child, allocation in zip((first, second), allocations, strict=True):
            target = AGREEMENTS[allocation["agreement"]]
            assert child["upload"] == {"status": "Ready", "errors": [], "line": 2}
            assert child["parent"] == {"id": parent["id"], "externalIds": {"vendor": "p-2"}}
            assert child["split"] == {"percentage": allocation["percentage"]}
            assert child["externalIds"] == parent["externalIds"]
            assert child["agreement"]["id"] == target["id"]
            assert child["client"]["id"] == target["client"]
            assert child["buyer"]["id"] == target["buyer"]
            assert child["seller"]["id"] == target["seller"]
            assert child["licensee"]["id"] == target["licensee"]
            assert child["subscription"]["id"] == SPLIT_SUBSCRIPTION["id"]  # the source stays the parent's
            assert child["item"] == parent["item"] and child["period"] == parent["period"]
            assert child["price"]["unitPP"] == parent["price"]["unitPP"]
            assert child["billingType"] == "Automated"
        # 60 % first (rounded half away from zero to 6 places), the last child takes the remainder
        assert (first["quantity"], first["price"]["PPx1"]) == (Decimal("2"), Decimal("3"))
        assert (second["quantity"], second["price"]["PPx1"]) == (Decimal("1.333333"), 2)
        assert first["quantity"] + second["quantity"] == parent["quantity"]
        assert first["price"]["PPx1"] + second["price"]["PPx1"] == parent["price"]["PPx1"]
        # the parent is not billed: the journal total counts the plain charge and the children
        assert journal["price"]["totalPP"] == plain["price"]["PPx1"] + parent["price"]["PPx1"]
        sellers = api.get(f"/journals/{journal['id']}/sellers", headers=vendor).json()["data"]
        assert {first["seller"]["id"], second["seller"]["id"], plain["seller"]["id"]} <= {s["id"] for s in sellers}
        children = api.get(f"/journals/{journal['id']}/charges?eq(parent.id,{parent['id']})", headers=ops).json()
        assert [c["id"] for c in children["data"]] == [first["id"], second["id"]]

    def test_rounding_remainder_goes_to_the_last_child(self, api, vendor, drain):
        content = jsonl(split_line("r-1", "0.000001", "7", "0.000007"), split_line("r-2", "-5", "0.333333"))
        journal, charges = validated(api, vendor, drain, content)
        assert journal["status"] == "Validated", charges
        assert journal["upload"] == {"total": 6, "ready": 4, "split": 2, "skipped": 0, "error": 0}
        for parent_index in (0, 3):
            parent, first, second = charges[parent_index : parent_index + 3]
            assert first["quantity"] + second["quantity"] == parent["quantity"]
            assert first["price"]["PPx1"] + second["price"]["PPx1"] == parent["price"]["PPx1"]
        tiny, tiny_first, tiny_second = charges[:3]
        assert (tiny_first["quantity"], tiny_second["quantity"]) == (tiny["quantity"], 0)
        assert (tiny_first["price"]["PPx1"], tiny_second["price"]["PPx1"]) == (Decimal("0.000004"), Decimal("0.000003"))
        negative, neg_first, neg_second = charges[3:]
        assert negative["price"]["PPx1"] == Decimal("-1.666665")
        assert (neg_first["quantity"], neg_first["price"]["PPx1"]) == (-3, Decimal("-0.999999"))
        assert (neg_second["quantity"], neg_second["price"]["PPx1"]) == (-2, Decimal("-0.666666"))

    def test_an_override_of_one_allocation_skips_that_child(self, api, vendor, ops, drain):
        partner = AGREEMENTS[SPLIT["split"][1]["agreement"]]
        override = api.post(
            "/manual-overrides", headers=ops, json={"client": {"id": partner["client"]}, "vendor": {"id": VENDOR}}
        )
        assert override.status_code == 201, override.text
        journal, charges = validated(api, vendor, drain, jsonl(split_line("o-1", 10, 2)))
        assert journal["status"] == "Validated"
        assert journal["upload"] == {"total": 3, "ready": 1, "split": 1, "skipped": 1, "error": 0}
        parent, first, second = charges
        assert (parent["upload"]["status"], first["upload"]["status"], second["upload"]["status"]) == (
            "Split",
            "Ready",
            "Skipped",
        )
        assert (first["billingType"], second["billingType"]) == ("Automated", "Manual")


# --- overrides --------------------------------------------------------------------------------------------------


class TestOverrides:
    def test_an_override_makes_the_charges_skipped_and_manual(self, api, vendor, ops, drain):
        response = api.post(
            "/manual-overrides", headers=ops, json={"client": {"id": AGREEMENT["client"]}, "vendor": {"id": VENDOR}}
        )
        assert response.status_code == 201, response.text
        journal, charges = validated(api, vendor, drain, jsonl(line("m-1"), line("m-2")))
        assert journal["status"] == "Validated" and journal["error"] is None
        assert journal["upload"] == {"total": 2, "ready": 0, "split": 0, "skipped": 2, "error": 0}
        assert [(c["upload"]["status"], c["billingType"]) for c in charges] == [("Skipped", "Manual")] * 2
        assert api.post(f"/journals/{journal['id']}/submit", headers=vendor).json()["status"] == "Review"

    def test_an_override_created_while_validating_applies(self, api, vendor, ops, drain):
        """§7.7: an override affects charges validated afterwards, so one created before the job runs counts."""
        journal_id = new_journal(api, vendor)
        assert upload(api, vendor, journal_id, jsonl(line("m-1"))).status_code == 200
        response = api.post(
            "/manual-overrides", headers=ops, json={"client": {"id": AGREEMENT["client"]}, "vendor": {"id": VENDOR}}
        )
        assert response.status_code == 201, response.text
        drain()
        charges = api.get(f"/journals/{journal_id}/charges", headers=vendor).json()["data"]
        assert [(c["upload"]["status"], c["billingType"]) for c in charges] == [("Skipped", "Manual")]

    def test_a_disabled_override_does_not_apply(self, api, vendor, ops, drain):
        response = api.post(
            "/manual-overrides", headers=ops, json={"client": {"id": AGREEMENT["client"]}, "vendor": {"id": VENDOR}}
        )
        assert response.status_code == 201, response.text
        disabled = api.post(f"/manual-overrides/{response.json()['id']}/disable", headers=ops)
        assert disabled.status_code == 200 and disabled.json()["status"] == "Disabled"
        journal, charges = validated(api, vendor, drain, jsonl(line("m-1")))
        assert journal["upload"]["skipped"] == 0
        assert [(c["upload"]["status"], c["billingType"]) for c in charges] == [("Ready", "Automated")]

    def test_an_override_for_another_vendor_changes_nothing(self, api, vendor, ops, drain):
        other_vendor = DEMO_ACCOUNTS["vendor2"]
        response = api.post(
            "/manual-overrides",
            headers=ops,
            json={"client": {"id": AGREEMENT["client"]}, "vendor": {"id": other_vendor}},
        )
        assert response.status_code == 201, response.text
        journal, charges = validated(api, vendor, drain, jsonl(line("m-1")))
        assert journal["upload"]["ready"] == 1
        assert [(c["upload"]["status"], c["billingType"]) for c in charges] == [("Ready", "Automated")]


# --- role visibility of a charge and journal sellers (§2.6, §6.3, §6.4) -----------------------------------------


class TestVisibility:
    def test_what_each_role_sees_of_a_charge(self, api, vendor, ops, client, drain):
        journal, charges = validated(api, vendor, drain, jsonl(line("v-1", description={"value1": "Seats"})))
        charge_id = charges[0]["id"]
        path = f"/journals/{journal['id']}/charges/{charge_id}"

        seen_by_vendor = exact(api.get(path, headers=vendor))
        assert seen_by_vendor["id"] == charge_id
        assert seen_by_vendor["upload"] == {"status": "Ready", "errors": [], "line": 1}
        assert seen_by_vendor["search"]["source"]["value"] == SUBSCRIPTION["id"]
        assert seen_by_vendor["journal"]["id"] == journal["id"]
        assert seen_by_vendor["price"] == {"currency": {"purchase": "USD"}, "unitPP": 10, "PPx1": 100}
        assert seen_by_vendor["authorization"]["id"] == AUTH["id"]
        for hidden in ("processing", "erpData", "ledger", "customLedger", "statement", "statementType"):
            assert hidden not in seen_by_vendor, hidden

        seen_by_ops = exact(api.get(path, headers=ops))
        assert seen_by_ops["processing"] is None  # not rated yet
        assert seen_by_ops["erpData"] == {
            "erpCountryCode": next(s for s in DATASET["sellers"] if s["id"] == AGREEMENT["seller"])["erp"][
                "countryCode"
            ],
            "erpItemId": ITEMS[ITEM]["externalIds"]["operations"],
            "cco": AGREEMENT["externalIds"]["operations"],
            "scu": next(
                entry["customerNo"]
                for buyer in DATASET["buyers"]
                if buyer["id"] == AGREEMENT["buyer"]
                for entry in buyer["erpCustomers"]
                if entry["seller"] == AGREEMENT["seller"]
            ),
        }
        assert seen_by_ops["price"]["unitPP"] == 10 and seen_by_ops["price"]["markup"] is None
        assert seen_by_ops["price"]["unitSP"] is None and seen_by_ops["price"]["margin"] is None
        assert seen_by_ops["upload"] == seen_by_vendor["upload"] and seen_by_ops["search"] == seen_by_vendor["search"]
        assert (seen_by_ops["ledger"], seen_by_ops["customLedger"], seen_by_ops["statement"]) == (None, None, None)
        assert set(seen_by_vendor) < set(seen_by_ops)

        assert api.get(path, headers=client).status_code == 403
        assert (
            api.get(f"/journals/{journal['id']}/charges/CHG-0000-0000-0000-0000-0100", headers=vendor).status_code
            == 404
        )

    def test_hidden_fields_cannot_be_selected_or_filtered_by_the_vendor(self, api, vendor, ops, drain):
        journal, _charges = validated(api, vendor, drain, jsonl(line("v-1")))
        base = f"/journals/{journal['id']}/charges"
        assert (
            api.get(f"{base}?eq(erpData.cco,{AGREEMENT['externalIds']['operations']})", headers=vendor).status_code
            == 400
        )
        assert (
            api.get(f"{base}?eq(erpData.cco,{AGREEMENT['externalIds']['operations']})", headers=ops).json()["$meta"][
                "pagination"
            ]["total"]
            == 1
        )
        selected = api.get(f"{base}?select=erpData,processing", headers=vendor).json()["data"][0]
        assert "erpData" not in selected and "processing" not in selected
        for headers in (vendor, ops):  # hidden fields are not "omitted" either (§2.6)
            listing = api.get(base, headers=headers).json()
            assert listing["$meta"]["omitted"] == ["audit"]
        assert "erpData" in api.get(base, headers=ops).json()["data"][0]

    def test_journal_sellers(self, api, vendor, ops, drain):
        journal_id = new_journal(api, vendor)
        upload(api, vendor, journal_id, jsonl(line("s-1"), split_line("s-2", 10, 1)))
        assert api.get(f"/journals/{journal_id}/sellers", headers=vendor).json()["data"] == []  # not validated yet
        seller_id = AGREEMENT["seller"]
        assert api.get(f"/journals/{journal_id}/sellers/{seller_id}", headers=vendor).status_code == 404
        drain()

        listing = api.get(f"/journals/{journal_id}/sellers", headers=vendor).json()
        assert [s["id"] for s in listing["data"]] == [seller_id]
        assert listing["$meta"]["pagination"]["total"] == 1
        seller = next(s for s in DATASET["sellers"] if s["id"] == seller_id)
        for headers in (vendor, ops):
            response = api.get(f"/journals/{journal_id}/sellers/{seller_id}", headers=headers)
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["id"], body["name"], body["externalId"]) == (seller_id, seller["name"], seller["externalId"])
            assert body["address"] == {"country": seller["address"]["country"]}
            assert body["currencies"] == seller["currencies"]
            assert body["erpLink"] == seller["erpLink"]
            assert body["journal"]["id"] == journal_id
            assert ("ledger" in body) == (headers is ops)
        other = next(s["id"] for s in DATASET["sellers"] if s["id"] != seller_id)
        missing = api.get(f"/journals/{journal_id}/sellers/{other}", headers=vendor)
        assert missing.status_code == 404
        assert api.get(f"/journals/{journal_id}/sellers/SEL-0000-0000", headers=ops).status_code == 404

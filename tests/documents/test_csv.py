"""Template-driven CSV exports (statement charges, ledger charges, invoice lines): golden files, formula
neutralisation, quoting as ``csv.writer`` does it, non-Latin text, money rounding, template errors and overrides."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from billing.db.bulk import insert_rows
from billing.db.engine import Database
from billing.db.models import Charge, Invoice, InvoiceLine
from billing.documents import exports
from billing.documents.csv_export import write_csv
from billing.documents.templating import BUNDLED_TEMPLATES, TemplateError, Templates
from billing.kit.money import format_decimal
from billing.settings import DocumentsSettings
from conftest import make_ledger
from invoices.factory import CLIENT_AGREEMENT, make_statement

GOLDEN = Path(__file__).parent / "golden"
JOURNAL = "BJO-1111-2222"
STATEMENT = "SOM-1111-2222-5010-9701-4062"
LEDGER = "LGR-1111-2222-0001"
INVOICE = "INV-5010-9701-0001"
NOW = datetime(2025, 7, 1, 8, 30)
_CHARGE_COLUMNS = tuple(Charge.__table__.columns.keys())


def charge(seq: int, **values: Any) -> dict[str, Any]:
    """A rated charge of the statement and the ledger; ids run against ``seq`` so that only the order by ``seq``
    gives file order."""
    return (
        dict.fromkeys(_CHARGE_COLUMNS)
        | {
            "id": f"CHG-1111-2222-{9999 - seq:04d}",
            "journal_id": JOURNAL,
            "ledger_id": LEDGER,
            "statement_id": STATEMENT,
            "line": seq // 100,
            "child": seq % 100,
            "seq": seq,
            "external_vendor": f"e-{seq}",
            "currency_purchase": "USD",
            "currency_sale": "USD",
            "billing_type": "Automated",
            "upload_status": "Ready",
            "processing_status": "Ready",
            "vendor_id": "ACC-3102-8586",
            "client_id": "ACC-8119-0187",
            "seller_id": "SEL-9929-6679",
            "agreement_id": "AGR-5010-9701-4062",
            "subscription_id": "SUB-5010-9701-0001",
            "item_id": "ITM-1986-0860-0001",
            "period_start": datetime(2025, 6, 1),
            "period_end": datetime(2025, 6, 30, 23, 59, 59, 999999),
            "created_at": NOW,
            "updated_at": NOW,
        }
        | values
    )


def money(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def priced(quantity: str, unit_pp: str | None, ppx1: str, unit_sp: str | None, spx1: str) -> dict[str, Any]:
    return {
        "quantity": Decimal(quantity),
        "unit_pp": money(unit_pp),
        "ppx1": Decimal(ppx1),
        "unit_sp": money(unit_sp),
        "spx1": Decimal(spx1),
    }


#: The statement's (and ledger's) charges, in insertion order (not file order).
CHARGES = [
    charge(
        400,
        description1="=SUM(A1:A9)",
        description2="@cmd",
        external_reference="+1 555 0100",
        markup=Decimal(25),
        margin=Decimal(20),
        **priced("-1", "0.004", "-0.004999", "0.005", "-0.005"),
    ),
    charge(
        100,
        description1="Cloud Suite seat",
        description2="June",
        external_reference="PO-1001",
        external_invoice="VINV-7",
        markup=Decimal("25"),
        margin=Decimal("20"),
        **priced("3", "8.4", "25.2", "10.5", "31.5"),
    ),
    charge(
        500,
        description1="Plain",
        period_start=None,
        period_end=None,
        subscription_id=None,
        item_id=None,
        **priced("0", None, "0", None, "0"),
    ),
    charge(
        300,
        description1="東京リージョン 仮想マシン",
        description2="Größe – Überstunden ☁",
        external_reference="Заказ №7",
        subscription_id=None,
        asset_id="AST-5010-9701-0003",
        **priced("1000000", "98.765432", "98765432", "123.456789", "123456789"),
    ),
    charge(
        200,
        description1='Object storage, "hot" tier',
        description2="line one\nline two",
        external_reference="PO-1002",
        **priced("0.5", "0.3", "0.15", "0.333333", "0.166667"),
    ),
    charge(
        401,
        description1="-5 credit",
        description2="\tTabbed",
        external_reference="\rCR",
        period_start=None,
        **priced("1", "0.1", "0.1", "0.125", "0.125"),
    ),
    # another statement's and ledger's charge: never exported here
    charge(50, id="CHG-1111-3333-0050", statement_id="SOM-1111-3333-5010-9701-4062", ledger_id="LGR-1111-3333-0001"),
]


def insert_charges(db: Database, rows: list[dict[str, Any]]) -> None:
    """The charges, with the ledger and the statement they belong to (a statement's or a ledger's charges are
    looked up through it)."""
    make_ledger(db, LEDGER, journal_id=JOURNAL, status="Generated")
    parties = {**CLIENT_AGREEMENT, "seller_id": "SEL-9929-6679", "journal_id": JOURNAL, "ledger_id": LEDGER}
    make_statement(db, STATEMENT, status="Generated", parties=parties)
    with db.session_scope() as session:
        insert_rows(session, Charge.__table__, rows)  # type: ignore[arg-type]


def make_invoice(db: Database, invoice_id: str, document_no: str, lines: list[dict[str, Any]]) -> None:
    with db.session_scope() as session:
        session.add(
            Invoice(
                id=invoice_id,
                document_no=document_no,
                erp_id=document_no,
                status="Issued",
                statement_id=STATEMENT,
                billing_type="Automated",
                client_id="ACC-8119-0187",
                seller_id="SEL-9929-6679",
                agreement_id="AGR-5010-9701-4062",
                document_date=datetime(2025, 7, 2),
                currency="USD",
                total_sp=Decimal(100),
                total_gt=Decimal(110),
                erp_data={},
                price={},
                audit={},
                created_at=NOW,
                updated_at=NOW,
            )
        )
        session.flush()
        for values in lines:
            session.add(
                InvoiceLine(
                    id=f"{invoice_id.replace('INV', 'INL')}-{values['line_no']:04d}",
                    invoice_id=invoice_id,
                    document_no=document_no,
                    erp_data={},
                    price={},
                    **values,
                )
            )


INVOICE_LINES = [
    {
        "line_no": 3,
        "item_no": "CS01.00003.MP",
        "description": "=cmd|' /C calc'!A0",
        "description2": None,
        "quantity": Decimal(1),
        "unit_price": Decimal("-4.2"),
        "amount": Decimal("-4.2"),
    },
    {
        "line_no": 1,
        "item_no": "CS01.00001.MP",
        "description": "Cloud Suite seat",
        "description2": "June 2025",
        "period_start": datetime(2025, 6, 1),
        "period_end": datetime(2025, 6, 30),
        "quantity": Decimal(10),
        "unit_price": Decimal("12.5"),
        "amount": Decimal(125),
    },
    {
        "line_no": 4,
        "item_no": None,
        "description": None,
        "description2": None,
        "quantity": None,
        "unit_price": None,
        "amount": None,
    },
    {
        "line_no": 2,
        "item_no": "CS01.00002.MP",
        "description": "Überstunden, Größe",
        "description2": "東京 – 仮想マシン",
        "quantity": Decimal("2.5"),
        "unit_price": Decimal("0.333333"),
        "amount": Decimal("0.833333"),
    },
]


def export(db: Database, kind: str, parent_id: str, templates: Templates | None = None) -> tuple[bytes, int]:
    out = io.BytesIO()
    with db.read_scope() as session:
        written = write_csv(kind, session, parent_id, templates or Templates(BUNDLED_TEMPLATES), out)
    return out.getvalue(), written


def rows_of(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def override(tmp_path: Path, relative: str, content: str) -> Templates:
    """A deployment's templates (``documents.templates_dir``): the bundled ones with one file replaced."""
    root = tmp_path / "templates"
    shutil.copytree(BUNDLED_TEMPLATES, root)
    (root / relative).write_text(content, encoding="utf-8")
    return Templates.from_settings(DocumentsSettings(templates_dir=root))


def template(*columns: str, bom: bool | None = None) -> str:
    """A CSV template from ``[[columns]]`` bodies."""
    head = "" if bom is None else f"bom = {str(bom).lower()}\n"
    return head + "".join(f"[[columns]]\n{body}\n" for body in columns)


class TestGoldenFiles:
    def test_statement_charges(self, db):
        insert_charges(db, CHARGES)
        data, written = export(db, "statement_charges_csv", STATEMENT)
        assert data == (GOLDEN / "statement_charges.csv").read_bytes()
        assert written == 6

    def test_ledger_charges(self, db):
        insert_charges(db, CHARGES)
        data, written = export(db, "ledger_charges_csv", LEDGER)
        assert data == (GOLDEN / "ledger_charges.csv").read_bytes()
        assert written == 6

    def test_invoice_lines(self, db):
        make_invoice(db, INVOICE, "US-SIN-1001", INVOICE_LINES)
        make_invoice(db, "INV-5010-9701-0002", "US-SIN-1002", INVOICE_LINES[:1])
        data, written = export(db, "invoice_lines_csv", INVOICE)
        assert data == (GOLDEN / "invoice_lines.csv").read_bytes()
        assert written == 4

    def test_output_does_not_depend_on_the_batch_size(self, db, monkeypatch):
        insert_charges(db, CHARGES)
        whole, _ = export(db, "ledger_charges_csv", LEDGER)
        monkeypatch.setattr(exports, "BATCH_ROWS", 2)
        monkeypatch.setattr(exports, "COPY_CHUNK_BYTES", 1)  # PostgreSQL: every row its own chunk
        assert export(db, "ledger_charges_csv", LEDGER) == (whole, 6)

    def test_an_export_stopped_midway_leaves_the_session_usable(self, db, monkeypatch):
        insert_charges(db, CHARGES)
        monkeypatch.setattr(exports, "BATCH_ROWS", 2)
        monkeypatch.setattr(exports, "COPY_CHUNK_BYTES", 1)

        class Full(io.BytesIO):
            def write(self, data: Any) -> int:
                if self.tell():
                    raise OSError("disk full")
                return super().write(data)

        with db.read_scope() as session:
            with pytest.raises(OSError, match="disk full"):
                write_csv("ledger_charges_csv", session, LEDGER, Templates(BUNDLED_TEMPLATES), Full())
            assert session.execute(select(func.count()).select_from(Charge)).scalar_one() == 7

    def test_a_parent_without_rows_gets_the_header_only(self, db):
        data, written = export(db, "statement_charges_csv", "SOM-0000-0000-0000-0000-0000")
        assert data == (GOLDEN / "statement_charges.csv").read_bytes().split(b"\r\n")[0] + b"\r\n"
        assert written == 0


class TestFormulaInjection:
    @pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
    def test_text_starting_with_a_formula_lead_is_prefixed(self, db, lead):
        insert_charges(db, [charge(100, description1=f"{lead}1+2", external_reference=f"{lead}HYPERLINK(x)")])
        [header, row] = rows_of(export(db, "statement_charges_csv", STATEMENT)[0])
        cells = dict(zip(header, row, strict=True))
        assert (cells["Description"], cells["External Reference"]) == (f"'{lead}1+2", f"'{lead}HYPERLINK(x)")

    def test_leads_inside_text_and_negative_numbers_stay_as_they_are(self, db):
        insert_charges(db, [charge(100, description1="a=b+c-d@e", **priced("-2", "1", "-2", "1.5", "-3"))])
        [header, row] = rows_of(export(db, "statement_charges_csv", STATEMENT)[0])
        cells = dict(zip(header, row, strict=True))
        assert (cells["Description"], cells["Quantity"], cells["Amount"]) == ("a=b+c-d@e", "-2", "-3.00")

    def test_only_the_values_with_a_lead_are_prefixed(self, db):
        insert_charges(db, [charge(100, description1="=1"), charge(200, description1="1 seat")])
        rows = rows_of(export(db, "statement_charges_csv", STATEMENT)[0])
        assert [row[3] for row in rows[1:]] == ["'=1", "1 seat"]


class TestQuotingAndText:
    AWKWARD = [
        'say "hi"',
        "a,b",
        "two\nlines",
        "cr\r",
        "crlf\r\nend",
        'quoted\n"line"\nfeeds',
        "\\.",
        '"',
        ",",
        " spaced ",
        "",
        "Ελληνικά, 中文, العربية, עברית, हिन्दी, 😀",
    ]

    def test_cells_are_quoted_exactly_as_csv_writer_quotes_them(self, db):
        insert_charges(db, [charge(100 + n, description1=text) for n, text in enumerate(self.AWKWARD)])
        data, _ = export(db, "statement_charges_csv", STATEMENT)
        rows = rows_of(data)
        expected = io.StringIO(newline="")
        csv.writer(expected, lineterminator="\r\n").writerows(rows)
        assert data == expected.getvalue().encode("utf-8")
        assert [row[3] for row in rows[1:]] == self.AWKWARD

    @pytest.mark.parametrize("special", ['"', ",", "\n", "\r"])
    def test_each_special_character_alone_gets_its_cell_quoted(self, db, special):
        insert_charges(db, [charge(100, description1=f"a{special}b", description2="b")])
        data, _ = export(db, "statement_charges_csv", STATEMENT)
        quoted = '"a{}b"'.format('""' if special == '"' else special)
        assert f",{quoted},b,".encode() in data

    def test_non_latin_text_round_trips_in_utf8_without_bom(self, db):
        insert_charges(db, CHARGES)
        data, _ = export(db, "statement_charges_csv", STATEMENT)
        assert data.startswith(b"Statement ID,")
        [row] = [row for row in rows_of(data) if row[1] == "CHG-1111-2222-9699"]
        assert (row[2], row[3], row[4]) == ("Заказ №7", "東京リージョン 仮想マシン", "Größe – Überstunden ☁")

    def test_a_template_can_ask_for_a_bom(self, db, tmp_path):
        templates = override(
            tmp_path, "csv/statement_charges.toml", template('header = "Größe"\nfield = "description1"', bom=True)
        )
        insert_charges(db, [charge(100, description1="Überstunden")])
        data, _ = export(db, "statement_charges_csv", STATEMENT, templates)
        assert data == "\ufeffGröße\r\nÜberstunden\r\n".encode()

    def test_a_lone_empty_cell_is_quoted_so_that_the_row_is_not_blank(self, db, tmp_path):
        templates = override(tmp_path, "csv/statement_charges.toml", template('header = "R"\nfield = "asset_id"'))
        insert_charges(db, [charge(100), charge(200, asset_id="AST-1")])
        data, written = export(db, "statement_charges_csv", STATEMENT, templates)
        assert (data, written) == (b'R\r\n""\r\nAST-1\r\n', 2)


class TestMoneyAndInstants:
    CURRENCY_TEMPLATE = template(
        'header = "Amount"\nfield = "spx1"\nformat = "money"\ncurrency = "currency_sale"',
        'header = "Exact"\nfield = "spx1"',
        'header = "Start"\nfield = "period_end"',
        'header = "Day"\nfield = "period_end"\nformat = "date"',
    )
    AMOUNTS = ["0.5", "-0.5", "0.125", "-0.125", "0.0049", "2.0005", "-2.0005", "1234567.891234", "-0.000001", "7"]

    @pytest.mark.parametrize("currencies", [["JPY"], ["BHD"], ["USD"], ["USD", "JPY", "BHD", "EUR"]])
    def test_money_is_rounded_half_away_from_zero_to_the_currency_minor_units(self, db, tmp_path, currencies):
        places = {"JPY": 0, "BHD": 3, "USD": 2, "EUR": 2}
        templates = override(tmp_path, "csv/statement_charges.toml", self.CURRENCY_TEMPLATE)
        rows = [
            charge(100 + n, spx1=Decimal(amount), currency_sale=currencies[n % len(currencies)])
            for n, amount in enumerate(self.AMOUNTS)
        ]
        insert_charges(db, rows)
        [_, *cells] = rows_of(export(db, "statement_charges_csv", STATEMENT, templates)[0])
        expected = []
        for row in rows:
            rounded = row["spx1"].quantize(Decimal(1).scaleb(-places[row["currency_sale"]]), ROUND_HALF_UP)
            expected.append(f"{abs(rounded) if rounded == 0 else rounded:f}")
        assert [cell[0] for cell in cells] == expected
        assert [cell[1] for cell in cells] == [format_decimal(Decimal(amount)) for amount in self.AMOUNTS]

    def test_instants_are_iso_utc_with_milliseconds_or_dates(self, db, tmp_path):
        templates = override(tmp_path, "csv/statement_charges.toml", self.CURRENCY_TEMPLATE)
        insert_charges(
            db, [charge(100, period_end=datetime(2025, 6, 30, 23, 59, 59, 999999)), charge(200, period_end=None)]
        )
        [_, first, second] = rows_of(export(db, "statement_charges_csv", STATEMENT, templates)[0])
        assert first[2:] == ["2025-06-30T23:59:59.999Z", "2025-06-30"]
        assert second[2:] == ["", ""]

    def test_money_without_a_currency_is_written_exactly(self, db, tmp_path):
        templates = override(tmp_path, "csv/statement_charges.toml", self.CURRENCY_TEMPLATE)
        insert_charges(db, [charge(100, spx1=Decimal("0.125"), currency_sale=None), charge(200, spx1=None)])
        [_, first, second] = rows_of(export(db, "statement_charges_csv", STATEMENT, templates)[0])
        assert (first[:2], second[:2]) == (["0.125", "0.125"], ["", ""])


class TestTemplates:
    def test_a_templates_dir_override_changes_headers_and_columns(self, db, tmp_path):
        templates = override(
            tmp_path,
            "csv/statement_charges.toml",
            template(
                'header = "Belastungs-ID"\nfield = "id"',
                'header = "Betrag"\nfield = "spx1"\nformat = "money"\ncurrency = "currency_sale"',
            ),
        )
        insert_charges(db, CHARGES)
        data, _ = export(db, "statement_charges_csv", STATEMENT, templates)
        assert data.split(b"\r\n")[:3] == [
            b"Belastungs-ID,Betrag",
            b"CHG-1111-2222-9899,31.50",
            b"CHG-1111-2222-9799,0.17",
        ]

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ('header = "Amount"\nfield = "amount_sale"', "column 2 ('Amount'): unknown field 'amount_sale'"),
            ('header = "Day"\nfield = "description1"\nformat = "date"', "format 'date' does not apply"),
            ('header = "Amount"\nfield = "spx1"\nformat = "money"', "currency is required with format 'money'"),
            ('header = "Amount"\nfield = "spx1"\nformat = "money"\ncurrency = "quantity"', "not a text field"),
            ('header = "Amount"\nfield = "spx1"\nwidth = 12', "unknown keys width"),
            ('field = "spx1"', "header must be a non-empty string"),
        ],
    )
    def test_an_invalid_column_is_reported_with_the_file_and_the_column(self, db, tmp_path, body, message):
        templates = override(tmp_path, "csv/ledger_charges.toml", template('header = "ID"\nfield = "id"', body))
        with pytest.raises(TemplateError) as raised:
            export(db, "ledger_charges_csv", LEDGER, templates)
        assert str(templates.root / "csv/ledger_charges.toml") in str(raised.value)
        assert message in str(raised.value)

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("bom = false\n", "needs at least one [[columns]] table"),
            ('bom = "yes"\n[[columns]]\nheader = "ID"\nfield = "id"\n', "bom must be true or false"),
            ('delimiter = ";"\n[[columns]]\nheader = "ID"\nfield = "id"\n', "unknown keys delimiter"),
            ("[[columns]\n", "is not valid TOML"),
        ],
    )
    def test_an_invalid_template_is_reported_with_its_file(self, db, tmp_path, content, message):
        templates = override(tmp_path, "csv/invoice_lines.toml", content)
        with pytest.raises(TemplateError, match=r"invoice_lines\.toml") as raised:
            export(db, "invoice_lines_csv", INVOICE, templates)
        assert message in str(raised.value)

    def test_a_missing_template_is_reported(self, db, tmp_path):
        templates = override(tmp_path, "csv/invoice_lines.toml", "")
        (templates.root / "csv/invoice_lines.toml").unlink()
        with pytest.raises(TemplateError, match=r"csv/invoice_lines\.toml is missing"):
            export(db, "invoice_lines_csv", INVOICE, templates)

    def test_an_unknown_kind_is_refused(self, db):
        with pytest.raises(ValueError, match="Unknown CSV export 'charges_xlsx'"):
            export(db, "charges_xlsx", STATEMENT)

"""PDF renderers: invoices, credit memos and statements read back with pypdf (no database: views are built here)."""

from __future__ import annotations

import io
import re
import shutil
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from billing.documents.fonts import load_face
from billing.documents.pdf import fit, render_posted_document, render_statement, wrap
from billing.documents.templating import BUNDLED_TEMPLATES, TemplateError, Templates
from billing.documents.views import ChargeLine, DocumentLine, Party, PostedDocumentView, StatementView

SELLER = Party("Northwind Cloud Services GmbH", ("Hauptstraße 12", "10115 Berlin", "Germany"), tax_id="DE811907980")
CLIENT = Party("Contoso Trading B.V.", ("Keizersgracht 123", "1015 CJ Amsterdam", "Netherlands"), reference="ACC-7")
CHARGE_HEADER = "Charge Description Period Quantity Unit price Amount"
MONEY = r"(-?[\d,]+\.\d{2})"


@pytest.fixture(scope="module")
def templates() -> Templates:
    return Templates(BUNDLED_TEMPLATES)


def pages_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def decimal(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def invoice(**changes: Any) -> PostedDocumentView:
    lines = tuple(
        DocumentLine(
            number=n,
            description=f"Seat licence tier {n}",
            quantity=Decimal(n),
            unit_price=Decimal("12.50"),
            amount=Decimal(n) * Decimal("12.50") + Decimal("1000"),
            period="2026-10-01 – 2026-10-31",
        )
        for n in range(1, 6)
    )
    net = sum((line.amount for line in lines), Decimal(0))
    view = PostedDocumentView(
        kind="invoice",
        id="INV-1000-0001",
        number="PSI-100001",
        status="Issued",
        currency="EUR",
        seller=SELLER,
        bill_to=CLIENT,
        sell_to=None,
        ship_to=Party("Contoso Warehouse", ("Havenstraat 9", "3011 Rotterdam")),
        document_date=date(2026, 11, 1),
        due_date=date(2026, 12, 1),
        net=net,
        tax=Decimal("1096.88"),
        gross=net + Decimal("1096.88"),
        balance_due=Decimal("2000.00"),
        lines=lines,
        statement_id="SOM-1111-2222-3333",
        agreement_id="AGR-1234-5678-9012",
        external_document_no="EXT-4711",
        payment_terms="30 days net",
    )
    return replace(view, **changes)


class _Charge(ChargeLine):
    """A ChargeLine that can be weakly referenced, to see whether the renderer keeps charges alive."""


class ChargeStream:
    """``StatementView.charges``: counts its calls and records charges still alive 100 charges later."""

    def __init__(self, count: int, long_description_at: int | None = None) -> None:
        self.count, self.long_description_at = count, long_description_at
        self.calls = 0
        self.kept_alive: list[int] = []

    @staticmethod
    def amount(n: int) -> Decimal:
        return Decimal(n % 97 + 1) * Decimal("1.25")

    def __call__(self) -> Iterator[ChargeLine]:
        self.calls += 1
        seen: list[weakref.ref[_Charge]] = []
        for n in range(self.count):
            description = f"Compute usage {n % 13}"
            if n == self.long_description_at:
                description = "An exceptionally long charge description " * 10
            charge = _Charge(
                id=f"CHG-2589-1434-{n:07d}",
                description=description,
                period_start=datetime(2026, 10, 1),
                period_end=datetime(2026, 10, 31, 23, 59, 59),
                quantity=Decimal(n % 97 + 1),
                unit_price=Decimal("1.25"),
                amount=self.amount(n),
            )
            seen.append(weakref.ref(charge))
            if n >= 100 and seen[n - 100]() is not None:
                self.kept_alive.append(n - 100)
            yield charge
            del charge


def statement(stream: ChargeStream) -> StatementView:
    return StatementView(
        id="SOM-2589-1434-0001",
        name="October 2026 usage",
        type="Debit",
        billing_type="Usage",
        status="Generated",
        currency="USD",
        seller=SELLER,
        client=CLIENT,
        agreement="AGR-1234-5678-9012",
        agreement_name="Enterprise agreement",
        vendor="VND-1111-2222",
        product="PRD-1111-2222-3333",
        period_start=datetime(2026, 10, 1),
        period_end=datetime(2026, 10, 31),
        total=sum((stream.amount(n) for n in range(stream.count)), Decimal(0)),
        total_tax=None,
        total_gross=None,
        charge_count=stream.count,
        charges=stream,
    )


class TestInvoicePdf:
    def test_shows_number_parties_dates_and_references(self, templates: Templates) -> None:
        view = invoice()
        [text] = pages_text(render_posted_document(view, templates))
        assert text.startswith("Invoice PSI-100001")
        for line in (SELLER.name, *SELLER.lines, CLIENT.name, *CLIENT.lines, "Contoso Warehouse", "Havenstraat 9"):
            assert line in text
        assert "Tax ID: DE811907980" in text
        for label, value in [
            ("Invoice date", "Nov 1, 2026"),
            ("Due date", "Dec 1, 2026"),
            ("Statement", "SOM-1111-2222-3333"),
            ("External doc. no.", "EXT-4711"),
            ("Agreement", "AGR-1234-5678-9012"),
            ("Payment terms", "30 days net"),
        ]:
            assert f"{label} {value}" in text
        assert "Sell to" not in text  # no sell-to party on this invoice
        assert "Page 1 of 1" in text

    def test_shows_every_line_and_the_totals_of_the_view(self, templates: Templates) -> None:
        view = invoice()
        [text] = pages_text(render_posted_document(view, templates))
        for line in view.lines:
            row = f"{line.number} {line.description} {line.period} {line.quantity} 12.50 "
            assert row + templates.amount(line.amount, "EUR") in text
        assert f"Net amount {templates.money(view.net, 'EUR')}" in text
        assert f"Tax {templates.money(view.tax, 'EUR')}" in text
        assert f"Total {templates.money(view.gross, 'EUR')}" in text
        assert f"Balance due {templates.money(view.balance_due, 'EUR')}" in text
        assert templates.money(view.gross, "EUR") == "€6,284.38"

    def test_amounts_take_the_minor_units_of_the_currency(self, templates: Templates) -> None:
        view = invoice(currency="JPY", tax=Decimal("1000"), gross=Decimal("6187.5"), balance_due=None)
        [text] = pages_text(render_posted_document(view, templates))
        assert "Net amount ¥5,188" in text  # 5,187.50 rounded to whole yen (half to even)
        assert "Total ¥6,188" in text and "Balance due" not in text
        assert "1,012.50" not in text and "1,012" in text  # line 1's amount, without minor units

    def test_a_paid_invoice_is_marked_paid(self, templates: Templates) -> None:
        [paid] = pages_text(render_posted_document(invoice(status="Paid"), templates))
        [issued] = pages_text(render_posted_document(invoice(), templates))
        assert "PAID" in paid
        assert "PAID" not in issued

    def test_a_long_invoice_repeats_the_header_and_carries_the_total_forward(self, templates: Templates) -> None:
        lines = tuple(
            DocumentLine(n, f"Line {n:03d}", Decimal(1), Decimal("10.10"), Decimal("10.10")) for n in range(1, 121)
        )
        view = invoice(lines=lines, net=Decimal("1212.00"))
        texts = pages_text(render_posted_document(view, templates))
        assert len(texts) >= 3
        printed = 0
        for number, text in enumerate(texts, start=1):
            assert f"Page {number} of {len(texts)}" in text
            assert "# Description Period Quantity Unit price Amount" in text
            if number > 1:
                assert text.startswith("Invoice PSI-100001 (continued)\n# Description")
                assert f"Carried forward {templates.amount(Decimal('10.10') * printed, 'EUR')}" in text
            printed += len(re.findall(r"^\d+ Line \d{3} ", text, re.MULTILINE))
        assert printed == 120
        assert f"Net amount {templates.money(Decimal('1212.00'), 'EUR')}" in texts[-1]

    def test_long_descriptions_wrap_to_two_lines_and_are_cut_with_an_ellipsis(self, templates: Templates) -> None:
        long = "Annual enterprise support subscription including premium onboarding " * 4
        line = DocumentLine(1, long, Decimal(1), Decimal(5), Decimal(5))
        [text] = pages_text(render_posted_document(invoice(lines=(line,)), templates))
        first, second, third = text.split("Unit price Amount\n", 1)[1].splitlines()[:3]
        assert first.startswith("1 Annual enterprise support") and second.endswith("…")
        assert long.startswith(f"{first[2:]} {second[:-1]}")  # two lines of it, broken at a space
        assert third == "1 5.00 5.00"  # then the row's other columns

    def test_an_unknown_kind_is_refused(self, templates: Templates) -> None:
        with pytest.raises(ValueError, match="receipt"):
            render_posted_document(invoice(kind="receipt"), templates)


class TestCreditMemoPdf:
    def test_has_its_own_wording(self, templates: Templates) -> None:
        view = invoice(kind="credit_memo", id="CRD-1000-0001", balance_due=None, applies_to="PSI-100000")
        [text] = pages_text(render_posted_document(view, templates))
        assert text.startswith("Credit memo PSI-100001")
        assert "Applies to invoice PSI-100000" in text
        assert "This credit memo is applied to invoice PSI-100000." in text
        assert f"Total credited {templates.money(view.gross, 'EUR')}" in text
        assert "Balance due" not in text and "Invoice PSI" not in text


class TestNonLatinText:
    def test_every_script_survives_the_round_trip(self, templates: Templates) -> None:
        words = ["Łódź", "São Paulo", "東京", "서울", "Αθήνα", "Москва"]
        bill_to = Party(
            "東京 Trading 株式会社", ("서울 지사", "Αθήνα 105 57", "Москва, ул. Тверская 1", "Łódź / São Paulo")
        )
        lines = tuple(
            DocumentLine(n, f"Service {word}", Decimal(1), Decimal(1), Decimal(1)) for n, word in enumerate(words)
        )
        data = render_posted_document(invoice(bill_to=bill_to, lines=lines), templates)
        [text] = pages_text(data)
        for word in words:
            assert f"Service {word}" in text
        for line in bill_to.lines:
            assert line in text
        assert "東京 Trading 株式会社" in text
        assert b"/HeiseiKakuGo-W5" in data and b"/HYGothic-Medium" in data  # drawn with the CJK fonts

    def test_runs_split_by_glyph_coverage(self) -> None:
        face = load_face(BUNDLED_TEMPLATES / "fonts/DejaVuSans.ttf")
        runs = face.runs("Tokyo 東京 Seoul 서울 Αθήνα")
        assert [font for font, _ in runs] == [face.name, "HeiseiKakuGo-W5", face.name, "HYGothic-Medium", face.name]
        assert "".join(part for _, part in runs) == "Tokyo 東京 Seoul 서울 Αθήνα"


class TestTextFitting:
    TEXTS = ["Short", "A rather long description of a usage charge in a region " * 3, "東京都千代田区丸の内" * 6]

    @pytest.mark.parametrize("text", TEXTS)
    def test_fit_never_exceeds_the_width(self, text: str) -> None:
        face = load_face(BUNDLED_TEMPLATES / "fonts/DejaVuSans.ttf")
        fitted, width = fit(text, 80, face, 8)
        assert width <= 80 and face.width(fitted, 8) == width
        assert fitted == text or (fitted.endswith("…") and text.startswith(fitted[:-1]))

    @pytest.mark.parametrize("text", TEXTS)
    def test_wrap_keeps_to_the_width_and_the_line_limit(self, text: str) -> None:
        face = load_face(BUNDLED_TEMPLATES / "fonts/DejaVuSans.ttf")
        lines = wrap(text, 80, face, 8, 3)
        assert 1 <= len(lines) <= 3
        assert all(face.width(line, 8) <= 80 for line in lines)
        assert "".join(lines).replace(" ", "").rstrip("…") in text.replace(" ", "")


STATEMENT_CHARGES = 10_000


@pytest.fixture(scope="module")
def rendered(templates: Templates) -> tuple[StatementView, ChargeStream, list[str]]:
    """A 10,000-charge statement (one charge with a very long description), rendered once for the class below."""
    stream = ChargeStream(STATEMENT_CHARGES, long_description_at=7)
    view = statement(stream)
    return view, stream, pages_text(render_statement(view, templates))


class TestStatementPdf:
    def test_the_summary_page_shows_the_statement(self, rendered, templates: Templates) -> None:
        view, _, texts = rendered
        summary = texts[0]
        assert summary.startswith("Statement SOM-2589-1434-0001\nOctober 2026 usage")
        for line in (SELLER.name, *SELLER.lines, CLIENT.name, *CLIENT.lines):
            assert line in summary
        for label, value in [
            ("Type", "Debit"),
            ("Agreement", "AGR-1234-5678-9012"),
            ("Period", "Oct 1, 2026 – Oct 31, 2026"),
            ("Currency", "USD"),
            ("Charges", "10,000"),
            ("Total", templates.money(view.total, "USD")),
        ]:
            assert f"{label} {value}" in summary
        assert "Enterprise agreement" in summary
        assert CHARGE_HEADER not in summary and "CHG-" not in summary

    def test_every_charge_is_printed_once_streamed_once(self, rendered) -> None:
        _, stream, texts = rendered
        numbers = [int(n) for text in texts for n in re.findall(r"CHG-2589-1434-(\d{7})", text)]
        assert numbers == list(range(STATEMENT_CHARGES))
        assert stream.calls == 1
        assert stream.kept_alive == []  # no charge outlived the next hundred: nothing was collected in a list

    def test_every_page_has_its_number_and_every_charges_page_the_headers(self, rendered) -> None:
        _, _, texts = rendered
        assert len(texts) > 100
        for number, text in enumerate(texts, start=1):
            assert f"Page {number} of {len(texts)}" in text
            if number > 1:
                assert text.startswith(
                    "Statement SOM-2589-1434-0001 · Contoso Trading B.V. · charges\n" + CHARGE_HEADER
                )

    def test_running_totals_carry_the_previous_pages(self, rendered, templates: Templates) -> None:
        view, stream, texts = rendered
        before = Decimal(0)  # the charges of the pages so far
        for number, text in enumerate(texts[1:], start=2):
            on_page = sum((stream.amount(int(n)) for n in re.findall(r"CHG-2589-1434-(\d{7})", text)), Decimal(0))
            carried = [decimal(v) for v in re.findall(rf"Carried forward {MONEY}", text)]
            subtotals = [decimal(v) for v in re.findall(rf"Subtotal this page {MONEY}", text)]
            if number == 2:  # the first charges page: nothing to carry in
                assert (carried, subtotals) == ([on_page], [on_page])
            elif number < len(texts):
                assert (carried, subtotals) == ([before, before + on_page], [on_page]), f"page {number}"
            else:
                assert (carried, subtotals) == ([before], [])
            before += on_page
        assert before == view.total
        [total] = re.findall(rf"\nTotal {MONEY}\n", texts[-1])
        assert total == templates.amount(view.total, "USD")

    def test_a_long_description_is_cut_to_its_column(self, rendered) -> None:
        _, _, texts = rendered
        row = next(line for line in texts[1].splitlines() if line.startswith("CHG-2589-1434-0000007 "))
        assert "An exceptionally long" in row and "…" in row
        assert "An exceptionally long charge description " * 2 not in row
        assert row.endswith(" Oct 1, 2026 – Oct 31, 2026 8 1.25 10.00")  # the other columns are intact


class TestReproducible:
    def test_the_same_inputs_give_the_same_bytes(self, templates: Templates) -> None:
        first = render_posted_document(invoice(), templates)
        render_posted_document(invoice(bill_to=Party("東京 Αθήνα Москва", ())), templates)  # other subsets between
        assert render_posted_document(invoice(), templates) == first
        assert render_posted_document(invoice(), Templates(BUNDLED_TEMPLATES)) == first
        assert render_posted_document(invoice(number="PSI-100002"), templates) != first

    def test_threads_rendering_at_once_give_the_same_bytes(self, templates: Templates) -> None:
        views = [invoice(number=f"PSI-2{n:05d}", bill_to=Party(f"Client {n} 東京", ())) for n in range(40)]
        expected = [render_posted_document(view, templates) for view in views]
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert list(pool.map(lambda view: render_posted_document(view, templates), views)) == expected

    def test_a_statement_renders_to_the_same_bytes_twice(self, templates: Templates) -> None:
        first = render_statement(statement(ChargeStream(300)), templates)
        assert render_statement(statement(ChargeStream(300)), templates) == first
        assert b"CreationDate (D:20000101000000+00'00')" in first  # invariant: no timestamp of the run


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(BUNDLED_TEMPLATES, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


class TestTemplatesDirectory:
    def test_changed_wording_changes_the_output_and_the_version(self, templates: Templates, copy: Path) -> None:
        assert Templates(copy).version == templates.version  # a verbatim copy
        assert render_posted_document(invoice(), Templates(copy)) == render_posted_document(invoice(), templates)
        edit(
            copy / "documents/invoice.toml",
            'title = "Invoice {{ view.number }}"',
            'title = "Rechnung {{ view.number }}"',
        )
        custom = Templates(copy)
        assert custom.version != templates.version
        [text] = pages_text(render_posted_document(invoice(), custom))
        assert text.startswith("Rechnung PSI-100001")
        [bundled] = pages_text(render_posted_document(invoice(), templates))
        assert bundled.startswith("Invoice PSI-100001")

    @pytest.mark.parametrize(
        ("old", "new", "key"),
        [
            ("[page]", "[page\n", "not valid TOML"),
            ('size = "A4"', 'size = "A4"\ncolour = "red"', "page.colour: unknown key"),
            ('format = "amount"', 'format = "euros"', "table.column[4].format"),
            ('font = "fonts/DejaVuSans.ttf"', 'font = "fonts/Missing.ttf"', "page.font"),
            ('title = "Invoice {{ view.number }}"', 'title = "Invoice {{ view.number "', "header.title"),
            ('["Due date", "{{ view.due_date | day }}"]', '["Due date", "{% if %}"]', "band[0].box[1].meta[2]"),
            ("width = 0.33\nlines = 2", "width = 0.9\nlines = 2", "table.column: the columns' widths add up"),
        ],
    )
    def test_a_broken_layout_names_the_file_and_key(self, copy: Path, old: str, new: str, key: str) -> None:
        edit(copy / "documents/invoice.toml", old, new)
        with pytest.raises(TemplateError, match=r"documents/invoice\.toml") as raised:
            render_posted_document(invoice(), Templates(copy))
        assert key in str(raised.value)

    def test_an_expression_failing_while_rendering_names_the_file_and_key(self, copy: Path) -> None:
        edit(copy / "documents/invoice.toml", 'value = "line.description"', 'value = "line.no_such_field"')
        with pytest.raises(TemplateError, match=r"documents/invoice\.toml: table\.column\[1\]\.value"):
            render_posted_document(invoice(), Templates(copy))

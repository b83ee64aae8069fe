"""PDF renderings of invoices, credit memos and statements, drawn on the ReportLab canvas from a ``Layout``.

One engine serves every document: a first page with the title and the layout's bands, the lines table (its
header repeated on every page; with a ``sum`` column, "Subtotal" / "Carried forward" rows at the foot of a page
and "Carried forward" at the head of the next), the totals and the closing bands. "Page n of N" is a form
XObject per page, filled in once N is known. The output is byte-reproducible: invariant canvas, metadata from
the inputs only.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from reportlab.lib.colors import Color, black
from reportlab.lib.rl_accel import escapePDF, fp_str
from reportlab.pdfbase.pdfmetrics import getFont
from reportlab.pdfgen.canvas import Canvas

from billing.documents.fonts import Face
from billing.documents.layout import Band, Box, Layout, MetaBox, PartyBox, TextBox, load_layout
from billing.documents.templating import Templates
from billing.documents.views import PostedDocumentView, StatementView

CREATOR = "Marketplace Billing"
ELLIPSIS = "…"
GREY = Color(0.4, 0.4, 0.4)
SHADE = Color(0.92, 0.92, 0.92)
RULE = Color(0.6, 0.6, 0.6)
STAMP = Color(0.75, 0.1, 0.1)
BOX_GAP = 10.0  # between boxes of a band
CELL_PAD = 3.0  # left and right inside a table cell
TOTALS_WIDTH = 0.45  # of the content width, at the right

#: A printed line of a box: its font size and its (x offset, face, text) segments.
_Line = tuple[float, tuple[tuple[float, Face, str], ...]]


def render_posted_document(view: PostedDocumentView, templates: Templates) -> bytes:
    """An invoice or a credit memo (``view.kind``), laid out by ``documents/<kind>.toml``."""
    if view.kind not in ("invoice", "credit_memo"):
        raise ValueError(f"No PDF layout for a posted document of kind {view.kind!r}.")
    return _Renderer(load_layout(templates, view.kind), templates, view, view.currency).render(view.lines)


def render_statement(view: StatementView, templates: Templates) -> bytes:
    """A statement: its summary, then its charges (streamed once from ``view.charges()``) over as many pages as
    they need."""
    return _Renderer(load_layout(templates, "statement"), templates, view, view.currency).render(view.charges())


class _Pen:
    """Text on the current page or form, written as PDF text operators into one text object (``addLiteral``):
    ReportLab's ``drawString`` costs a BT/ET pair, a font switch and a second width measurement per string."""

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.doc = canvas._doc
        self.ops: list[str] = []
        self._font: tuple[str, int, float] | None = None  # font name, subset, size
        self._color: Color | None = None

    def begin(self) -> None:
        self.ops = ["BT"]
        self._font = self._color = None

    def flush(self) -> None:
        self.ops.append("ET")
        self.canvas.addLiteral("\n".join(self.ops))
        self.ops = []

    def draw(self, x: float, y: float, text: str, face: Face, size: float, color: Color = black) -> None:
        if not text:
            return
        ops, doc = self.ops, self.doc
        ops.append(f"1 0 0 1 {fp_str(x, y)} Tm")
        if color is not self._color:
            ops.append(f"{fp_str(color.red, color.green, color.blue)} rg")
            self._color = color
        for name, part in face.runs(text):
            font = getFont(name)
            if font._dynamicFont:  # TrueType: one or more 8-bit subsets
                for subset, data in font.splitString(part, doc):
                    if (name, subset, size) != self._font:
                        ops.append(f"{font.getSubsetInternalName(subset, doc)} {fp_str(size)} Tf")
                        self._font = (name, subset, size)
                    ops.append(f"({escapePDF(data)}) Tj")
            else:  # a CID font
                if (name, 0, size) != self._font:
                    ops.append(f"{doc.getInternalFontName(name)} {fp_str(size)} Tf")
                    self._font = (name, 0, size)
                ops.append(f"({font.formatForPdf(part)}) Tj")

    def aligned(self, x: float, width: float, y: float, text: str, face: Face, size: float, **style: Any) -> None:
        """``text`` fitted into [x, x + width] (truncated with an ellipsis) and aligned there by ``style``."""
        fitted, used = fit(text, width, face, size)
        align = style.pop("align", "left")
        if align == "right":
            x += width - used
        elif align == "center":
            x += (width - used) / 2
        self.draw(x, y, fitted, face, size, **style)


def fit(text: str, width: float, face: Face, size: float) -> tuple[str, float]:
    """``text`` cut to ``width`` points (with an ellipsis when cut) and its width."""
    used = face.width(text, size)
    if used <= width:
        return text, used
    low, high = 0, len(text)  # the longest prefix that fits with the ellipsis: binary search on measured widths
    while low < high:
        middle = (low + high + 1) // 2
        if face.width(text[:middle].rstrip() + ELLIPSIS, size) <= width:
            low = middle
        else:
            high = middle - 1
    cut = text[:low].rstrip() + ELLIPSIS if low else ""
    return cut, face.width(cut, size)


def wrap(text: str, width: float, face: Face, size: float, max_lines: int) -> list[str]:
    """``text`` broken into at most ``max_lines`` lines of ``width`` points: at spaces where possible, inside a
    word otherwise (e.g. CJK text); the last line is truncated with an ellipsis."""
    lines: list[str] = []
    rest = text
    while len(lines) < max_lines - 1 and face.width(rest, size) > width:
        low, high = 1, len(rest)  # the longest prefix that fits (at least one character, to make progress)
        while low < high:
            middle = (low + high + 1) // 2
            if face.width(rest[:middle], size) <= width:
                low = middle
            else:
                high = middle - 1
        space = rest.rfind(" ", 0, low + 1)
        cut = space if space > 0 else low
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    lines.append(fit(rest, width, face, size)[0])
    return lines


class _Renderer:
    def __init__(self, layout: Layout, templates: Templates, view: Any, currency: str) -> None:
        self.layout, self.view, self.page = layout, view, layout.page
        self.buffer = io.BytesIO()
        self.canvas = Canvas(
            self.buffer,
            pagesize=(self.page.width, self.page.height),
            invariant=1,
            pageCompression=1,
            initialFontName=self.page.regular.name,
            initialFontSize=self.page.font_size,
        )
        self.pen = _Pen(self.canvas)
        self.formats: dict[str, Callable[[Any], str]] = {
            "text": lambda value: "" if value is None else str(value),
            "money": lambda value: templates.money(value, currency),
            "amount": lambda value: templates.amount(value, currency),
            "quantity": templates.amount,
            "day": templates.day,
        }
        self.title = layout.title.render(view=view)
        self.pages = 0
        self.y = 0.0

    def render(self, rows: Iterable[Any]) -> bytes:
        self.canvas.setTitle(self.title)
        self.canvas.setAuthor(self.view.seller.name)
        self.canvas.setCreator(CREATOR)
        self._start_page()
        for band in self.layout.bands:
            self._band(band)
        _Table(self, rows).draw()
        self._totals()
        for band in self.layout.closing:
            self._band(band)
        self._finish_page()
        self._page_labels()
        self.canvas.save()
        return self.buffer.getvalue()

    # --- pages --------------------------------------------------------------------------------------------
    def lh(self, size: float) -> float:
        return size * self.page.line_height

    def new_page(self) -> None:
        self._finish_page()
        self._start_page()

    def fits(self, height: float) -> bool:
        return self.y - height >= self.page.bottom

    def _start_page(self) -> None:
        self.pages += 1
        self.pen.begin()
        page, top = self.page, self.page.height - self.page.top
        if self.pages == 1:
            size = page.title_font_size
            stamp = self.layout.stamp.render(view=self.view)
            title_width = page.content_width * (2 / 3 if stamp else 1)
            self.pen.aligned(page.left, title_width, top - size, self.title, page.bold, size)
            if stamp:
                self._stamp(stamp, top, size)
            self.y = top - self.lh(size) - 8
        else:
            size = page.font_size
            text = self.layout.continued.render(view=self.view)
            self.pen.aligned(page.left, page.content_width, top - size, text, page.bold, size)
            self.y = top - self.lh(size) - 6

    def _stamp(self, text: str, top: float, size: float) -> None:
        page = self.page
        text, width = fit(text, page.content_width / 3, page.bold, size)
        x = page.width - page.right - width - 6
        self.canvas.setStrokeColor(STAMP)
        self.canvas.setLineWidth(1.5)
        self.canvas.rect(x - 6, top - size * 1.25, width + 12, size * 1.5)
        self.pen.draw(x, top - size, text, page.bold, size, STAMP)

    def _finish_page(self) -> None:
        page = self.page
        size = page.small_font_size
        y = page.bottom / 2
        footer = self.layout.footer.render(view=self.view)
        self.pen.aligned(page.left, page.content_width * 0.7, y, footer, page.regular, size, color=GREY)
        self.pen.flush()
        self.canvas.doForm(f"pageLabel{self.pages}")
        self.canvas.showPage()

    def _page_labels(self) -> None:
        page = self.page
        for number in range(1, self.pages + 1):
            self.canvas.beginForm(f"pageLabel{number}")
            self.pen.begin()
            label = self.layout.page_label.render(view=self.view, page=number, pages=self.pages)
            self.pen.aligned(
                page.left + page.content_width * 0.7,
                page.content_width * 0.3,
                page.bottom / 2,
                label,
                page.regular,
                page.small_font_size,
                align="right",
                color=GREY,
            )
            self.pen.flush()
            self.canvas.endForm()

    # --- bands and totals ---------------------------------------------------------------------------------
    def _band(self, band: Band) -> None:
        laid_out = [self._box_lines(box) for box in band.boxes]
        if not any(laid_out):
            return
        height = max(sum(self.lh(size) for size, _ in lines) for lines in laid_out)
        if not self.fits(height):
            self.new_page()
        x = self.page.left
        for box, lines in zip(band.boxes, laid_out, strict=True):
            y = self.y
            for size, segments in lines:
                y -= self.lh(size)
                for offset, face, text in segments:
                    self.pen.draw(x + offset, y + (self.lh(size) - size) / 2 + 1, text, face, size)
            x += box.width
        self.y -= height + band.space_after

    def _box_lines(self, box: Box) -> list[_Line]:
        page = self.page
        width = box.width - BOX_GAP
        if isinstance(box, TextBox):
            size = {"normal": page.font_size, "small": page.small_font_size, "title": page.title_font_size}[box.size]
            face = page.bold if box.bold else page.regular
            lines: list[_Line] = []
            for line in box.text.render(view=self.view).splitlines():
                for part in wrap(line.strip(), width, face, size, box.max_lines - len(lines)):
                    used = face.width(part, size)
                    offset = {"left": 0.0, "right": width - used, "center": (width - used) / 2}[box.align]
                    lines.append((size, ((offset, face, part),)))
                if len(lines) >= box.max_lines:
                    break
            return lines
        if isinstance(box, PartyBox):
            party = box.party(view=self.view)
            if party is None:
                return []
            small = page.small_font_size
            lines = [(small, ((0.0, page.bold, fit(box.label, width, page.bold, small)[0]),))]
            for index, line in enumerate(box.text.render(view=self.view, party=party).splitlines()[: box.max_lines]):
                face = page.bold if index == 0 else page.regular
                lines.append((page.font_size, ((0.0, face, fit(line.strip(), width, face, page.font_size)[0]),)))
            return lines
        return self._meta_lines(box, width)

    def _meta_lines(self, box: MetaBox, width: float) -> list[_Line]:
        """A label and its value (wrapped to up to three lines) per row; rows whose value renders empty are left
        out."""
        page, size = self.page, self.page.font_size
        lines: list[_Line] = []
        for label, text in zip(box.labels, box.values.render(view=self.view), strict=True):
            if not text:
                continue
            parts = wrap(text, width - box.label_width, page.regular, size, 3)
            head = fit(label, box.label_width - 4, page.bold, size)[0]
            lines.append((size, ((0.0, page.bold, head), (box.label_width, page.regular, parts[0]))))
            lines.extend((size, ((box.label_width, page.regular, part),)) for part in parts[1:])
        return lines

    def _totals(self) -> None:
        page, size = self.page, self.page.font_size
        values = self.layout.total_values.render(view=self.view)
        rows = [(row, value) for row, value in zip(self.layout.totals, values, strict=True) if value]
        if not rows:
            return
        if not self.fits(self.lh(size) * len(rows) + 6):
            self.new_page()
        self.y -= 6
        width = page.content_width * TOTALS_WIDTH
        x = page.width - page.right - width
        for row, value in rows:
            face = page.bold if row.bold else page.regular
            if row.rule:
                self.rule(x, self.y, width)
            self.y -= self.lh(size)
            baseline = self.y + (self.lh(size) - size) / 2 + 1
            self.pen.aligned(x, width * 0.55, baseline, row.label, face, size)
            self.pen.aligned(x + width * 0.55, width * 0.45 - CELL_PAD, baseline, value, face, size, align="right")
        self.y -= 12

    def rule(self, x: float, y: float, width: float) -> None:
        self.canvas.setStrokeColor(RULE)
        self.canvas.setLineWidth(0.5)
        self.canvas.line(x, y, x + width, y)


class _Table:
    """The lines table: rows streamed once, page breaks with the header repeated and the running totals."""

    def __init__(self, renderer: _Renderer, rows: Iterable[Any]) -> None:
        self.r = renderer
        self.rows = rows
        self.table = renderer.layout.table
        self.size = self.table.font_size
        self.lh = renderer.lh(self.size)
        self.sum_column = self.table.sum_column
        self.running = Decimal(0)
        self.page_sum = Decimal(0)
        page = renderer.page
        self.x: list[float] = []
        x = page.left
        for column in self.table.columns:
            self.x.append(x)
            x += column.width
        self.formats = [renderer.formats[column.format] for column in self.table.columns]
        # room kept at the foot of every page for the subtotal and carried-forward rows
        self.reserve = self.lh * sum(1 for label in (self.table.subtotal, self.table.carried_forward) if label)

    def draw(self) -> None:
        r, table = self.r, self.table
        if table.new_page:
            r.new_page()
        if not r.fits(self.lh * 3 + self.reserve):
            r.new_page()
        self._header()
        view = r.view
        columns = table.columns
        for line in self.rows:
            cells = []
            amount = None
            for index, column in enumerate(columns):
                value = column.value(line=line, view=view)
                if index == self.sum_column:
                    amount = value
                cells.append(self.formats[index](value))
            self._row(cells, amount)
        if table.total:
            self._ensure(self.lh + 2)
            self.r.rule(r.page.left, r.y, r.page.content_width)
            self._sum_row(table.total, self.running, bold=True)
        r.y -= 6

    def _ensure(self, height: float) -> None:
        if not self.r.fits(height + self.reserve):
            self._break()

    def _row(self, cells: list[str], amount: Any) -> None:
        r, page, size = self.r, self.r.page, self.size
        columns = self.table.columns
        face = page.regular
        texts: list[list[str]] = []
        for column, text in zip(columns, cells, strict=True):
            width = column.width - 2 * CELL_PAD
            texts.append([text] if column.lines == 1 else wrap(text, width, face, size, column.lines))
        height = self.lh * max(len(lines) for lines in texts)
        self._ensure(height)
        y = r.y
        for column, x, lines in zip(columns, self.x, texts, strict=True):
            baseline = y - self.lh + (self.lh - size) / 2 + 1
            for text in lines:
                r.pen.aligned(x + CELL_PAD, column.width - 2 * CELL_PAD, baseline, text, face, size, align=column.align)
                baseline -= self.lh
        r.y -= height
        if amount is not None:
            self.running += amount
            self.page_sum += amount

    def _header(self) -> None:
        r, page, size = self.r, self.r.page, self.size
        r.canvas.setFillColor(SHADE)
        r.canvas.rect(page.left, r.y - self.lh - 2, page.content_width, self.lh + 2, stroke=0, fill=1)
        baseline = r.y - self.lh + (self.lh - size) / 2
        for column, x in zip(self.table.columns, self.x, strict=True):
            width = column.width - 2 * CELL_PAD
            r.pen.aligned(x + CELL_PAD, width, baseline, column.label, page.bold, size, align=column.align)
        r.y -= self.lh + 4

    def _break(self) -> None:
        r, table = self.r, self.table
        if table.subtotal:
            r.rule(r.page.left, r.y, r.page.content_width)
            self._sum_row(table.subtotal, self.page_sum, bold=False)
        if table.carried_forward:
            self._sum_row(table.carried_forward, self.running, bold=True)
        r.new_page()
        self._header()
        if table.carried_forward:
            self._sum_row(table.carried_forward, self.running, bold=True)
            r.rule(r.page.left, r.y, r.page.content_width)
        self.page_sum = Decimal(0)

    def _sum_row(self, label: str, amount: Decimal, *, bold: bool) -> None:
        r, page, size = self.r, self.r.page, self.size
        index = self.sum_column
        assert index is not None  # the layout allows running rows only with a sum column
        face = page.bold if bold else page.regular
        baseline = r.y - self.lh + (self.lh - size) / 2 + 1
        label_width = self.x[index] - page.left - 2 * CELL_PAD
        r.pen.aligned(page.left + CELL_PAD, label_width, baseline, label, face, size)
        width = self.table.columns[index].width - 2 * CELL_PAD
        r.pen.aligned(self.x[index] + CELL_PAD, width, baseline, self.formats[index](amount), face, size, align="right")
        r.y -= self.lh

"""The layout of a PDF document, read from ``documents/<name>.toml`` in the templates directory and compiled once
per ``Templates`` object.

A layout has, in print order (lengths in points, widths as fractions of the width between the margins)::

    [page]     size ("A4" | "letter" | "legal" | [w, h]), margins [top, right, bottom, left], font and bold_font
               (TrueType files relative to the templates directory), font sizes, line_height (× font size)
    [header]   title, continued (title of later pages), stamp (e.g. PAID; empty = none)
    [footer]   text (left), page (right, e.g. "Page {{ page }} of {{ pages }}")
    [[band]]   a row of boxes side by side ([[band.box]]), each one of
                 text = "…" | template = "documents/x.j2"     wording, wrapped to max_lines
                 party = "<expression>"                       a Party (skipped when none), printed by
                                                              party_template (default documents/party.j2)
                 meta = [["Label", "{{ … }}"], …]             key/value rows (rows rendering empty are skipped)
    [table]    [[table.column]]: label, value (a Jinja2 expression over ``line`` and ``view``; a plain attribute
               path such as ``line.amount`` is read without Jinja2), width, align, format (text | money | amount
               | quantity | day), lines (wrap limit), sum (the running total's column); carried_forward /
               subtotal / total labels (empty = row not drawn), font_size, new_page
    [[total]]  label, value, bold, rule: the totals under the table (rows rendering empty are skipped)
    [[closing]] bands after the totals

Every wording is a Jinja2 template over ``view`` (the document's view model) with the ``money``, ``amount`` and
``day`` filters. A bad layout raises ``TemplateError`` naming the file and the key.
"""

from __future__ import annotations

import operator
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import jinja2
from reportlab.lib.pagesizes import A4, LEGAL, LETTER

from billing.documents.fonts import Face, load_face
from billing.documents.templating import TemplateError, Templates

PAGE_SIZES = {"A4": A4, "letter": LETTER, "legal": LEGAL}
FORMATS = ("text", "money", "amount", "quantity", "day")
ALIGNMENTS = ("left", "right", "center")
SIZES = ("normal", "small", "title")
DEFAULT_PARTY_TEMPLATE = "documents/party.j2"
ROW_SEPARATOR = "\x00"
_ATTRIBUTE_PATH = re.compile(r"([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)+)")

_cache: WeakKeyDictionary[Templates, dict[str, Layout]] = WeakKeyDictionary()
_cache_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Text:
    """A compiled Jinja2 template and where it is defined (for errors while rendering)."""

    template: jinja2.Template
    origin: str

    def render(self, **context: Any) -> str:
        try:
            return self.template.render(context).strip()
        except (jinja2.TemplateError, TypeError, ValueError, AttributeError) as exc:
            raise TemplateError(f"{self.origin}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Rows:
    """The one-line templates of a block (a meta box's values, the totals) compiled into one template, rows
    separated by NUL: one Jinja2 render per block instead of one per row."""

    text: Text
    count: int

    def render(self, **context: Any) -> list[str]:
        if not self.count:
            return []
        return [row.strip() for row in self.text.render(**context).split(ROW_SEPARATOR)]


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled Jinja2 expression; a plain ``name.a.b`` path becomes an attribute getter (no Jinja2 per call)."""

    evaluate: Callable[..., Any]
    origin: str

    def __call__(self, **context: Any) -> Any:
        try:
            return self.evaluate(**context)
        except (jinja2.TemplateError, TypeError, ValueError, AttributeError, KeyError) as exc:
            raise TemplateError(f"{self.origin}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Page:
    width: float
    height: float
    top: float
    right: float
    bottom: float
    left: float
    regular: Face
    bold: Face
    font_size: float
    small_font_size: float
    title_font_size: float
    line_height: float  # × the font size

    @property
    def content_width(self) -> float:
        return self.width - self.left - self.right


@dataclass(frozen=True, slots=True)
class TextBox:
    text: Text
    width: float  # points
    bold: bool
    size: str
    align: str
    max_lines: int


@dataclass(frozen=True, slots=True)
class PartyBox:
    party: Expression
    label: str
    text: Text  # renders ``party``; its first line is printed bold
    width: float
    max_lines: int


@dataclass(frozen=True, slots=True)
class MetaBox:
    labels: tuple[str, ...]
    values: Rows
    width: float
    label_width: float  # points


Box = TextBox | PartyBox | MetaBox


@dataclass(frozen=True, slots=True)
class Band:
    boxes: tuple[Box, ...]
    space_after: float


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    value: Expression  # over ``line`` and ``view``
    format: str
    width: float
    align: str
    lines: int
    sum: bool


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[Column, ...]
    font_size: float
    new_page: bool
    carried_forward: str
    subtotal: str
    total: str

    @property
    def sum_column(self) -> int | None:
        return next((index for index, column in enumerate(self.columns) if column.sum), None)


@dataclass(frozen=True, slots=True)
class TotalRow:
    label: str
    bold: bool
    rule: bool


@dataclass(frozen=True, slots=True)
class Layout:
    page: Page
    title: Text
    continued: Text
    stamp: Text
    footer: Text
    page_label: Text
    bands: tuple[Band, ...]
    table: Table
    totals: tuple[TotalRow, ...]
    total_values: Rows
    closing: tuple[Band, ...]


def load_layout(templates: Templates, name: str) -> Layout:
    """The compiled layout ``documents/<name>.toml``, cached for the life of ``templates``."""
    with _cache_lock:
        layouts = _cache.setdefault(templates, {})
        if name not in layouts:
            layouts[name] = _compile(templates, f"documents/{name}.toml")
        return layouts[name]


def _compile(templates: Templates, file: str) -> Layout:
    root = _Section(templates, file, "", templates.toml(file))
    page = _page(root.section("page"))
    width = page.content_width
    header, footer = root.section("header"), root.section("footer")
    totals = root.sections("total")
    total_values = root.rows("total", [(f"total[{i}].value", total.string("value")) for i, total in enumerate(totals)])
    layout = Layout(
        page=page,
        title=header.text("title"),
        continued=header.text("continued"),
        stamp=header.text("stamp", ""),
        footer=footer.text("text", ""),
        page_label=footer.text("page", "{{ page }} / {{ pages }}"),
        bands=tuple(_band(band, width) for band in root.sections("band")),
        table=_table(root.section("table"), width),
        totals=tuple(_total(total) for total in totals),
        total_values=total_values,
        closing=tuple(_band(band, width) for band in root.sections("closing")),
    )
    for section in (header, footer, root):
        section.done()
    return layout


def _page(section: _Section) -> Page:
    size = section.value("size", "A4")
    if isinstance(size, str) and size in PAGE_SIZES:
        width, height = PAGE_SIZES[size]
    elif isinstance(size, list) and len(size) == 2 and all(isinstance(v, int | float) and v > 0 for v in size):
        width, height = size
    else:
        raise section.error("size", f"must be one of {', '.join(PAGE_SIZES)} or [width, height] in points")
    margins = section.value("margins", [42, 42, 48, 42])
    if not (isinstance(margins, list) and len(margins) == 4 and all(isinstance(v, int | float) for v in margins)):
        raise section.error("margins", "must be [top, right, bottom, left] in points")
    top, right, bottom, left = (float(v) for v in margins)
    if left + right >= width or top + bottom >= height:
        raise section.error("margins", "leave no room on the page")
    page = Page(
        width=float(width),
        height=float(height),
        top=top,
        right=right,
        bottom=bottom,
        left=left,
        regular=section.font("font"),
        bold=section.font("bold_font"),
        font_size=section.number("font_size", 9),
        small_font_size=section.number("small_font_size", 7.5),
        title_font_size=section.number("title_font_size", 16),
        line_height=section.number("line_height", 1.3),
    )
    section.done()
    return page


def _band(section: _Section, content_width: float) -> Band:
    boxes = section.sections("box")
    if not boxes:
        raise section.error("box", "a band needs at least one box")
    band = Band(tuple(_box(box, content_width) for box in boxes), section.number("space_after", 12))
    if sum(box.width for box in band.boxes) > content_width * 1.0001:
        raise section.error("box", "the boxes' widths add up to more than 1")
    section.done()
    return band


def _box(section: _Section, content_width: float) -> Box:
    width = section.fraction("width", 1.0) * content_width
    kinds = [key for key in ("text", "template", "party", "meta") if key in section.data]
    if len(kinds) != 1:
        raise section.error("", "a box needs exactly one of text, template, party or meta")
    box: Box
    if kinds[0] in ("text", "template"):
        box = TextBox(
            text=section.text("text") if kinds[0] == "text" else section.fragment("template"),
            width=width,
            bold=section.boolean("bold", False),
            size=section.choice("size", SIZES, "normal"),
            align=section.choice("align", ALIGNMENTS, "left"),
            max_lines=section.count("max_lines", 8),
        )
    elif kinds[0] == "party":
        box = PartyBox(
            party=section.expression("party"),
            label=section.string("label", ""),
            text=section.fragment("party_template", DEFAULT_PARTY_TEMPLATE),
            width=width,
            max_lines=section.count("max_lines", 8),
        )
    else:
        rows = section.meta_rows("meta")
        labels = tuple(label for label, _ in rows)
        values = section.rows("meta", [(f"meta[{index}]", source) for index, (_, source) in enumerate(rows)])
        box = MetaBox(labels, values, width, section.fraction("label_width", 0.45) * width)
    section.done()
    return box


def _table(section: _Section, content_width: float) -> Table:
    columns = []
    for column in section.sections("column"):
        columns.append(
            Column(
                label=column.string("label", ""),
                value=column.expression("value"),
                format=column.choice("format", FORMATS, "text"),
                width=column.fraction("width") * content_width,
                align=column.choice("align", ALIGNMENTS, "left"),
                lines=column.count("lines", 1),
                sum=column.boolean("sum", False),
            )
        )
        column.done()
    if not columns:
        raise section.error("column", "a table needs at least one column")
    if sum(column.width for column in columns) > content_width * 1.0001:
        raise section.error("column", "the columns' widths add up to more than 1")
    if sum(column.sum for column in columns) > 1:
        raise section.error("column", "only one column can carry the running total (sum = true)")
    table = Table(
        columns=tuple(columns),
        font_size=section.number("font_size", 8),
        new_page=section.boolean("new_page", False),
        carried_forward=section.string("carried_forward", ""),
        subtotal=section.string("subtotal", ""),
        total=section.string("total", ""),
    )
    if (table.carried_forward or table.subtotal or table.total) and table.sum_column is None:
        raise section.error("carried_forward", "running totals need a column with sum = true")
    section.done()
    return table


def _total(section: _Section) -> TotalRow:
    row = TotalRow(
        label=section.string("label"),
        bold=section.boolean("bold", False),
        rule=section.boolean("rule", False),
    )
    section.done()
    return row


_MISSING: Any = object()


class _Section:
    """A TOML table being read: typed getters whose errors name the file and the key, and a check that no key
    was left unread (a misspelt key is an error, not a silent default)."""

    def __init__(self, templates: Templates, file: str, path: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise TemplateError(f"{file}: {path or 'the file'} must be a table")
        self.templates, self.file, self.path, self.data = templates, file, path, data
        self.read: set[str] = set()

    def error(self, key: str, problem: str) -> TemplateError:
        where = ".".join(part for part in (self.path, key) if part)
        return TemplateError(f"{self.file}: {where or 'the file'}: {problem}")

    def value(self, key: str, default: Any = _MISSING) -> Any:
        self.read.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self.error(key, "is missing")
        return default

    def section(self, key: str) -> _Section:
        return _Section(self.templates, self.file, self._child(key), self.value(key, {}))

    def sections(self, key: str) -> list[_Section]:
        items = self.value(key, [])
        if not isinstance(items, list):
            raise self.error(key, "must be an array of tables ([[...]])")
        return [_Section(self.templates, self.file, self._child(f"{key}[{i}]"), item) for i, item in enumerate(items)]

    def string(self, key: str, default: Any = _MISSING) -> str:
        value = self.value(key, default)
        if not isinstance(value, str):
            raise self.error(key, "must be a string")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.value(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.error(key, "must be a positive number")
        return float(value)

    def fraction(self, key: str, default: Any = _MISSING) -> float:
        value = self.value(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise self.error(key, "must be a fraction of the content width (0 < width <= 1)")
        return float(value)

    def count(self, key: str, default: int) -> int:
        value = self.value(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.error(key, "must be a whole number of at least 1")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.value(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.value(key, default)
        if value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}")
        return str(value)

    def text(self, key: str, default: Any = _MISSING) -> Text:
        source = self.string(key, default)
        try:
            return Text(self.templates.env.from_string(source), f"{self.file}: {self._child(key)}")
        except jinja2.TemplateSyntaxError as exc:
            raise self.error(key, f"invalid template: {exc}") from exc

    def fragment(self, key: str, default: Any = _MISSING) -> Text:
        relative = self.string(key, default)
        try:
            template = self.templates.template(relative)
        except TemplateError as exc:
            raise self.error(key, str(exc)) from exc
        return Text(template, relative)

    def expression(self, key: str) -> Expression:
        source = self.string(key).strip()
        origin = f"{self.file}: {self._child(key)}"
        path = _ATTRIBUTE_PATH.fullmatch(source)
        if path:
            name, getter = path.group(1), operator.attrgetter(path.group(2)[1:])
            return Expression(lambda **context: getter(context[name]), origin)
        try:
            return Expression(self.templates.env.compile_expression(source, undefined_to_none=False), origin)
        except jinja2.TemplateSyntaxError as exc:
            raise self.error(key, f"invalid expression: {exc}") from exc

    def meta_rows(self, key: str) -> list[tuple[str, str]]:
        rows = self.value(key)
        if not isinstance(rows, list) or not all(
            isinstance(row, list) and len(row) == 2 and all(isinstance(v, str) for v in row) for row in rows
        ):
            raise self.error(key, 'must be a list of ["label", "value template"] pairs')
        if not rows:
            raise self.error(key, "needs at least one row")
        return [(label, source) for label, source in rows]

    def rows(self, key: str, sources: list[tuple[str, str]]) -> Rows:
        """``sources`` (each with its key, for errors) as one template; each is compiled alone first so that a
        syntax error names its own key."""
        for row_key, source in sources:
            if ROW_SEPARATOR in source:
                raise self.error(row_key, "must not contain a NUL character")
            try:
                self.templates.env.parse(source)
            except jinja2.TemplateSyntaxError as exc:
                raise self.error(row_key, f"invalid template: {exc}") from exc
        joined = self.templates.env.from_string(ROW_SEPARATOR.join(source for _, source in sources))
        return Rows(Text(joined, f"{self.file}: {self._child(key)}"), len(sources))

    def font(self, key: str) -> Face:
        relative = self.string(key)
        try:
            return load_face(self.templates.path(relative))
        except TemplateError as exc:
            raise self.error(key, str(exc)) from exc
        except Exception as exc:  # ReportLab's TTFError and the like: not a usable TrueType file
            raise self.error(key, f"{relative} is not a usable TrueType font: {exc}") from exc

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.read)
        if unknown:
            raise self.error(unknown[0], "unknown key")

    def _child(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

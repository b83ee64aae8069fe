"""Fonts for the PDF renderers, registered once per process.

A ``Face`` is a TrueType font from the templates directory (DejaVu Sans by default) plus ReportLab's built-in
CID fonts for what it lacks: text is split into runs by the TrueType font's character map, and Han, kana and
Hangul runs are drawn with ``HeiseiKakuGo-W5`` / ``HYGothic-Medium`` (standard Adobe CJK fonts that PDF readers
supply, so nothing is embedded for them).

Embedding a TrueType subset (building the font program, compressing it, its widths and ToUnicode map) is most
of the cost of a small PDF, so ``_EmbeddedFont`` builds those objects once per process per distinct subset and
fills the first subset of every document with the same seed of Latin characters: every Latin-script document
then embeds the same, already built, first subset.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import FF_NONSYMBOLIC, FF_SYMBOLIC, SUBSETN, TTFont, TTFontFace, makeToUnicodeCMap

JAPANESE = "HeiseiKakuGo-W5"  # Han ideographs, kana and CJK punctuation
KOREAN = "HYGothic-Medium"  # Hangul
HANGUL = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7FF))

#: Latin-1 letters and signs, typographic punctuation and the Latin Extended-A letters of Central European
#: languages: assigned, in this order, to the first subset of every document (ASCII is there already).
SEED = "".join(map(chr, range(0xA1, 0x100))) + "–—‘’‚“”„…•€™‰′" + "ĄąĆćĘęŁłŃńŚśŹźŻżČčĎďĚěŇňŘřŠšŤťŮůŽžŐőŰűĞğİıŞşĂăȘșȚț"

_lock = threading.Lock()
_faces: dict[tuple[str, int, int], Face] = {}


@dataclass(frozen=True, eq=False)
class Face:
    """A TrueType font and the fallbacks for the characters it lacks."""

    name: str  # the registered ReportLab font name
    font: Any = field(repr=False)  # the TTFont
    covered: frozenset[str] = field(repr=False)

    def runs(self, text: str) -> list[tuple[str, str]]:
        """``text`` as (font name, part) runs, each drawable with one font."""
        if self.covered.issuperset(text):
            return [(self.name, text)]
        runs: list[tuple[str, str]] = []
        start, current = 0, ""
        for index, char in enumerate(text):
            font = self.name if char in self.covered else _fallback(char, self.name)
            if font != current:
                if index:
                    runs.append((current, text[start:index]))
                start, current = index, font
        runs.append((current, text[start:]))
        return runs

    def width(self, text: str, size: float) -> float:
        if self.covered.issuperset(text):
            return float(self.font.stringWidth(text, size))
        return sum(pdfmetrics.stringWidth(part, font, size) for font, part in self.runs(text))


def load_face(path: Path) -> Face:
    """The face of a TrueType file, registered with ReportLab on first use (per file version)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        face = _faces.get(key)
        if face is None:
            face = _faces[key] = _register(path, hashlib.sha1(repr(key).encode()).hexdigest()[:12])
        return face


def _register(path: Path, digest: str) -> Face:
    _register_fallbacks()
    name = f"{path.stem}-{digest}"
    pdfmetrics.registerFont(_EmbeddedFont(name, str(path)))
    # ReportLab keeps one font object per face name: a second file with the same face name shares the first
    font = pdfmetrics.getFont(name)
    return Face(name, font, frozenset(map(chr, font.face.charToGlyph)))


@lru_cache(maxsize=1)
def _register_fallbacks() -> None:
    for name in (JAPANESE, KOREAN):
        pdfmetrics.registerFont(UnicodeCIDFont(name))


def _fallback(char: str, default: str) -> str:
    code = ord(char)
    if any(low <= code <= high for low, high in HANGUL):
        return KOREAN
    # the CID fonts take 16-bit codes: beyond the BMP the TrueType font's "missing" glyph is the better choice
    return JAPANESE if code <= 0xFFFF else default


class _Raw(pdfdoc.PDFObject):
    """An object formatted once per process; each document gets its own wrapper (ReportLab names objects)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def format(self, document: Any) -> bytes:
        return self.data


class _RawStream(_Raw):
    __RefOnly__ = 1


class _Formatting(pdfdoc.DummyDoc):
    """What formatting a stream needs of a document (no encryption, no default filters)."""

    defaultStreamFilters = None


@dataclass(frozen=True)
class _SubsetObjects:
    base_font: str
    widths: bytes
    to_unicode: bytes
    font_file: bytes


class _EmbeddedFont(TTFont):
    """A TTFont whose subsets are seeded with ``SEED`` and whose subset objects are cached (see the module)."""

    def __init__(self, name: str, filename: str) -> None:
        super().__init__(name, filename)
        self._seeded: tuple[dict[int, int], list[list[int]], int] | None = None  # the seeded state
        self._first_codes: dict[int, int] = {}  # character → code in the (seeded) first subset
        self._first_chars: frozenset[str] = frozenset()

    def splitString(self, text: str, doc: Any, encoding: str = "utf-8") -> list[tuple[int, bytes]]:
        state = self.state.get(doc) or self._seed(doc)
        # ReportLab's loop looks every character up; text within the seeded subset needs one translate
        if text and getattr(state, "seeded", False) and self._first_chars.issuperset(text):
            return [(0, text.translate(self._first_codes).encode("latin-1"))]
        return TTFont.splitString(self, text, doc, encoding)

    def _seed(self, doc: Any) -> Any:
        """The document's new state with ``SEED`` assigned: split once per process, then copied."""
        if self._seeded is None:
            TTFont.splitString(self, SEED, doc)
            state = self.state[doc]
            self._seeded = (dict(state.assignments), [list(subset) for subset in state.subsets], state.nextCode)
            codes = {code: n for code, n in state.assignments.items() if n < 256}
            self._first_codes = codes | {0xA0: 32}  # ReportLab draws a no-break space as a space
            self._first_chars = frozenset(map(chr, self._first_codes))
        else:
            assignments, subsets, next_code = self._seeded
            state = self.state[doc] = TTFont.State(self._asciiReadable, self)
            state.assignments = dict(assignments)
            state.subsets = [list(subset) for subset in subsets]
            state.nextCode = next_code
        state.seeded = True  # a state ReportLab made elsewhere (e.g. naming a subset first) keeps the slow path
        return state

    def addObjects(self, doc: Any) -> None:
        """ReportLab's ``TTFont.addObjects`` with the formatted widths, ToUnicode map and font program cached."""
        state = self._assignState(doc)
        state.frozen = 1
        font_dict = doc.idToObject["BasicFonts"].dict
        for number, subset in enumerate(state.subsets):
            internal_name = self.getSubsetInternalName(number, doc)[1:]
            objects = _subset_objects(self.face, number, tuple(subset), bool(doc.compression))
            font_file = _RawStream(objects.font_file)
            font_file_ref = doc.Reference(font_file, f"fontFile:{self.face.filename}({objects.base_font})")
            descriptor = pdfdoc.PDFDictionary(
                {
                    "Type": "/FontDescriptor",
                    "Ascent": self.face.ascent,
                    "CapHeight": self.face.capHeight,
                    "Descent": self.face.descent,
                    "Flags": (self.face.flags & ~FF_NONSYMBOLIC) | FF_SYMBOLIC,
                    "FontBBox": pdfdoc.PDFArray(self.face.bbox),
                    "FontName": pdfdoc.PDFName(objects.base_font),
                    "ItalicAngle": self.face.italicAngle,
                    "StemV": self.face.stemV,
                    "FontFile2": font_file_ref,
                    "MissingWidth": self.face.defaultWidth,
                }
            )
            pdf_font = pdfdoc.PDFTrueTypeFont()
            pdf_font.Name = internal_name
            pdf_font.BaseFont = objects.base_font
            pdf_font.FirstChar = 0
            pdf_font.LastChar = len(subset) - 1
            pdf_font.Widths = _Raw(objects.widths)
            pdf_font.ToUnicode = doc.Reference(_RawStream(objects.to_unicode), f"toUnicodeCMap:{objects.base_font}")
            pdf_font.FontDescriptor = doc.Reference(descriptor, f"fontDescriptor:{objects.base_font}")
            doc.Reference(pdf_font, internal_name)
            font_dict[internal_name] = pdf_font


@lru_cache(maxsize=256)
def _subset_objects(face: TTFontFace, number: int, subset: tuple[int, ...], compress: bool) -> _SubsetObjects:
    base_font = (SUBSETN(number) + b"+" + face.name + face.subfontNameX).decode("pdfdoc")
    filters = [pdfdoc.PDFZCompress] if compress else None
    program = face.makeSubset(list(subset))
    font_file = pdfdoc.PDFStream(pdfdoc.PDFDictionary({"Length1": len(program)}), program, filters)
    to_unicode = pdfdoc.PDFStream(content=makeToUnicodeCMap(base_font, list(subset)), filters=filters)
    document = _Formatting()
    return _SubsetObjects(
        base_font=base_font,
        widths=pdfdoc.PDFArray([face.getCharWidth(code) for code in subset]).format(document),
        to_unicode=to_unicode.format(document),
        font_file=font_file.format(document),
    )

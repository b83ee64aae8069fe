"""The templates a deployment can replace (``documents.templates_dir``): Jinja2 text fragments, the PDF layout
descriptions, CSV column sets and e-mail bodies, plus the fonts they name.

``Templates.version`` is a digest of every file under the directory: it enters each document's checksum, so a
changed template renders new versions and an unchanged one is never rendered twice for the same inputs.
"""

from __future__ import annotations

import hashlib
import threading
import tomllib
from decimal import Decimal
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal

from billing.settings import PROJECT_ROOT, DocumentsSettings

#: In a source checkout next to src/; in an installed image (Dockerfile), under the working directory.
BUNDLED_TEMPLATES = next(
    (path for path in (PROJECT_ROOT / "templates", Path("templates").resolve()) if (path / "documents").is_dir()),
    PROJECT_ROOT / "templates",
)


class TemplateError(Exception):
    """A template or layout file is missing or invalid (a deployment error, reported with the file's name)."""


class Templates:
    def __init__(self, root: Path, locale: str = "en_US") -> None:
        if not root.is_dir():
            raise TemplateError(f"The templates directory {root} does not exist.")
        self.root = root
        self.locale = locale
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(root),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["money"] = self.money
        self.env.filters["amount"] = self.amount
        self.env.filters["day"] = self.day

    @classmethod
    def from_settings(cls, settings: DocumentsSettings) -> Templates:
        """One instance per directory state: the daemon's ticks reuse its version digest and compiled layouts, and
        a changed file (a new mtime or size) gives a new instance, so edits apply without a restart."""
        root = settings.templates_dir or BUNDLED_TEMPLATES
        state = _directory_state(root)
        key = (str(root), settings.locale)
        with _cache_lock:
            cached = _cache.get(key)
            if cached is None or cached[0] != state:
                cached = _cache[key] = (state, cls(root, settings.locale))
            return cached[1]

    @cached_property
    def version(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(p for p in self.root.rglob("*") if p.is_file()):
            digest.update(path.relative_to(self.root).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def path(self, relative: str) -> Path:
        path = self.root / relative
        if not path.is_file():
            raise TemplateError(f"Template file {relative} is missing from {self.root}.")
        return path

    def toml(self, relative: str) -> dict[str, Any]:
        try:
            return tomllib.loads(self.path(relative).read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise TemplateError(f"{relative} is not valid TOML: {exc}") from exc

    def template(self, relative: str) -> jinja2.Template:
        try:
            return self.env.get_template(relative)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"{relative}: {exc}") from exc

    # --- filters ----------------------------------------------------------------------------------------
    def money(self, value: Decimal | None, currency: str) -> str:
        """An amount with its currency, rounded to the currency's minor unit, in the configured locale."""
        return "" if value is None else _money(value, currency, self.locale)

    def amount(self, value: Decimal | None, currency: str | None = None) -> str:
        """An amount without the currency sign (table cells), rounded to the currency's minor unit."""
        if value is None:
            return ""
        if currency is None:
            return _decimal(value, self.locale)
        return _money(value, currency, self.locale, sign=False)

    def day(self, value: Any) -> str:
        return "" if value is None else _day(value, self.locale)


_cache: dict[tuple[str, str], tuple[tuple[tuple[str, int, int], ...], Templates]] = {}
_cache_lock = threading.Lock()


def _directory_state(root: Path) -> tuple[tuple[str, int, int], ...]:
    if not root.is_dir():
        return ()
    return tuple(
        (str(path), stat.st_mtime_ns, stat.st_size)
        for path in sorted(root.rglob("*"))
        if path.is_file() and (stat := path.stat())
    )


@lru_cache(maxsize=4096)
def _money(value: Decimal, currency: str, locale: str, sign: bool = True) -> str:
    if sign:
        return format_currency(value, currency, locale=locale)
    return format_currency(value, currency, format="#,##0.00", locale=locale, currency_digits=True)


@lru_cache(maxsize=4096)
def _decimal(value: Decimal, locale: str) -> str:
    return format_decimal(value, locale=locale)


@lru_cache(maxsize=1024)
def _day(value: Any, locale: str) -> str:
    return format_date(value, format="medium", locale=locale)

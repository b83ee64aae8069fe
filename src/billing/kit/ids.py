"""Identifiers (billing-api.md §12).

Random ids are a prefix and groups of four digits drawn uniformly from the OS CSPRNG (the all-zero draw is
excluded). Uniqueness across processes is guaranteed by the primary key: repositories insert with a fresh
draw and re-draw on a key collision (e.g. `PostedDocumentRepository.insert`).
"""

from __future__ import annotations

import re
import secrets

_ID_SHAPE = re.compile(r"^[A-Z]{3}(-\d{4})+$")


def random_digits(groups: int) -> str:
    """``groups`` groups of 4 digits joined with ``-``; never all zeros."""
    width = 4 * groups
    value = secrets.randbelow(10**width - 1) + 1
    text = f"{value:0{width}d}"
    return "-".join(text[i : i + 4] for i in range(0, width, 4))


def new_id(prefix: str, groups: int) -> str:
    return f"{prefix}-{random_digits(groups)}"


def digits_of(object_id: str) -> str:
    """All digit groups of an id in order: ``BJO-2589-1434`` → ``2589-1434``."""
    return object_id.split("-", 1)[1]


def normalise_path_id(raw: str) -> str | None:
    """Path ids match case-insensitively (normalised to upper case); a malformed id is None (→ 404)."""
    value = raw.strip().upper()
    return value if _ID_SHAPE.match(value) else None


def is_well_formed(value: str, prefix: str, groups: int | None = None) -> bool:
    """``groups=None`` accepts any number (≥ 1) of 4-digit groups (ids written ``PFX-…`` in the spec)."""
    if groups is None:
        return bool(re.fullmatch(rf"{prefix}(-\d{{4}})+", value))
    return bool(re.fullmatch(rf"{prefix}(-\d{{4}}){{{groups}}}", value))

"""Loading reference files from disk (start-up, CLI) through the same service as the API."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from billing.auth.principal import system_principal
from billing.db.engine import Database
from billing.reference.service import Mode, ReferenceService


def read_document(path: Path) -> Any:
    """JSON (``.json``) or YAML (anything else); decimals are read exactly."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text, parse_float=Decimal)
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def import_file(database: Database, path: Path, mode: Mode = "merge") -> dict[str, dict[str, int]]:
    with database.session_scope() as session:
        return ReferenceService(session, system_principal()).import_document(read_document(path), mode)

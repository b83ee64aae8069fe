"""Bind one input object onto the canonical document of its entity (billing-api.md §3.2, §3.3, §3.14, §11.2).

Property names match case-insensitively at every level (the last occurrence wins); unknown properties are
ignored; absent and ``null`` are the same (the default, or an error when required). The canonical document
has a fixed shape: every declared field is present, nested objects are always objects, lists are lists,
references are upper-case id strings and decimals are `Decimal` with 6 places.

Problems are returned as ``(path, message)`` pairs, paths relative to the document
(``erpCustomers[0].customerNo``). A field that fails binding is left at its empty value and the document is
still returned whole, so the cross-object rules can run on the rest of it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from billing.kit.ids import is_well_formed
from billing.kit.money import NotANumber, in_range, round6, to_decimal
from billing.reference.entities import EntitySpec, Field

MAX_STRING = 255
_CURRENCY = re.compile(r"[A-Z]{3}")
_SHA256 = re.compile(r"[0-9a-f]{64}")

Problem = tuple[str, str]


def bind_document(spec: EntitySpec, raw: Mapping[Any, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """The canonical document for ``raw`` and the problems found while binding it."""
    binder = _Binder(spec)
    return binder.members(spec.shape, raw, ""), binder.problems


def fold(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """Keys case-folded; non-string keys (YAML allows them) are unknown properties and dropped."""
    return {key.casefold(): value for key, value in raw.items() if isinstance(key, str)}


def empty(field: Field) -> Any:
    """The value of an absent field: its default, an empty list, or an object of empty members."""
    if field.kind in ("refs", "objects", "currencies"):
        return []
    if field.kind == "object":
        return {member.name: empty(member) for member in field.fields}
    return field.default


class _Binder:
    def __init__(self, spec: EntitySpec) -> None:
        self.spec = spec
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def members(self, fields: tuple[Field, ...], raw: Mapping[Any, Any], prefix: str) -> dict[str, Any]:
        given = fold(raw)
        doc: dict[str, Any] = {}
        for field in fields:
            path = prefix + field.name
            if field.kind == "sha256":
                doc[field.name] = self.sha256(given, field.name)
                continue
            value = given.get(field.name.casefold())
            before = len(self.problems)
            bound = doc[field.name] = empty(field) if value is None else self.value(field, value, path)
            if field.required and len(self.problems) == before:
                if value is None or bound is None:
                    self.add(path, f"'{path}' is required.")
                elif bound == []:
                    self.add(path, f"'{path}' must not be empty.")
        return doc

    def value(self, field: Field, value: Any, path: str) -> Any:
        match field.kind:
            case "id":
                return self.own_id(value, path)
            case "string":
                return self.string(value, path, field.default)
            case "enum":
                return self.enum(value, path, field)
            case "decimal":
                return self.decimal(value, path)
            case "currency":
                return self.currency(value, path)
            case "ref":
                return self.ref(value, path)
            case "object":
                if isinstance(value, Mapping):
                    return self.members(field.fields, value, path + ".")
                self.add(path, f"'{path}' must be an object.")
                return empty(field)
            case "currencies" | "refs" | "objects":
                return self.elements(field, value, path)
        raise AssertionError(field.kind)

    def elements(self, field: Field, value: Any, path: str) -> list[Any]:
        """Elements that fail keep their position (as an empty value) so later paths stay aligned."""
        if not isinstance(value, list):
            self.add(path, f"'{path}' must be a list.")
            return []
        result: list[Any] = []
        for index, element in enumerate(value):
            at = f"{path}[{index}]"
            if field.kind == "objects":
                if isinstance(element, Mapping):
                    result.append(self.members(field.fields, element, at + "."))
                else:
                    self.add(at, f"'{at}' must be an object.")
                    result.append({member.name: empty(member) for member in field.fields})
                continue
            before = len(self.problems)
            bound = self.currency(element, at) if field.kind == "currencies" else self.ref(element, at)
            if bound is None and len(self.problems) == before:
                self.add(at, f"'{at}' must not be empty.")
            result.append(bound)
        return result

    def own_id(self, value: Any, path: str) -> str | None:
        text = value.strip().upper() if isinstance(value, str) else None
        if text == "":
            return None
        if text and is_well_formed(text, self.spec.prefix, self.spec.id_groups):
            return text
        self.add(path, f"'{path}' must look like {self.spec.id_format}.")
        return None

    def string(self, value: Any, path: str, default: str | None) -> str | None:
        if not isinstance(value, str):
            self.add(path, f"'{path}' must be a string.")
            return None
        text = value.strip()
        if len(text) > MAX_STRING:
            self.add(path, f"'{path}' must be at most {MAX_STRING} characters.")
            return None
        return text or default

    def enum(self, value: Any, path: str, field: Field) -> str | None:
        if isinstance(value, str):
            text = value.strip().casefold()
            if not text:
                return field.default
            for choice in field.choices:
                if text == choice.casefold():
                    return choice
        self.add(path, f"'{path}' must be one of {', '.join(field.choices)}.")
        return None

    def decimal(self, value: Any, path: str) -> Any:
        try:
            number = to_decimal(value)
        except NotANumber:
            self.add(path, f"'{path}' must be a number: {value!r}.")
            return None
        if not in_range(number):
            self.add(path, f"'{path}' is out of range.")
            return None
        return round6(number)

    def currency(self, value: Any, path: str) -> str | None:
        if value is None:
            return None
        code = value.strip().upper() if isinstance(value, str) else ""
        if _CURRENCY.fullmatch(code):
            return code
        self.add(path, f"'{path}' must be a three-letter ISO 4217 currency code: {value!r}.")
        return None

    def ref(self, value: Any, path: str) -> str | None:
        """``"ID"`` or ``{"id": "ID"}`` (other members ignored) → ``"ID"``; blank is absent."""
        if value is None:
            return None
        target = fold(value).get("id") if isinstance(value, Mapping) else value
        if isinstance(target, str):
            return target.strip().upper() or None
        self.add(path, f"'{path}' must be an id or an object with an 'id'.")
        return None

    def sha256(self, given: Mapping[str, Any], name: str) -> str | None:
        """A write-only ``secret`` is hashed (and wins over a given digest); it is never kept."""
        secret = given.get("secret")
        if secret is not None:
            if isinstance(secret, str) and secret:
                return hashlib.sha256(secret.encode("utf-8")).hexdigest()
            self.add("secret", "'secret' must be a non-empty string.")
            return None
        digest = given.get(name.casefold())
        if digest is None:
            self.add("secret", f"'secret' or '{name}' is required.")
            return None
        text = digest.strip().lower() if isinstance(digest, str) else ""
        if _SHA256.fullmatch(text):
            return text
        self.add(name, f"'{name}' must be 64 hexadecimal characters (a SHA-256 digest).")
        return None

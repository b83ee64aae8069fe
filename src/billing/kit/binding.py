"""JSON input binding (billing-api.md §3.2).

Property names match case-insensitively at every level (the last occurrence wins), unknown properties are
ignored, numeric properties accept numbers or numeric strings, and ``null`` clears an optional property.
Models declare canonical camelCase names as aliases; `bind` folds the input onto them before pydantic
validates, and turns pydantic's errors into `ValidationFailed` keyed by property path.
"""

from __future__ import annotations

import types
import typing
from decimal import Decimal
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from billing.errors import ValidationFailed
from billing.kit.money import NotANumber, in_range, round6, to_decimal
from billing.kit.timeutil import parse_instant

M = TypeVar("M", bound=BaseModel)


def _decimal(value: Any) -> Decimal:
    try:
        number = to_decimal(value)
    except NotANumber:
        raise ValueError("must be a number") from None
    if not in_range(number):
        raise ValueError("is out of range") from None
    return round6(number)


def _instant(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_instant(value)
        except ValueError:
            raise ValueError("must be an ISO 8601 date or date-time") from None
    return value


#: A decimal input: JSON number or numeric string, stored with 6 places.
DecimalIn = Annotated[Decimal, BeforeValidator(_decimal)]
#: An instant input: ISO-8601 date or date-time → naive UTC.
InstantIn = Annotated[Any, BeforeValidator(_instant)]


class InputModel(BaseModel):
    """Base for request bodies: camelCase aliases, unknown properties ignored, strings trimmed of nothing."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Ref(InputModel):
    """A reference written as ``{"id": "…"}`` (other members ignored)."""

    id: str


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed({"body": [f"The request body is not valid JSON: {exc}."]}) from None


def bind(model: type[M], data: Any, *, root: str = "") -> M:
    """Validate ``data`` into ``model`` with case-insensitive property names."""
    if not isinstance(data, dict):
        raise ValidationFailed({root or "body": ["Expected a JSON object."]})
    try:
        return model.model_validate(fold_keys(model, data))
    except ValidationError as exc:
        raise ValidationFailed(_errors(exc, root)) from None


def fold_keys(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """Rename keys of ``data`` to the model's aliases, matching case-insensitively, recursively."""
    by_folded: dict[str, tuple[str, Any]] = {}
    for name, field in model.model_fields.items():
        alias = field.alias or name
        by_folded[alias.casefold()] = (alias, field.annotation)
        by_folded.setdefault(name.casefold(), (alias, field.annotation))
    folded: dict[str, Any] = {}
    for key, value in data.items():
        match = by_folded.get(key.casefold()) if isinstance(key, str) else None
        if match is None:
            continue
        alias, annotation = match
        folded[alias] = _fold_value(annotation, value)
    return folded


def _fold_value(annotation: Any, value: Any) -> Any:
    nested = _model_in(annotation)
    if nested is None:
        return value
    if isinstance(value, dict):
        return fold_keys(nested, value)
    if isinstance(value, list):
        return [fold_keys(nested, item) if isinstance(item, dict) else item for item in value]
    return value


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside ``X``, ``X | None``, ``list[X]``, ``Annotated[X, …]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, list, typing.Annotated, tuple):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _errors(exc: ValidationError, root: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
        path = f"{root}.{path}" if root and path else (root or path or "body")
        errors.setdefault(path, []).append(_message(error))
    return errors


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "The property is required."
    if kind == "value_error":
        return f"The value {str(error['msg']).removeprefix('Value error, ')}."
    if kind in ("string_too_long",):
        return f"The value must be at most {error['ctx']['max_length']} characters."
    if kind.startswith("string"):
        return "The value must be a string."
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "The value must be a JSON object."
    if kind == "list_type":
        return "The value must be a JSON array."
    if kind == "literal_error" or kind == "enum":
        return f"The value must be one of {error['ctx'].get('expected', '')}."
    return str(error["msg"]) + "."

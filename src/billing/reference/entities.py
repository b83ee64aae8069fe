"""The reference-data entities (billing-api.md §11.2), each declared once as the fields of its canonical doc.

An entity's references (`RefSpec`) and filterable columns are derived from its `Field`s, so the binding
(`binding.py`), the cross-object rules (`rules.py`) and the repository's RQL allow-list never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

ACCOUNT_TYPES = ("Client", "Vendor", "Operations")
ACTIVE_DISABLED = ("Active", "Disabled")

FieldKind = Literal[
    "id",  # the entity's own id
    "string",  # ≤ 255 characters; blank is the same as absent
    "enum",  # one of `choices`
    "decimal",  # 6 places
    "currency",  # ISO 4217 code
    "currencies",  # list of ISO 4217 codes
    "ref",  # id of a `target` object
    "refs",  # list of ids of `target` objects
    "object",  # nested `fields`
    "objects",  # list of nested `fields`
    "sha256",  # api-token secret: written as `secret` (hashed) or as the hex digest
]


@dataclass(frozen=True)
class Field:
    """One property of a canonical document."""

    name: str
    kind: FieldKind
    required: bool = False
    #: The value when absent or null (strings and enums).
    default: str | None = None
    choices: tuple[str, ...] = ()
    target: str | None = None
    account_type: str | None = None
    fields: tuple[Field, ...] = ()


@dataclass(frozen=True)
class RefSpec:
    path: str  # "client", "items[]", "erpCustomers[].seller", "split[].agreement"
    target: str  # entity key
    account_type: str | None = None  # "Client" | "Vendor" | "Operations"
    required: bool = False


@dataclass(frozen=True)
class EntitySpec:
    key: str  # file key and URL segment: "api-tokens"
    label: str  # for messages: "api-token"
    prefix: str  # "TKN"
    id_groups: int | None  # 2 for PFX-dddd-dddd; None for PFX-… (any number ≥ 1 of 4-digit groups)
    refs: tuple[RefSpec, ...]
    columns: Mapping[str, str]  # filterable scalar path → "string" | "id" | "enum:A,B" | "decimal"
    fields: tuple[str, ...]  # top-level names of the returned document, in order (never the secret digest)
    shape: tuple[Field, ...]  # the declaration everything else is derived from

    @property
    def noun(self) -> str:
        """Capitalised label for the start of a message: ``Pricing policy``."""
        text = self.label.replace("-", " ")
        return text[:1].upper() + text[1:]

    @property
    def id_format(self) -> str:
        return f"{self.prefix}-dddd-dddd" if self.id_groups == 2 else f"{self.prefix}-dddd[-dddd…]"

    def references(self, doc: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        """``(path, target entity, target id)`` of every outgoing reference; paths carry list indexes."""
        return [(path, ref.target, target_id) for ref, path, target_id in self.resolve_refs(doc)]

    def resolve_refs(self, doc: Mapping[str, Any]) -> Iterator[tuple[RefSpec, str, str]]:
        for ref in self.refs:
            for path, value in _walk(doc, ref.path.split("."), ""):
                if isinstance(value, str):
                    yield ref, path, value


def _walk(node: Any, segments: list[str], prefix: str) -> Iterator[tuple[str, Any]]:
    if not segments:
        yield prefix, node
        return
    head, rest = segments[0], segments[1:]
    name = head.removesuffix("[]")
    value = node.get(name) if isinstance(node, Mapping) else None
    path = f"{prefix}.{name}" if prefix else name
    if head.endswith("[]"):
        for index, element in enumerate(value if isinstance(value, list) else ()):
            yield from _walk(element, rest, f"{path}[{index}]")
    elif value is not None:
        yield from _walk(value, rest, path)


def _derive_refs(fields: tuple[Field, ...], prefix: str = "") -> Iterator[RefSpec]:
    for field in fields:
        path = prefix + field.name
        if field.kind in ("ref", "refs"):
            assert field.target is not None
            suffix = "[]" if field.kind == "refs" else ""
            yield RefSpec(path + suffix, field.target, field.account_type, field.required)
        elif field.kind == "object":
            yield from _derive_refs(field.fields, path + ".")
        elif field.kind == "objects":
            yield from _derive_refs(field.fields, path + "[].")


_COLUMN_KINDS = {"id": "id", "string": "string", "currency": "string", "decimal": "decimal"}


def _derive_columns(fields: tuple[Field, ...], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every scalar path outside lists; references filter on ``<ref>.id``; secrets are never filterable."""
    for field in fields:
        path = prefix + field.name
        if field.kind == "ref":
            yield f"{path}.id", "id"
        elif field.kind == "enum":
            yield path, "enum:" + ",".join(field.choices)
        elif field.kind == "object":
            yield from _derive_columns(field.fields, path + ".")
        elif field.kind in _COLUMN_KINDS:
            yield path, _COLUMN_KINDS[field.kind]


def _entity(key: str, label: str, prefix: str, id_groups: int | None, *fields: Field) -> EntitySpec:
    declared = (Field("id", "id", required=True), *fields)
    return EntitySpec(
        key=key,
        label=label,
        prefix=prefix,
        id_groups=id_groups,
        refs=tuple(_derive_refs(declared)),
        columns=dict(_derive_columns(declared)),
        fields=tuple(field.name for field in declared if field.kind != "sha256"),
        shape=declared,
    )


def _string(name: str, *, required: bool = False, default: str | None = None) -> Field:
    return Field(name, "string", required=required, default=default)


def _ref(name: str, target: str, *, required: bool = True, account_type: str | None = None) -> Field:
    return Field(name, "ref", required=required, target=target, account_type=account_type)


def _object(name: str, *fields: Field, required: bool = False) -> Field:
    return Field(name, "object", required=required, fields=fields)


def _external_ids(*names: str) -> Field:
    return _object("externalIds", *(_string(name) for name in names))


def _address(*, country_required: bool) -> Field:
    lines = ("addressLine1", "addressLine2", "addressLine3", "city", "postCode", "county")
    return _object(
        "address",
        *(_string(name) for name in lines),
        _string("country", required=country_required),
        required=country_required,
    )


def _erp_customers(*, required: bool) -> Field:
    entry = (_ref("seller", "sellers"), _string("customerNo", required=True), _string("contactNo"))
    return Field("erpCustomers", "objects", required=required, fields=entry)


_NAME = _string("name", required=True)
_ICON = _string("icon", default="")
#: Accounts, users and api-tokens authenticate, so their status is a closed set.
_STATUS_ACTIVE_DISABLED = Field("status", "enum", default="Active", choices=ACTIVE_DISABLED)
#: Other entities carry their platform status as given (e.g. a product is ``Published``).
_STATUS = _string("status", default="Active")
_CONTACT = _object("contact", _string("name"), _string("email"), _string("phone"))
_PRICE = _object("price", Field("markup", "decimal"))


def _sold_object(key: str, label: str, prefix: str) -> EntitySpec:
    """Subscriptions and assets share one shape."""
    return _entity(
        key,
        label,
        prefix,
        None,
        _NAME,
        _ref("agreement", "agreements"),
        Field("items", "refs", target="items"),
        _PRICE,
        _external_ids("vendor"),
        _STATUS,
    )


ENTITIES: dict[str, EntitySpec] = {
    spec.key: spec
    for spec in (
        _entity(
            "accounts",
            "account",
            "ACC",
            2,
            Field("type", "enum", required=True, choices=ACCOUNT_TYPES),
            _NAME,
            _STATUS_ACTIVE_DISABLED,
            _ICON,
        ),
        _entity("users", "user", "USR", None, _NAME, _ref("account", "accounts"), _ICON, _STATUS_ACTIVE_DISABLED),
        _entity(
            "api-tokens",
            "api-token",
            "TKN",
            2,
            _NAME,
            _ref("account", "accounts"),
            Field("secretSha256", "sha256", required=True),
            _STATUS_ACTIVE_DISABLED,
        ),
        _entity(
            "sellers",
            "seller",
            "SEL",
            2,
            _NAME,
            _string("externalId", required=True),
            _ICON,
            _STATUS,
            _address(country_required=True),
            Field("currencies", "currencies"),
            _object(
                "erpLink",
                _string("id", required=True),
                _string("name", required=True),
                _string("status", default="Active"),
                required=True,
            ),
            _object("erp", _string("company", required=True), _string("countryCode", required=True), required=True),
        ),
        _entity(
            "buyers",
            "buyer",
            "BUY",
            2,
            _NAME,
            _ref("client", "accounts", account_type="Client"),
            _ICON,
            _STATUS,
            _address(country_required=False),
            _CONTACT,
            _erp_customers(required=True),
        ),
        _entity(
            "licensees",
            "licensee",
            "LCE",
            None,
            _NAME,
            _ref("client", "accounts", account_type="Client"),
            _ref("buyer", "buyers"),
            _string("externalId"),
            _ICON,
            _STATUS,
            _address(country_required=False),
            _CONTACT,
            _erp_customers(required=False),
        ),
        _entity(
            "products",
            "product",
            "PRD",
            2,
            _NAME,
            _ref("vendor", "accounts", account_type="Vendor"),
            _ICON,
            _STATUS,
            _external_ids("operations"),
        ),
        _entity(
            "items",
            "item",
            "ITM",
            None,
            _NAME,
            _ref("product", "products"),
            _external_ids("vendor", "operations"),
            _STATUS,
        ),
        _entity(
            "agreements",
            "agreement",
            "AGR",
            None,
            _NAME,
            _ref("client", "accounts", account_type="Client"),
            _ref("buyer", "buyers"),
            _ref("seller", "sellers"),
            _ref("product", "products"),
            _ref("vendor", "accounts", account_type="Vendor"),
            _ref("licensee", "licensees", required=False),
            _ICON,
            _STATUS,
            Field("currency", "currency"),
            Field("defaultMarkup", "decimal"),
            _external_ids("vendor", "operations"),
            Field(
                "split",
                "objects",
                fields=(_ref("agreement", "agreements"), Field("percentage", "decimal", required=True)),
            ),
        ),
        _sold_object("subscriptions", "subscription", "SUB"),
        _sold_object("assets", "asset", "AST"),
        _entity(
            "authorizations",
            "authorization",
            "AUT",
            2,
            _NAME,
            _ref("vendor", "accounts", account_type="Vendor"),
            _ref("product", "products"),
            _ref("owner", "sellers"),
            Field("currency", "currency", required=True),
            _external_ids("vendor", "operations"),
            _STATUS,
        ),
        _entity(
            "pricing-policies",
            "pricing-policy",
            "PRP",
            None,
            _NAME,
            _ref("client", "accounts", account_type="Client"),
            Field("products", "refs", target="products"),
            Field("markup", "decimal"),
            Field("margin", "decimal"),
            _STATUS,
        ),
    )
}

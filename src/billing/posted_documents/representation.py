"""The API representation of invoices and credit memos (billing-api.md §6.8–6.11) and its inverse.

`render` gives every member of the representation (absent values as null, addresses with all 16 members), from
the columns and the ``erp_data``/``price`` JSON documents. `bind_shape` reads a request body against the same
member tree (names matched case-insensitively, numbers and dates converted, unknown members ignored, §3.2), and
`to_data` turns a (merged) representation into the neutral `PostedDocumentData` the upsert takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from billing.errors import ValidationFailed
from billing.kit.money import NotANumber, in_range, round6, to_decimal
from billing.kit.timeutil import parse_instant
from billing.posted_documents.data import PostedDocumentData, PostedLineData
from billing.posted_documents.kinds import DocKind
from billing.reference.refs import RefResolver

STR, DEC, INT, DATE = "string", "decimal", "integer", "date-time"
Shape = Mapping[str, Any]  # member → STR | DEC | INT | DATE | nested Shape

ADDRESS_MEMBERS = (
    "name",
    "name2",
    "email",
    "customerNo",
    "addressLine1",
    "addressLine2",
    "addressLine3",
    "city",
    "postCode",
    "county",
    "country",
    "contactName",
    "contactNo",
    "contactEmail",
    "contactPhone",
    "code",
)
ADDRESS: Shape = dict.fromkeys(ADDRESS_MEMBERS, STR)
ADDRESSES: Shape = {"billTo": ADDRESS, "licenseTo": ADDRESS, "sellTo": ADDRESS, "shipTo": ADDRESS}

INVOICE_ERP: Shape = {
    "erpId": STR,
    "documentNo": STR,
    "documentDate": DATE,
    "dueDate": DATE,
    "balanceDue": DEC,
    "invoiceTotal": DEC,
    "postingDate": DATE,
    "rowVersion": INT,
    "yourReference": STR,
    "addresses": ADDRESSES,
    "referenceNumber": {"eInvoiceNo": STR, "orderNo": STR, "ppqNo": STR, "quoteNo": STR},
    "payment": {"methodCode": STR, "termsCode": STR},
}
CREDIT_MEMO_ERP: Shape = {
    "addresses": ADDRESSES,
    "appliesToDocNo": STR,
    "balanceDue": DEC,
    "creditMemoTotal": DEC,
    "currencyCode": STR,
    "documentDate": DATE,
    "documentNo": STR,
    "erpId": STR,
    "externalDocumentNo": STR,
    "externalDocumentNo2": STR,
    "insideSalesCode": STR,
    "navisionCountryCode": STR,
    "postingDate": DATE,
    "responsibilityCenterCode": STR,
    "rowVersion": INT,
    "salesPersonCode": STR,
    "shipmentMethodCode": STR,
    "vatRegistrationNo": STR,
    "yourReference": STR,
}
PRICE: Shape = {
    "currency": STR,
    "currencyFactor": DEC,
    "currencyFactor2": DEC,
    "markup": DEC,
    "margin": DEC,
    "totalPP": DEC,
    "totalSP": DEC,
    "totalST": DEC,
    "totalGT": DEC,
}
#: ``erpData`` members kept in columns (the rest is the ``erp_data`` JSON document).
ERP_COLUMNS = frozenset(
    {
        "erpId",
        "documentNo",
        "documentDate",
        "postingDate",
        "dueDate",
        "balanceDue",
        "invoiceTotal",
        "creditMemoTotal",
        "appliesToDocNo",
        "rowVersion",
    }
)
PRICE_COLUMNS = frozenset({"currency", "totalSP", "totalGT"})

_LINE_ERP_COMMON: dict[str, Any] = {
    "contractNo": STR,
    "countryOfUsage": STR,
    "dataOrigin": INT,
    "externalPositionNo": STR,
    "navisionCountryCode": STR,
    "parentItemNo": STR,
    "primary": {"identifier": STR, "value": STR, "version": STR},
    "secondary": {"identifier": STR, "value": STR, "version": STR},
    "rowVersion": INT,
    "responsibilityCenterCode": STR,
    "swoPurchaseOrderNo": STR,
    "type": INT,
    "unitOfMeasure": STR,
    "varAgreementNo": STR,
    "varPartnerNo": STR,
}
INVOICE_LINE_ERP: Shape = {
    **_LINE_ERP_COMMON,
    "msrp": DEC,
    "timestamp": INT,
    "sellToContactNo": STR,
    "externalDocumentNo": STR,
    "externalDocumentNo2": STR,
    "yourReference": STR,
}
CREDIT_MEMO_LINE_ERP: Shape = dict(_LINE_ERP_COMMON)
_LINE_PRICE_COMMON: dict[str, Any] = {
    "amount": DEC,
    "amountIncludingVat": DEC,
    "discountAmount": DEC,
    "lineAmount": DEC,
    "quantity": DEC,
    "unitPrice": DEC,
    "vatBaseAmount": DEC,
    "vatCalculationType": INT,
    "vatPercent": DEC,
    "purchaseCurrencyCode": STR,
    "purchaseCurrencyFactor": DEC,
    "purchasePrice": DEC,
    "purchasePriceLcy": DEC,
    "purchasePriceTotal": DEC,
    "purchasePriceTotalLcy": DEC,
    "salesMarkup": DEC,
    "salesMargin": DEC,
}
INVOICE_LINE_PRICE: Shape = dict(_LINE_PRICE_COMMON)
CREDIT_MEMO_LINE_PRICE: Shape = {**_LINE_PRICE_COMMON, "invoiceDiscountAmount": DEC}
LINE_PRICE_COLUMNS = frozenset({"quantity", "unitPrice", "amount"})


def erp_shape(kind: DocKind) -> Shape:
    return INVOICE_ERP if kind.doc_type == "invoice" else CREDIT_MEMO_ERP


def line_shape(kind: DocKind) -> Shape:
    invoice = kind.doc_type == "invoice"
    return {
        "lineNo": INT,
        "documentNo": STR,
        "itemNo": STR,
        "description": STR,
        "description2": STR,
        "period": {"start": DATE, "end": DATE},
        "erpData": INVOICE_LINE_ERP if invoice else CREDIT_MEMO_LINE_ERP,
        "price": INVOICE_LINE_PRICE if invoice else CREDIT_MEMO_LINE_PRICE,
    }


def document_shape(kind: DocKind) -> Shape:
    """The writable body of POST and PUT: ``statement``/``seller`` references, erpData, price, lines."""
    return {
        "statement": {"id": STR},
        "seller": {"id": STR},
        "erpData": erp_shape(kind),
        "price": PRICE,
        "lines": [line_shape(kind)],
    }


# --- output -------------------------------------------------------------------------------------------------------


def _filled(shape: Shape, stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every member of ``shape`` from ``stored`` (null when absent), nested objects filled the same way."""
    get = stored.get if isinstance(stored, Mapping) else _absent
    names, nested = _layout(shape)
    result = {name: get(name) for name in names}
    for name, inner in nested:
        result[name] = _filled(inner, result[name])  # same key: the member keeps its place
    return result


def _absent(_name: str) -> None:
    return None


_LAYOUTS: dict[int, tuple[Shape, tuple[str, ...], tuple[tuple[str, Shape], ...]]] = {}


def _layout(shape: Shape) -> tuple[tuple[str, ...], tuple[tuple[str, Shape], ...]]:
    """A shape's member names and its nested object members, worked out once per shape (lists render every
    member of every document, so this is a hot path)."""
    known = _LAYOUTS.get(id(shape))
    if known is None or known[0] is not shape:
        nested = tuple((name, kind) for name, kind in shape.items() if isinstance(kind, Mapping))
        known = _LAYOUTS[id(shape)] = (shape, tuple(shape), nested)
    return known[1], known[2]


def render_erp_data(kind: DocKind, document: Any) -> dict[str, Any]:
    stored = dict(document.erp_data or {})
    stored.update(
        erpId=document.erp_id,
        documentNo=document.document_no,
        documentDate=document.document_date,
        postingDate=document.posting_date,
        balanceDue=document.balance_due,
        rowVersion=document.row_version,
    )
    if kind.doc_type == "invoice":
        stored.update(dueDate=document.due_date, invoiceTotal=document.invoice_total)
    else:
        stored.update(appliesToDocNo=document.applies_to_doc_no, creditMemoTotal=document.credit_memo_total)
    return _filled(erp_shape(kind), stored)


def render_price(document: Any) -> dict[str, Any]:
    stored = dict(document.price or {})
    stored.update(currency=document.currency, totalSP=document.total_sp, totalGT=document.total_gt)
    if stored.get("totalST") is None:
        stored["totalST"] = document.total_gt - document.total_sp
    return _filled(PRICE, stored)


def render_line(kind: DocKind, line: Any) -> dict[str, Any]:
    """The embedded line (§6.9); the sub-resource adds its parent reference."""
    shape = line_shape(kind)
    price = dict(line.price or {})
    price.update(quantity=line.quantity, unitPrice=line.unit_price, amount=line.amount)
    return {
        "id": line.id,
        "lineNo": line.line_no,
        "documentNo": line.document_no,
        "itemNo": line.item_no,
        "description": line.description,
        "description2": line.description2,
        "period": {"start": line.period_start, "end": line.period_end},
        "erpData": _filled(shape["erpData"], line.erp_data),
        "price": _filled(shape["price"], price),
    }


def render(kind: DocKind, document: Any, lines: list[Any], refs: RefResolver) -> dict[str, Any]:
    seller = refs.seller(document.seller_id) if document.seller_id else None
    if seller is not None:
        seller["erpLink"] = (refs.doc("sellers", document.seller_id) or {}).get("erpLink")
    return {
        "id": document.id,
        "status": document.status,
        "statement": {"id": document.statement_id} if document.statement_id else None,
        "billingType": document.billing_type,
        "client": refs.account(document.client_id),
        "vendor": refs.account(document.vendor_id),
        "buyer": refs.buyer(document.buyer_id),
        "seller": seller,
        "licensee": refs.licensee(document.licensee_id),
        "product": refs.product(document.product_id),
        "agreement": refs.agreement(document.agreement_id),
        "erpData": render_erp_data(kind, document),
        "price": render_price(document),
        "lines": [render_line(kind, line) for line in lines],
        "audit": document.audit,
    }


# --- input --------------------------------------------------------------------------------------------------------


def _scalar(kind: str, value: Any, path: str) -> Any:
    if value is None:
        return None
    if kind == STR:
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal | float):
            raise ValidationFailed.one(path, "The value must be a string.")
        return str(value)
    if kind == DATE:
        try:
            return parse_instant(value) if isinstance(value, str) else _fail(path, "date")
        except ValueError:
            return _fail(path, "date")
    try:
        number = to_decimal(value)
    except NotANumber:
        return _fail(path, "number")
    if not in_range(number):
        raise ValidationFailed.one(path, "The value is out of range.")
    if kind == INT:
        if number != number.to_integral_value() or abs(number) >= 2**63:
            raise ValidationFailed.one(path, "The value must be an integer.")
        return int(number)
    return round6(number)


def _fail(path: str, what: str) -> Any:
    message = "The value must be an ISO 8601 date or date-time." if what == "date" else "The value must be a number."
    raise ValidationFailed.one(path, message)


def bind_shape(shape: Shape, data: Any, path: str = "") -> dict[str, Any]:
    """Read ``data`` against ``shape``: case-insensitive names (the last occurrence wins), unknown members
    ignored, values converted; only the members present are returned (PUT merges them)."""
    if not isinstance(data, Mapping):
        raise ValidationFailed.one(path or "body", "The value must be a JSON object.")
    canonical = {name.casefold(): name for name in shape}
    result: dict[str, Any] = {}
    for key, value in data.items():
        name = canonical.get(key.casefold()) if isinstance(key, str) else None
        if name is None:
            continue
        kind = shape[name]
        where = f"{path}.{name}" if path else name
        if isinstance(kind, list):
            if value is None:
                result[name] = []
                continue
            if not isinstance(value, list):
                raise ValidationFailed.one(where, "The value must be a JSON array.")
            result[name] = [bind_shape(kind[0], item, f"{where}[{index}]") for index, item in enumerate(value)]
        elif isinstance(kind, Mapping):
            result[name] = None if value is None else bind_shape(kind, value, where)
        else:
            result[name] = _scalar(kind, value, where)
    return result


def merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """PUT semantics (§3.8): objects merge recursively, arrays and scalars are replaced, null clears."""
    result = dict(base)
    for name, value in patch.items():
        current = result.get(name)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            result[name] = merge(current, value)
        else:
            result[name] = value
    return result


def _rest(values: Mapping[str, Any] | None, columns: frozenset[str]) -> dict[str, Any]:
    """The members that are not columns, without nulls (absent and null read the same)."""
    return {
        name: _compact(value) for name, value in (values or {}).items() if name not in columns and value is not None
    }


def _compact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {name: _compact(member) for name, member in value.items() if member is not None}
    return value


def _line_data(line: Mapping[str, Any], index: int) -> PostedLineData:
    if line.get("lineNo") is None:
        raise ValidationFailed.one(f"lines[{index}].lineNo", "The property is required.")
    period = line.get("period") or {}
    price = line.get("price") or {}
    return PostedLineData(
        line_no=line["lineNo"],
        document_no=line.get("documentNo"),
        item_no=line.get("itemNo"),
        description=line.get("description"),
        description2=line.get("description2"),
        period_start=period.get("start"),
        period_end=period.get("end"),
        quantity=price.get("quantity"),
        unit_price=price.get("unitPrice"),
        amount=price.get("amount"),
        erp_data=_rest(line.get("erpData"), frozenset()),
        price=_rest(price, LINE_PRICE_COLUMNS),
    )


def to_data(kind: DocKind, body: Mapping[str, Any], *, currency: str, seller_id: str | None) -> PostedDocumentData:
    """The neutral form of a bound (and, for PUT, merged) representation. ``erpData.documentNo`` is required;
    the statement hint is ``statement.id``, else ``externalDocumentNo``, else ``yourReference``."""
    erp = body.get("erpData") or {}
    price = body.get("price") or {}
    document_no = (erp.get("documentNo") or "").strip()
    if not document_no:
        raise ValidationFailed.one("erpData.documentNo", "The property is required.")
    if len(document_no) > 32:
        raise ValidationFailed.one("erpData.documentNo", "The value must be at most 32 characters.")
    erp_id = (erp.get("erpId") or "").strip() or document_no
    if len(erp_id) > 32:
        raise ValidationFailed.one("erpData.erpId", "The value must be at most 32 characters.")
    lines = [_line_data(line, index) for index, line in enumerate(body.get("lines") or [])]
    numbers = [line.line_no for line in lines]
    if len(set(numbers)) != len(numbers):
        raise ValidationFailed.one("lines", "Each line must have a distinct lineNo.")
    statement = (body.get("statement") or {}).get("id")
    hint = statement or erp.get("externalDocumentNo") or erp.get("yourReference")
    total_sp = price.get("totalSP") or Decimal(0)
    total_gt = price.get("totalGT")
    if total_gt is None:
        total_gt = erp.get("invoiceTotal") if kind.doc_type == "invoice" else erp.get("creditMemoTotal")
    if total_gt is None:
        total_gt = total_sp + (price.get("totalST") or Decimal(0))
    return PostedDocumentData(
        doc_type=kind.doc_type,
        document_no=document_no,
        erp_id=erp_id,
        external_document_no=hint,
        pre_assigned_no=erp_id if erp_id != document_no else None,
        document_date=erp.get("documentDate"),
        posting_date=erp.get("postingDate"),
        due_date=erp.get("dueDate") if kind.doc_type == "invoice" else None,
        currency=currency,
        total_sp=total_sp,
        total_gt=total_gt,
        balance_due=erp.get("balanceDue"),
        row_version=erp.get("rowVersion"),
        erp_modified_at=None,
        erp_data=_rest(erp, ERP_COLUMNS),
        price=_rest(price, PRICE_COLUMNS),
        lines=tuple(lines),
        applies_to_doc_no=erp.get("appliesToDocNo") if kind.doc_type == "credit_memo" else None,
        seller_id=seller_id,
    )


def stored_representation(kind: DocKind, document: Any, lines: list[Any]) -> dict[str, Any]:
    """What a PUT merges into: the writable part of the current representation (no references)."""
    return {
        "erpData": render_erp_data(kind, document),
        "price": render_price(document),
        "lines": [{key: value for key, value in render_line(kind, line).items() if key != "id"} for line in lines],
    }

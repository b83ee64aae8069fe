"""Posted ERP document → invoice / credit memo data (erp-integration.md §1.8).

Records arrive as the gateway reads them: field → text, the lines subpage as ``{line type: [records]}``. Dates
become midnight UTC (the ERP's empty dates ``0001-01-01`` and ``1753-01-01`` become None), decimals stay exact,
derived figures have six places. ``licenseTo`` comes from the Sell-to customer's record, looked up through
``customer(no)`` (cached by the caller). A record the mapping cannot read raises `MappingError` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from billing.erp.pages import LINE_TYPES, VAT_CALCULATION_TYPES
from billing.erp.settings import ErpSettings
from billing.posted_documents.data import DocType, PostedDocumentData, PostedLineData

EMPTY_DATES = ("", "0001-01-01", "1753-01-01")
_SIX = Decimal("0.000001")
CustomerLookup = Callable[[str], Mapping[str, Any] | None]


class MappingError(ValueError):
    """A posted document the service cannot read (an unparsable number or date): the page is not imported."""


def posted_document(
    doc_type: DocType, record: Mapping[str, Any], settings: ErpSettings, customer: CustomerLookup
) -> PostedDocumentData:
    """The neutral form of one posted invoice or credit memo record."""
    no = _text(record, "No")
    if not no:
        raise MappingError("A posted document without a No.")
    try:
        return _document(doc_type, no, record, settings, customer)
    except (InvalidOperation, ValueError) as exc:
        raise MappingError(f"Posted document {no}: {exc}") from exc


def _document(
    doc_type: DocType, no: str, record: Mapping[str, Any], settings: ErpSettings, customer: CustomerLookup
) -> PostedDocumentData:
    pre_assigned = _text(record, "Pre_Assigned_No") or None
    external = _text(record, "External_Document_No") or None
    currency = _text(record, "Currency_Code") or settings.local_currency
    factor = _decimal(record, "Currency_Factor") if _text(record, "Currency_Code") else Decimal(1)
    total_sp = _decimal(record, "Amount") or Decimal(0)
    total_gt = _decimal(record, "Amount_Including_VAT") or Decimal(0)
    lines = tuple(_line(doc_type, line, record) for line in _line_records(record))
    total_pp = sum(
        ((line.price.get("purchasePriceTotal") or Decimal(0)) for line in lines),
        Decimal(0),
    )
    your_reference = _text(record, "Your_Reference") or None
    erp_data: dict[str, Any] = {
        "yourReference": your_reference,
        "addresses": _addresses(record, customer),
    }
    if doc_type == "invoice":
        erp_data["referenceNumber"] = {
            "eInvoiceNo": _text(record, "E_Invoice_No") or None,
            "orderNo": _text(record, "Order_No") or None,
            "ppqNo": _mapped(record, settings, "header.ppq_no"),
            "quoteNo": _text(record, "Quote_No") or None,
        }
        erp_data["payment"] = {
            "methodCode": _text(record, "Payment_Method_Code") or None,
            "termsCode": _text(record, "Payment_Terms_Code") or None,
        }
    else:
        erp_data |= {
            "currencyCode": currency,
            "externalDocumentNo": external,
            "externalDocumentNo2": None,
            "insideSalesCode": None,
            "navisionCountryCode": settings.country_code,
            "responsibilityCenterCode": None,
            "salesPersonCode": None,
            "shipmentMethodCode": None,
            "vatRegistrationNo": None,
        }
    price = {
        "currencyFactor": factor,
        "currencyFactor2": factor,
        "totalPP": total_pp,
        "totalST": total_gt - total_sp,
        "markup": _ratio(total_sp - total_pp, total_pp),
        "margin": _ratio(total_sp - total_pp, total_sp),
    }
    row_version = _text(record, "Row_Version")
    return PostedDocumentData(
        doc_type=doc_type,
        document_no=no,
        erp_id=pre_assigned or no,
        external_document_no=external.upper() if external else None,
        pre_assigned_no=pre_assigned,
        document_date=_date(record, "Document_Date"),
        posting_date=_date(record, "Posting_Date"),
        due_date=_date(record, "Due_Date") if doc_type == "invoice" else None,
        currency=currency,
        total_sp=total_sp,
        total_gt=total_gt,
        balance_due=_decimal(record, "Remaining_Amount"),
        row_version=int(row_version) if row_version else None,
        erp_modified_at=_datetime(record, "SystemModifiedAt"),
        erp_data=erp_data,
        price=price,
        lines=lines,
        applies_to_doc_no=(_text(record, "Applies_to_Doc_No") or None) if doc_type == "credit_memo" else None,
    )


def _line_records(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for key in ("SalesInvLines", "SalesCrMemoLines"):
        holder = record.get(key)
        if isinstance(holder, Mapping):
            return [line for lines in holder.values() for line in lines]
    return []


def _line(doc_type: DocType, line: Mapping[str, Any], header: Mapping[str, Any]) -> PostedLineData:
    quantity = _decimal(line, "Quantity")
    purchase_price = _decimal(line, "Purchase_Price")
    line_type = _text(line, "Type") or LINE_TYPES[0]
    vat_type = _text(line, "VAT_Calculation_Type")
    erp_data: dict[str, Any] = {
        "contractNo": _text(line, "Contract_No") or None,
        "countryOfUsage": None,
        "dataOrigin": None,
        "externalPositionNo": None,
        "navisionCountryCode": None,
        "parentItemNo": None,
        "primary": {"identifier": None, "value": None, "version": None},
        "secondary": {"identifier": None, "value": None, "version": None},
        "rowVersion": int(_text(line, "Row_Version") or 0),
        "responsibilityCenterCode": None,
        "swoPurchaseOrderNo": None,
        "type": LINE_TYPES.index(line_type) if line_type in LINE_TYPES else 0,
        "unitOfMeasure": _text(line, "Unit_of_Measure_Code") or None,
        "varAgreementNo": None,
        "varPartnerNo": None,
    }
    if doc_type == "invoice":
        erp_data |= {
            "msrp": None,
            "timestamp": None,
            "sellToContactNo": _text(header, "Sell_to_Contact_No") or None,
            "externalDocumentNo": _text(header, "External_Document_No") or None,
            "externalDocumentNo2": None,
            "yourReference": _text(header, "Your_Reference") or None,
        }
    price: dict[str, Any] = {
        "amountIncludingVat": _decimal(line, "Amount_Including_VAT"),
        "discountAmount": _decimal(line, "Line_Discount_Amount"),
        "lineAmount": _decimal(line, "Line_Amount"),
        "vatBaseAmount": _decimal(line, "VAT_Base_Amount"),
        "vatCalculationType": VAT_CALCULATION_TYPES.index(vat_type) if vat_type in VAT_CALCULATION_TYPES else 0,
        "vatPercent": _decimal(line, "VAT_Percent"),
        "purchaseCurrencyCode": _text(line, "Purchase_Currency_Code") or None,
        "purchaseCurrencyFactor": None,
        "purchasePrice": purchase_price,
        "purchasePriceLcy": None,
        "purchasePriceTotal": purchase_price * quantity
        if purchase_price is not None and quantity is not None
        else None,
        "purchasePriceTotalLcy": None,
        "salesMarkup": None,
        "salesMargin": None,
    }
    if doc_type == "credit_memo":
        price["invoiceDiscountAmount"] = None
    return PostedLineData(
        line_no=int(_text(line, "Line_No") or 0),
        document_no=_text(line, "Document_No") or None,
        item_no=_text(line, "No") or None,
        description=_text(line, "Description") or None,
        description2=_text(line, "Description_2") or None,
        period_start=_date(line, "Period_Start"),
        period_end=_date(line, "Period_End"),
        quantity=quantity,
        unit_price=_decimal(line, "Unit_Price"),
        amount=_decimal(line, "Amount"),
        erp_data=erp_data,
        price=price,
    )


def _addresses(record: Mapping[str, Any], customer: CustomerLookup) -> dict[str, Any]:
    sell_to_no = _text(record, "Sell_to_Customer_No")
    bill_to_no = _text(record, "Bill_to_Customer_No")
    sell_to_customer = customer(sell_to_no) if sell_to_no else None
    bill_to_customer = customer(bill_to_no) if bill_to_no else None

    def from_document(prefix: str, name: str, customer_no: str, party: Mapping[str, Any] | None) -> dict[str, Any]:
        return {
            "name": _text(record, name) or None,
            "name2": _text(record, f"{name}_2") or None,
            "email": (_text(party, "E_Mail") or None) if party else None,
            "customerNo": customer_no or None,
            "addressLine1": _text(record, f"{prefix}Address") or None,
            "addressLine2": _text(record, f"{prefix}Address_2") or None,
            "addressLine3": None,
            "city": _text(record, f"{prefix}City") or None,
            "postCode": _text(record, f"{prefix}Post_Code") or None,
            "county": _text(record, f"{prefix}County") or None,
            "country": _text(record, f"{prefix}Country_Region_Code") or None,
            "contactName": _text(record, f"{prefix}Contact") or None,
            "contactNo": (_text(record, f"{prefix}Contact_No") or None) if prefix != "Ship_to_" else None,
            "contactEmail": None,
            "contactPhone": (_text(party, "Phone_No") or None) if party else None,
            "code": None,
        }

    sell_to = from_document("Sell_to_", "Sell_to_Customer_Name", sell_to_no, sell_to_customer)
    sell_to["contactPhone"] = _text(record, "Sell_to_Phone_No") or None
    sell_to["contactEmail"] = _text(record, "Sell_to_E_Mail") or None
    bill_to = from_document("Bill_to_", "Bill_to_Name", bill_to_no, bill_to_customer)
    ship_to = from_document("Ship_to_", "Ship_to_Name", sell_to_no, None)
    ship_to["code"] = _text(record, "Ship_to_Code") or None
    ship_to["email"] = ship_to["contactPhone"] = None
    return {
        "billTo": bill_to,
        "licenseTo": _customer_address(sell_to_customer),
        "sellTo": sell_to,
        "shipTo": ship_to,
    }


def _customer_address(party: Mapping[str, Any] | None) -> dict[str, Any]:
    def field(name: str) -> str | None:
        return (_text(party, name) or None) if party else None

    return {
        "name": field("Name"),
        "name2": field("Name_2"),
        "email": field("E_Mail"),
        "customerNo": field("No"),
        "addressLine1": field("Address"),
        "addressLine2": field("Address_2"),
        "addressLine3": None,
        "city": field("City"),
        "postCode": field("Post_Code"),
        "county": field("County"),
        "country": field("Country_Region_Code"),
        "contactName": field("Contact"),
        "contactNo": field("Primary_Contact_No"),
        "contactEmail": None,
        "contactPhone": field("Phone_No"),
        "code": None,
    }


def _mapped(record: Mapping[str, Any], settings: ErpSettings, logical: str) -> str | None:
    """A value read from the field ``erp.field_map`` names for ``logical`` (None when not mapped)."""
    source = settings.field_map.get(logical)
    return (_text(record, source) or None) if source else None


def _text(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    return value.strip() if isinstance(value, str) else ""


def _decimal(record: Mapping[str, Any], name: str) -> Decimal | None:
    text = _text(record, name)
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"{name} is not a number: {text!r}") from exc


def _date(record: Mapping[str, Any], name: str) -> datetime | None:
    text = _text(record, name)
    if text in EMPTY_DATES or text == "_blank_":
        return None
    try:
        day = date.fromisoformat(text[:10])
    except ValueError as exc:
        raise ValueError(f"{name} is not a date: {text!r}") from exc
    return datetime(day.year, day.month, day.day)


def _datetime(record: Mapping[str, Any], name: str) -> datetime | None:
    """An ERP date-time as naive UTC."""
    text = _text(record, name)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"{name} is not a date-time: {text!r}") from exc
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _ratio(numerator: Decimal, divisor: Decimal) -> Decimal | None:
    if not divisor:
        return None
    return (numerator / divisor * 100).quantize(_SIX, rounding=ROUND_HALF_UP)

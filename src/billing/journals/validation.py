"""Charge-line validation (billing-api.md §8.2, §8.4–8.6, §8.8): raw file records in, charge rows out.

Pure logic, on the hot path of every upload. `ChargeValidator.validate` turns one `RawLine` into the rows of
the ``charge`` table (column names of `billing.db.models.charge.Charge`) ready for a bulk insert: one row, or
a split parent followed by its children. The validator keeps state across the lines of one file (V03), so
use one instance per upload and feed it the lines in file order.

Rules run in the order of the §8.5 table and every failure is recorded; a rule whose input failed an earlier
rule is skipped (e.g. no V08 once V05 rejected the source type, no V23 once V20 rejected the quantity), and
V01 stops the line. Messages start with ``Line {n}: ``.

Two paths give the same rows. The fast path takes lines written in the canonical shape whose every rule
passes (the bulk of a real file) with as few operations as possible, and gives up at the first thing it does
not expect; the general path (`billing.journals.charge_rules`) then validates the line from scratch, with
every binding rule of §3.2 and every message. A test checks that both paths agree.

Decisions where the spec is silent:

* Missing ``search.source.type`` / ``criteria`` are reported by V05 / V06 with an empty value (``''``); a
  missing or blank ``search.item.value`` fails V13 (``Item '' was not found …``).
* Criteria, source types, segments and currency codes are matched case-insensitively (they name properties
  or codes); ids are looked up as given, then upper-cased (ids are case-insensitive, §3.1); vendor ids exactly.
* Blank strings count as absent for ``externalIds.vendor`` (V02), source value (V07), periods (V17),
  ``price.currency``, ``segment``.
* V23 compares the PPx1 as stored (rounded to 6 places); a PPx1 defaulted to ``unitPP × quantity`` that
  reaches 10^15 fails with V22's "out of range" message.
* V25 is also checked for the agreements of the split allocations: a child would be billed in its own
  agreement's currency, so a mismatch fails the line (children of a failed line are not produced).
* ``product_id`` comes from the agreement (§8.4 step 2) and is null when the source is unresolved;
  ``vendor_id``, ``authorization_id`` and ``currency_purchase`` are the journal's on every row.
* Split children keep the parent's subscription/asset (the source), item, order and everything not tied to
  the agreement; ``order_id`` is recorded only when it fits its column (32 characters), ``search`` keeps it.
* An invalid segment is not stored (``segment`` null); the raw value is in the error message.
* External ids longer than 255 characters (§3.14; the width of their columns) fail the line with
  ``'externalIds.{name}' is longer than 255 characters.`` in V02's place and are not stored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billing.db.models.charge import Charge
from billing.journals.charge_binding import (
    ATTRIBUTES,
    CRITERION,
    DESCRIPTION,
    EXACT,
    EXTERNAL_IDS,
    PERIOD,
    PRICE,
    SOURCE,
    TOP,
    amount,
    bind,
    quick_amount,
    round6,
    text,
)
from billing.journals.charge_rules import (
    BY_ID,
    INVALID,
    ITEM_CRITERIA,
    MAX_EXTERNAL_ID,
    ORDER_CRITERIA,
    ORDER_ID_WIDTH,
    SEGMENTS,
    SOURCE_CRITERIA,
    SOURCE_KINDS,
    check_agreement_currency,
    check_currency,
    check_period,
    check_search,
    check_segment,
    check_total,
    within_tolerance,
)
from billing.journals.files import RawLine
from billing.journals.resolution import AgreementFacts, JournalContext, ReferenceIndex
from billing.kit.ids import digits_of
from billing.kit.money import in_range

__all__ = ["ChargeValidator", "JournalContext", "RawLine", "ReferenceIndex"]

_COLUMNS = tuple(Charge.__table__.columns.keys())
_HUNDRED = Decimal(100)
#: externalIds member → its column
_EXTERNAL_COLUMNS = (
    ("vendor", "external_vendor"),
    ("invoice", "external_invoice"),
    ("reference", "external_reference"),
)
#: "00" … "99": the last 4 digits of a charge id are two of them.
_TWO_DIGITS = tuple(f"{number:02d}" for number in range(100))
#: Per-upload caches are cleared when they grow past this many entries.
_CACHE_SIZE = 4096
_NOT_FAST = object()
_UNKNOWN = object()
#: Input types whose equal values bind to the same number (int 1 == Decimal("1.0")); others are never numbers
#: on the fast path.
_REMEMBERED_NUMBERS = frozenset({int, str, Decimal})

#: Canonical member names (the fast path takes only objects written with them).
_TOP_NAMES, _EXTERNAL_NAMES, _PERIOD_NAMES, _PRICE_NAMES = TOP[0], EXTERNAL_IDS[0], PERIOD[0], PRICE[0]
_SOURCE_NAMES, _CRITERION_NAMES, _DESCRIPTION_NAMES, _ATTRIBUTE_NAMES = (
    SOURCE[0],
    CRITERION[0],
    DESCRIPTION[0],
    ATTRIBUTES[0],
)
#: ``search`` members of the current form (a legacy ``subscription`` member goes to the general path).
_SEARCH_NAMES = frozenset({"source", "order", "item"})


class ChargeValidator:
    """Validates the lines of one upload in file order; see the module docstring."""

    def __init__(self, context: JournalContext, index: ReferenceIndex) -> None:
        self._context = context
        self._index = index
        self._id_prefix = f"CHG-{digits_of(context.journal_id)}-"
        self._currency = context.currency
        self._product_message = f"product '{context.product_id}' of authorization '{context.authorization_id}'"
        self._manual_clients = frozenset(
            client for client, vendor in context.manual_pairs if vendor == context.vendor_id
        )
        #: externalIds.vendor → first line that used it (V03)
        self._seen: dict[str, int] = {}
        #: period text → naive-UTC datetime or INVALID
        self._instants: dict[Any, Any] = {}
        #: agreement id → the columns a charge copies from it (`_columns_of`)
        self._agreement_columns: dict[str, dict[str, Any]] = {}
        #: agreement id → the fast path's row template for it, or _NOT_FAST (`_fast_template`)
        self._fast_templates: dict[str, Any] = {}
        #: charge id digits 1–8 by seq // 10000 (`charge_id`)
        self._id_heads: dict[int, str] = {}
        #: raw number → its fast-path binding (`_amount`)
        self._amounts: dict[Any, Any] = {}
        #: every column of the charge table; the journal's facts set, the rest empty until a line fills them
        self._template: dict[str, Any] = dict.fromkeys(_COLUMNS) | {
            "journal_id": context.journal_id,
            "child": 0,
            "currency_purchase": context.currency,
            "billing_type": "Automated",
            "upload_status": "Error",
            "vendor_id": context.vendor_id,
            "authorization_id": context.authorization_id,
            "created_at": context.now,
            "updated_at": context.now,
        }

    def charge_id(self, seq: int) -> str:
        """``CHG-`` + journal digits + the 12-digit sequence in 3 groups (§12.1).

        The first 8 digits change every 100 lines, so they are formatted once per block and cached.
        """
        block, rest = divmod(seq, 10000)
        head = self._id_heads.get(block)
        if head is None:
            digits = f"{block:08d}"
            if len(self._id_heads) >= _CACHE_SIZE:
                self._id_heads.clear()
            head = self._id_heads[block] = f"{self._id_prefix}{digits[:4]}-{digits[4:]}-"
        return head + _TWO_DIGITS[rest // 100] + _TWO_DIGITS[rest % 100]

    def _amount(self, raw: Any) -> Decimal | None:
        """`quick_amount` remembered per upload: files repeat their quantities and unit prices."""
        if type(raw) not in _REMEMBERED_NUMBERS:  # e.g. True == 1: a boolean must not hit the entry of 1
            return None
        value = self._amounts.get(raw, _UNKNOWN)
        if value is _UNKNOWN:
            value = quick_amount(raw)
            if len(self._amounts) >= _CACHE_SIZE:
                self._amounts.clear()
            self._amounts[raw] = value
        return value

    def validate(self, raw: RawLine) -> list[dict[str, Any]]:
        """The charge rows of one record: one row, or a split parent followed by its children (§8.8)."""
        data = raw.data
        if type(data) is dict:
            try:
                rows = self._fast(raw.line, data)
            except (KeyError, TypeError, AttributeError):  # an unexpected shape: the general path reports it
                rows = None
            return rows if rows is not None else self._general(raw.line, data)
        row = self._template.copy()
        row["id"] = self.charge_id(raw.line * 100)
        row["line"] = raw.line
        row["seq"] = raw.line * 100
        row["attributes"] = {}
        row["upload_errors"] = [f"Line {raw.line}: Invalid JSON: {raw.error or 'not a JSON object'}."]
        return [row]

    def _fast(self, line: int, data: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The row of a line in the canonical shape that passes every rule and is not split; else None.

        Each check below is the exact-spelling case of a general-path rule; anything else returns None (or
        raises KeyError/TypeError/AttributeError on an unexpected shape) and the general path takes the line.
        """
        external = data["externalIds"]
        search = data["search"]
        source = search["source"]
        item_query = search["item"]
        period = data["period"]
        price = data["price"]
        if not (
            _TOP_NAMES.issuperset(data)
            and _EXTERNAL_NAMES.issuperset(external)
            and _SEARCH_NAMES.issuperset(search)
            and _SOURCE_NAMES.issuperset(source)
            and _CRITERION_NAMES.issuperset(item_query)
            and _PERIOD_NAMES.issuperset(period)
            and _PRICE_NAMES.issuperset(price)
        ):
            return None
        # V02, V03
        vendor_ref = external["vendor"]
        invoice = external.get("invoice")
        reference = external.get("reference")
        if (
            type(vendor_ref) is not str
            or not vendor_ref.strip()
            or len(vendor_ref) > MAX_EXTERNAL_ID
            or vendor_ref in self._seen
            or (invoice is not None and (type(invoice) is not str or len(invoice) > MAX_EXTERNAL_ID))
            or (reference is not None and (type(reference) is not str or len(reference) > MAX_EXTERNAL_ID))
        ):
            return None
        # V04–V10
        index = self._index
        kind = SOURCE_KINDS.get(source["type"])
        if kind is None:
            return None
        by = SOURCE_CRITERIA[kind].get(source["criteria"])
        if by is None:
            return None
        value = source["value"]
        if by == BY_ID:
            found = index.sources_by_id[kind].get(value)
        else:
            matches = index.sources_by_vendor[kind].get(value)
            found = matches[0] if matches is not None and len(matches) == 1 else None
        if found is None or found.agreement is None:
            return None
        # V11–V15
        item_by = ITEM_CRITERIA.get(item_query["criteria"])
        item_value = item_query["value"]
        if item_by == BY_ID:
            item = index.items_by_id.get(item_value)
        elif item_by is not None:
            item_matches = index.items_by_vendor.get(item_value)
            item = item_matches[0] if item_matches is not None and len(item_matches) == 1 else None
        else:
            return None
        if item is None or (found.items and item.id not in found.items):
            return None
        # V16
        order = search.get("order")
        order_id = None
        if order is not None:
            if not _CRITERION_NAMES.issuperset(order):
                return None
            order_criteria = order.get("criteria")
            if order_criteria is not None:
                if order_criteria != ORDER_CRITERIA:
                    return None
                order_id = order.get("value")
                if order_id is not None and (type(order_id) is not str or len(order_id) > ORDER_ID_WIDTH):
                    return None
        # V17–V19: periods already parsed by the general path (a file repeats a few of them)
        start = self._instants.get(period["start"])
        end = self._instants.get(period["end"])
        if start is None or end is None or start is INVALID or end is INVALID or end < start:
            return None
        # V20–V24
        quantity = self._amount(data["quantity"])
        unit_pp = self._amount(price["unitPP"])
        if quantity is None or unit_pp is None:
            return None
        expected = EXACT.multiply(unit_pp, quantity)
        raw_ppx1 = price.get("PPx1")
        ppx1: Decimal | None
        if raw_ppx1 is None:
            ppx1 = round6(expected)
            if not in_range(ppx1):
                return None
        else:
            ppx1 = self._amount(raw_ppx1)
            if ppx1 is None or (ppx1 != expected and within_tolerance(ppx1, expected) is not None):
                return None
        currency = price.get("currency")
        if currency is not None and currency != self._currency:
            return None
        # V25, V27 and the outcome come with the agreement's template
        template = self._fast_templates.get(found.agreement.id)
        if template is None:
            template = self._fast_template(found.agreement)
        if template is _NOT_FAST:
            return None
        # V26
        segment = data.get("segment")
        if segment is not None and segment not in SEGMENTS:
            return None
        description = data.get("description")
        value1 = value2 = None
        if description is not None:
            if not _DESCRIPTION_NAMES.issuperset(description):
                return None
            value1 = description.get("value1")
            value2 = description.get("value2")
            if (value1 is not None and type(value1) is not str) or (value2 is not None and type(value2) is not str):
                return None
        attributes = data.get("attributes")
        stored_attributes: dict[str, Any] = {}
        if attributes:
            if not _ATTRIBUTE_NAMES.issuperset(attributes):
                return None
            stored_attributes = {name: member for name, member in attributes.items() if type(member) is str}
            if len(stored_attributes) != len(attributes):
                return None

        self._seen[vendor_ref] = line
        seq = line * 100
        row: dict[str, Any] = template.copy()
        row["id"] = self.charge_id(seq)
        row["line"] = line
        row["seq"] = seq
        row["external_vendor"] = vendor_ref
        row["external_invoice"] = invoice
        row["external_reference"] = reference
        row["search"] = (
            {"source": source, "item": item_query}
            if order is None
            else {"source": source, "order": order, "item": item_query}
        )
        row["period_start"] = start
        row["period_end"] = end
        row["quantity"] = quantity
        row["unit_pp"] = unit_pp
        row["ppx1"] = ppx1
        row["segment"] = segment
        row["description1"] = value1
        row["description2"] = value2
        row["attributes"] = stored_attributes
        row["upload_errors"] = []
        if kind == "Subscription":
            row["subscription_id"] = found.id
        elif kind == "Asset":
            row["asset_id"] = found.id
        row["order_id"] = order_id
        row["item_id"] = item.id
        row["erp_item_id"] = item.erp_item_id
        return [row]

    def _fast_template(self, agreement: AgreementFacts) -> Any:
        """The row template of valid charges of an agreement that is neither split nor billed in another
        currency (journal facts, agreement columns, outcome), or _NOT_FAST. Cached per upload."""
        if agreement.split or agreement.split_problem is not None or agreement.currency not in (None, self._currency):
            template: Any = _NOT_FAST
        else:
            template = self._template | self._columns_of(agreement)
            template["upload_status"] = "Skipped" if template["billing_type"] == "Manual" else "Ready"
        if len(self._fast_templates) >= _CACHE_SIZE:
            self._fast_templates.clear()
        self._fast_templates[agreement.id] = template
        return template

    def _general(self, line: int, data: dict[str, Any]) -> list[dict[str, Any]]:
        """Every rule of §8.5 in table order, for any input shape (see `billing.journals.charge_rules`)."""
        seq = line * 100
        row = self._template.copy()
        row["id"] = self.charge_id(seq)
        row["line"] = line
        row["seq"] = seq
        errors: list[str] = []
        record: dict[str, Any] = bind(data, TOP)  # type: ignore[assignment]  # data is a dict

        # V02, V03 (and the §3.14 length of external ids, which their columns hold)
        external = bind(record.get("externalIds"), EXTERNAL_IDS) or {}
        vendor_ref = text(external.get("vendor"))
        if vendor_ref is None or not vendor_ref.strip():
            errors.append("'externalIds.vendor' is required.")
        elif len(vendor_ref) <= MAX_EXTERNAL_ID:
            first = self._seen.setdefault(vendor_ref, line)
            if first != line:
                errors.append(f"Duplicate 'externalIds.vendor' '{vendor_ref}'; already used on line {first}.")
        for name, column in _EXTERNAL_COLUMNS:
            value = vendor_ref if name == "vendor" else text(external.get(name))
            if value is not None and len(value) > MAX_EXTERNAL_ID:
                errors.append(f"'externalIds.{name}' is longer than {MAX_EXTERNAL_ID} characters.")
            else:
                row[column] = value

        # V04–V16
        source, item = check_search(self._index, self._product_message, record.get("search"), row, errors)
        agreement = source.agreement if source is not None else None

        # V17–V19
        check_period(self._instants, record.get("period"), row, errors)

        # V20–V23
        price = bind(record.get("price"), PRICE) or {}
        quantity = amount(record.get("quantity"), "quantity", True, errors)
        unit_pp = amount(price.get("unitPP"), "price.unitPP", True, errors)
        raw_ppx1 = price.get("PPx1")
        ppx1 = amount(raw_ppx1, "price.PPx1", False, errors)
        if quantity is not None and unit_pp is not None and (ppx1 is not None or raw_ppx1 is None):
            expected = EXACT.multiply(unit_pp, quantity)
            if ppx1 is None:
                ppx1 = round6(expected)
                if not in_range(ppx1):
                    errors.append("'price.PPx1' is out of range.")
                    ppx1 = None
            elif ppx1 != expected:
                check_total(ppx1, expected, errors)
        row["quantity"] = quantity
        row["unit_pp"] = unit_pp
        row["ppx1"] = ppx1

        # V24
        currency = price.get("currency")
        if currency is not None and currency != self._currency:
            check_currency(currency, self._currency, errors)

        # V25 (the source's agreement, then the split allocations')
        if agreement is not None and (agreement.split or agreement.currency not in (None, self._currency)):
            check_agreement_currency(agreement, self._context.authorization_id, self._currency, errors)

        # V26
        segment = record.get("segment")
        if segment is not None:
            if type(segment) is str and segment in SEGMENTS:
                row["segment"] = segment
            else:
                check_segment(segment, row, errors)

        # V27
        if agreement is not None and agreement.split_problem is not None:
            errors.append(f"Split billing of agreement '{agreement.id}' is invalid: {agreement.split_problem}.")

        description = bind(record.get("description"), DESCRIPTION)
        if description is not None:
            row["description1"] = text(description.get("value1"))
            row["description2"] = text(description.get("value2"))
        attributes = bind(record.get("attributes"), ATTRIBUTES)
        row["attributes"] = (
            {name: text(value) for name, value in attributes.items() if value is not None} if attributes else {}
        )
        if agreement is not None:
            row.update(self._agreement_columns.get(agreement.id) or self._columns_of(agreement))
        if item is not None:
            row["item_id"] = item.id
            row["erp_item_id"] = item.erp_item_id

        # §8.6 outcome
        if errors:
            prefix = f"Line {line}: "
            row["upload_errors"] = [prefix + message for message in errors]
            return [row]
        row["upload_errors"] = []
        if agreement is not None and agreement.split:
            row["upload_status"] = "Split"
            return self._split(row, agreement)
        row["upload_status"] = "Skipped" if row["billing_type"] == "Manual" else "Ready"
        return [row]

    def _columns_of(self, agreement: AgreementFacts) -> dict[str, Any]:
        """§8.4 steps 2, 5, 6: the references, ERP data and billing type a charge takes from its agreement."""
        columns = self._agreement_columns.get(agreement.id)
        if columns is None:
            columns = self._agreement_columns[agreement.id] = {
                "agreement_id": agreement.id,
                "client_id": agreement.client_id,
                "buyer_id": agreement.buyer_id,
                "licensee_id": agreement.licensee_id,
                "seller_id": agreement.seller_id,
                "product_id": agreement.product_id,
                "erp_country_code": agreement.erp_country_code,
                "cco": agreement.cco,
                "scu": agreement.scu,
                "billing_type": "Manual" if agreement.client_id in self._manual_clients else "Automated",
            }
        return columns

    def _split(self, parent: dict[str, Any], agreement: AgreementFacts) -> list[dict[str, Any]]:
        """The split parent and one child per allocation (§8.8); the last child absorbs the rounding remainder.

        Children copy the parent except what comes from the agreement; they keep the parent's source
        (subscription or asset), item and order.
        """
        rows = [parent]
        quantity: Decimal = parent["quantity"]
        ppx1: Decimal = parent["ppx1"]
        quantity_left, ppx1_left = quantity, ppx1
        last = len(agreement.split)
        for number, allocation in enumerate(agreement.split, start=1):
            child = parent.copy()
            seq = parent["seq"] + number
            child["id"] = self.charge_id(seq)
            child["child"] = number
            child["seq"] = seq
            child["parent_id"] = parent["id"]
            child["parent_external_vendor"] = parent["external_vendor"]
            child["split_percentage"] = allocation.percentage
            if number == last:
                child["quantity"], child["ppx1"] = quantity_left, ppx1_left
            else:
                share = round6(EXACT.divide(EXACT.multiply(quantity, allocation.percentage), _HUNDRED))
                total = round6(EXACT.divide(EXACT.multiply(ppx1, allocation.percentage), _HUNDRED))
                child["quantity"], child["ppx1"] = share, total
                quantity_left = EXACT.subtract(quantity_left, share)
                ppx1_left = EXACT.subtract(ppx1_left, total)
            child["search"] = dict(parent["search"])
            child["attributes"] = dict(parent["attributes"])
            child["upload_errors"] = []
            child.update(self._columns_of(allocation.agreement))
            child["upload_status"] = "Skipped" if child["billing_type"] == "Manual" else "Ready"
            rows.append(child)
        return rows

"""The rules of billing-api.md §8.5 that read the search, the period and the prices of one charge line.

Each function appends its messages (without the ``Line n:`` prefix) to ``errors`` in table order and stores
what it could read in the charge ``row``; `billing.journals.validation` calls them in table order. They are
the general path: every input shape, every message. (The validator's fast path accepts only lines these
functions would pass, and defers everything else to them.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from billing.journals.charge_binding import CRITERION, EXACT, PERIOD, SEARCH, SOURCE, bind, shown, text
from billing.journals.resolution import SOURCE_TYPES, AgreementFacts, ItemFacts, ReferenceIndex, SourceFacts
from billing.kit.money import format_decimal
from billing.kit.timeutil import format_instant, parse_instant

BY_ID = "id"
BY_VENDOR = "externalIds.vendor"
ORDER_CRITERIA = "order.id"
#: §3.14 limit of external ids, also the width of their columns.
MAX_EXTERNAL_ID = 255
#: Width of the ``order_id`` column: longer order ids stay in ``search`` only.
ORDER_ID_WIDTH = 32
SEGMENTS = frozenset({"COM", "GOV", "EDU"})
#: Marks a period text that is not an ISO 8601 date or date-time (V18).
INVALID = object()
#: Parsed period texts kept per upload (files repeat the same few periods); cleared when it grows past this.
INSTANT_CACHE_SIZE = 4096

_CENT = Decimal("0.01")
_TOLERANCE_RATE = Decimal("0.0001")


def _with_folded(table: dict[str, str]) -> dict[str, str]:
    """``table`` plus its keys in folded form: exact spellings hit at once, others after ``strip().lower()``."""
    return table | {key.lower(): value for key, value in table.items()}


#: Source type as written → canonical kind.
SOURCE_KINDS = _with_folded({kind: kind for kind in SOURCE_TYPES.values()})
#: Source kind → criteria as written → lookup: the bare forms and the forms prefixed with the kind.
SOURCE_CRITERIA: dict[str, dict[str, str]] = {
    kind: _with_folded(
        {f"{prefix}{criteria}": criteria for prefix in ("", f"{kind.lower()}.") for criteria in (BY_ID, BY_VENDOR)}
    )
    for kind in SOURCE_TYPES.values()
}
ITEM_CRITERIA = _with_folded(
    {f"{prefix}{criteria}": criteria for prefix in ("", "item.") for criteria in (BY_ID, BY_VENDOR)}
)


def _lookup(table: dict[str, str], raw: Any) -> str | None:
    """A criteria or type value matched case-insensitively, ignoring surrounding blanks."""
    if type(raw) is not str:
        return None
    found = table.get(raw)
    return found if found is not None else table.get(raw.strip().lower())


def check_search(
    index: ReferenceIndex, product_message: str, raw: Any, row: dict[str, Any], errors: list[str]
) -> tuple[SourceFacts | None, ItemFacts | None]:
    """V04–V16: resolve the source and the item; record the normalised ``search``, source and order ids.

    ``product_message`` is the V10 tail: ``product '…' of authorization '…'``.
    """
    search = bind(raw, SEARCH)
    source_query = item_query = order_query = None
    legacy = False
    if search is not None:
        source_query = bind(search.get("source"), SOURCE)
        if source_query is None:
            source_query = bind(search.get("subscription"), CRITERION)
            legacy = source_query is not None
        item_query = bind(search.get("item"), CRITERION)
        order_query = bind(search.get("order"), CRITERION)
        normalised: dict[str, Any] = {}
        if source_query is not None:
            normalised["subscription" if legacy else "source"] = source_query
        if order_query is not None:
            normalised["order"] = order_query
        if item_query is not None:
            normalised["item"] = item_query
        row["search"] = normalised

    source = None
    if source_query is None:
        errors.append("'search.source' is required.")
    else:
        source = _source(index, product_message, source_query, legacy, errors)
        if source is not None:
            if source.kind == "Subscription":
                row["subscription_id"] = source.id
            elif source.kind == "Asset":
                row["asset_id"] = source.id

    item = None
    if item_query is None:
        errors.append("'search.item' is required.")
    else:
        criteria = item_query.get("criteria")
        by = _lookup(ITEM_CRITERIA, criteria)
        if by is None:
            errors.append(
                f"Unsupported search criteria '{shown(criteria)}' for item; "
                "expected 'item.id' or 'item.externalIds.vendor'."
            )
        else:
            item = _item(index, by, text(item_query.get("value")), errors)

    if source is not None and item is not None and source.items and item.id not in source.items:
        errors.append(f"Item '{item.id}' is not part of {source.kind.lower()} '{source.id}'.")

    if order_query is not None:
        criteria = order_query.get("criteria")
        if criteria is None:
            pass
        elif type(criteria) is str and criteria.strip().lower() == ORDER_CRITERIA:
            order_id = text(order_query.get("value"))
            if order_id is not None and len(order_id) <= ORDER_ID_WIDTH:
                row["order_id"] = order_id
        else:
            errors.append(f"Unsupported search criteria '{shown(criteria)}' for order; expected 'order.id'.")
    return source, item


def _source(
    index: ReferenceIndex, product_message: str, query: dict[str, Any], legacy: bool, errors: list[str]
) -> SourceFacts | None:
    """V05–V10 for a bound ``search.source`` (or legacy ``search.subscription``)."""
    if legacy:
        kind: str | None = "Subscription"
    else:
        raw_type = query.get("type")
        kind = _lookup(SOURCE_KINDS, raw_type)
        if kind is None:
            errors.append(
                f"Unsupported 'search.source.type' '{shown(raw_type)}'; expected Subscription, Agreement or Asset."
            )
    by = None
    if kind is not None:
        criteria = query.get("criteria")
        by = _lookup(SOURCE_CRITERIA[kind], criteria)
        if by is None:
            errors.append(
                f"Unsupported search criteria '{shown(criteria)}' for {kind}; expected 'id' or 'externalIds.vendor'."
            )
    value = text(query.get("value"))
    if value is None or not value.strip():
        errors.append("'search.source.value' is required.")
        return None
    if kind is None or by is None:
        return None
    if by == BY_ID:
        by_id = index.sources_by_id[kind]
        found = by_id.get(value) or by_id.get(value.strip().upper())
        if found is None:
            errors.append(f"{kind} '{value}' was not found.")
            return None
        if found.agreement is None:
            errors.append(f"{kind} '{found.id}' does not belong to {product_message}.")
            return None
        return found
    matches = index.sources_by_vendor[kind].get(value)
    if not matches:
        errors.append(f"{kind} with externalIds.vendor '{value}' was not found.")
        return None
    if len(matches) > 1:
        errors.append(f"{kind} with externalIds.vendor '{value}' is ambiguous ({len(matches)} matches).")
        return None
    return matches[0]


def _item(index: ReferenceIndex, by: str, value: str | None, errors: list[str]) -> ItemFacts | None:
    """V13, V14: the item of the journal's product named by ``search.item``."""
    if value is not None and value.strip():
        if by == BY_ID:
            found = index.items_by_id.get(value) or index.items_by_id.get(value.strip().upper())
            if found is not None:
                return found
        else:
            matches = index.items_by_vendor.get(value)
            if matches is not None and len(matches) > 1:
                errors.append(f"Item with externalIds.vendor '{value}' is ambiguous ({len(matches)} matches).")
                return None
            if matches:
                return matches[0]
    errors.append(f"Item '{value or ''}' was not found in product '{index.product_id}'.")
    return None


def check_period(instants: dict[Any, Any], raw: Any, row: dict[str, Any], errors: list[str]) -> None:
    """V17–V19; ``instants`` is the upload's cache of parsed period texts."""
    period = bind(raw, PERIOD) or {}
    raw_start = period.get("start")
    raw_end = period.get("end")
    start = instant(instants, raw_start)
    end = instant(instants, raw_end)
    if start is None:
        errors.append("'period.start' is required.")
    if end is None:
        errors.append("'period.end' is required.")
    if start is INVALID:
        errors.append(f"'period.start' is not a valid ISO 8601 date or date-time: '{shown(raw_start)}'.")
        start = None
    if end is INVALID:
        errors.append(f"'period.end' is not a valid ISO 8601 date or date-time: '{shown(raw_end)}'.")
        end = None
    if start is not None and end is not None and end < start:
        errors.append(f"Period end {format_instant(end)} is before period start {format_instant(start)}.")
    row["period_start"] = start
    row["period_end"] = end


def instant(instants: dict[Any, Any], raw: Any) -> Any:
    """A naive-UTC datetime, None when missing or blank, else `INVALID`. Texts are parsed once per upload."""
    if type(raw) is str:
        cached = instants.get(raw)
        if cached is None:
            if not raw.strip():
                return None
            try:
                cached = parse_instant(raw)
            except ValueError:
                cached = INVALID
            if len(instants) >= INSTANT_CACHE_SIZE:
                instants.clear()
            instants[raw] = cached
        return cached
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw.astimezone(UTC).replace(tzinfo=None) if raw.tzinfo is not None else raw
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day)
    return INVALID


def within_tolerance(ppx1: Decimal, expected: Decimal) -> Decimal | None:
    """V23: None when PPx1 is within max(0.01, 0.0001 × |expected|) of expected, else the tolerance."""
    tolerance = max(_CENT, EXACT.multiply(_TOLERANCE_RATE, abs(expected)))
    return None if abs(EXACT.subtract(ppx1, expected)) <= tolerance else tolerance


def check_total(ppx1: Decimal, expected: Decimal, errors: list[str]) -> None:
    """V23 for a PPx1 given by the vendor (stored value, rounded) against unitPP × quantity (exact)."""
    tolerance = within_tolerance(ppx1, expected)
    if tolerance is not None:
        errors.append(
            f"'price.PPx1' {format_decimal(ppx1)} does not match 'price.unitPP' × 'quantity' = "
            f"{format_decimal(expected)} (tolerance {format_decimal(tolerance)})."
        )


def check_currency(raw: Any, authorization_currency: str, errors: list[str]) -> None:
    """V24: a given currency code (any case; blank is absent) must be the authorization's."""
    currency = text(raw)
    if currency is not None and currency.strip() and currency.strip().upper() != authorization_currency:
        errors.append(f"Currency '{currency}' does not match authorization currency '{authorization_currency}'.")


def check_agreement_currency(
    agreement: AgreementFacts, authorization_id: str, authorization_currency: str, errors: list[str]
) -> None:
    """V25 for the source's agreement and, when it splits, for each allocation's agreement (once each)."""
    checked = [agreement, *(allocation.agreement for allocation in agreement.split)]
    for position, facts in enumerate(checked):
        if facts.currency is None or facts.currency == authorization_currency or facts in checked[:position]:
            continue
        errors.append(
            f"Agreement '{facts.id}' is billed in '{facts.currency}', but authorization "
            f"'{authorization_id}' uses '{authorization_currency}'."
        )


def check_segment(raw: Any, row: dict[str, Any], errors: list[str]) -> None:
    """V26: COM, GOV or EDU in any case, stored upper-case; blank is the same as absent."""
    segment = text(raw)
    if segment is not None and not segment.strip():
        return
    canonical = segment.strip().upper() if segment is not None else None
    if canonical in SEGMENTS:
        row["segment"] = canonical
    else:
        errors.append(f"Unsupported 'segment' '{shown(raw)}'; expected COM, GOV or EDU.")

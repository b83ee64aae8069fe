"""A charge as the API shows it (billing-api.md §6.3); the caller prunes what the role may not see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billing.auth.principal import SYSTEM_ACTOR
from billing.charges.repository import ChargeRow
from billing.reference.refs import RefResolver

#: Parent references of a charge (journal, ledger, custom ledger) by id, supplied by the caller.
ParentRefs = Callable[[str, str | None], dict[str, Any] | None]


class ChargeRenderer:
    def __init__(self, refs: RefResolver, parents: ParentRefs) -> None:
        self.refs = refs
        self.parents = parents

    def __call__(self, charge: ChargeRow) -> dict[str, Any]:
        refs = self.refs
        audit_by = dict(SYSTEM_ACTOR)
        return {
            "id": charge.id,
            "externalIds": {
                "vendor": charge.external_vendor,
                "invoice": charge.external_invoice,
                "reference": charge.external_reference,
            },
            "search": charge.search,
            "period": {"start": charge.period_start, "end": charge.period_end},
            "quantity": charge.quantity,
            "price": {
                "currency": {"purchase": charge.currency_purchase, "sale": charge.currency_sale, "rate": 1},
                "unitPP": charge.unit_pp,
                "PPx1": charge.ppx1,
                "unitSP": charge.unit_sp,
                "SPx1": charge.spx1,
                "markup": charge.markup,
                "margin": charge.margin,
            },
            "segment": charge.segment,
            "description": {"value1": charge.description1, "value2": charge.description2},
            "attributes": charge.attributes or {},
            "billingType": charge.billing_type,
            "statementType": charge.statement_type,
            "journal": self.parents("journal", charge.journal_id),
            "ledger": self.parents("ledger", charge.ledger_id),
            "customLedger": self.parents("custom_ledger", charge.custom_ledger_id),
            "statement": {"id": charge.statement_id, "type": charge.statement_type} if charge.statement_id else None,
            "parent": (
                {"id": charge.parent_id, "externalIds": {"vendor": charge.parent_external_vendor}}
                if charge.parent_id
                else None
            ),
            "split": {"percentage": charge.split_percentage} if charge.split_percentage is not None else None,
            "upload": {"status": charge.upload_status, "errors": charge.upload_errors or [], "line": charge.line},
            "processing": (
                {"status": charge.processing_status, "errors": charge.processing_errors or []}
                if charge.processing_status
                else None
            ),
            "client": refs.account(charge.client_id),
            "buyer": refs.buyer(charge.buyer_id),
            "licensee": refs.licensee(charge.licensee_id),
            "seller": refs.seller(charge.seller_id),
            "vendor": refs.account(charge.vendor_id),
            "product": refs.product(charge.product_id),
            "agreement": refs.agreement(charge.agreement_id),
            "subscription": refs.subscription(charge.subscription_id),
            "asset": refs.asset(charge.asset_id),
            "order": {"id": charge.order_id} if charge.order_id else None,
            "item": refs.item(charge.item_id),
            "authorization": refs.authorization(charge.authorization_id),
            "erpData": {
                "erpCountryCode": charge.erp_country_code,
                "erpItemId": charge.erp_item_id,
                "cco": charge.cco,
                "scu": charge.scu,
            },
            "audit": {
                "created": {"at": charge.created_at, "by": audit_by},
                "updated": {"at": charge.updated_at, "by": audit_by},
            },
        }

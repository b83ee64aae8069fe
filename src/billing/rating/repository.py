"""All SQL of rating: ledgers of a journal, charges read in keyset batches, rated values written in sets."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from billing.db.models import Charge, Ledger
from billing.db.types import Money

#: The charge columns rating reads.
RATING_COLUMNS = (
    Charge.id,
    Charge.unit_pp,
    Charge.quantity,
    Charge.ppx1,
    Charge.client_id,
    Charge.agreement_id,
    Charge.subscription_id,
    Charge.asset_id,
    Charge.item_id,
    Charge.currency_purchase,
)


class RatingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def sellers_of_journal(self, journal_id: str) -> list[str]:
        """Sellers of the journal's billable charges (split parents are billed through their children)."""
        rows = self.session.execute(
            select(Charge.seller_id)
            .where(Charge.journal_id == journal_id, Charge.upload_status != "Split", Charge.seller_id.is_not(None))
            .distinct()
            .order_by(Charge.seller_id)
        )
        return [seller for (seller,) in rows if seller is not None]

    def ledgers_of_journal(self, journal_id: str) -> list[Ledger]:
        return list(
            self.session.execute(select(Ledger).where(Ledger.journal_id == journal_id).order_by(Ledger.id)).scalars()
        )

    def assign(self, journal_id: str, seller_id: str, ledger_id: str) -> None:
        self.session.execute(
            update(Charge)
            .where(Charge.journal_id == journal_id, Charge.seller_id == seller_id, Charge.upload_status != "Split")
            .values(ledger_id=ledger_id)
        )

    def mark_split_parents(self, journal_id: str) -> None:
        self.session.execute(
            update(Charge)
            .where(Charge.journal_id == journal_id, Charge.upload_status == "Split")
            .values(processing_status="Split", processing_errors=None)
        )

    def remove_ledgers(self, journal_id: str) -> None:
        """Undo a rating that failed before all ledgers existed (§7.1): no ledger, no rated values."""
        self.session.execute(
            update(Charge)
            .where(Charge.journal_id == journal_id)
            .values(
                ledger_id=None,
                unit_sp=None,
                spx1=None,
                markup=None,
                margin=None,
                currency_sale=None,
                processing_status=None,
                processing_errors=None,
            )
        )
        self.session.execute(delete(Ledger).where(Ledger.journal_id == journal_id))

    def charges_to_rate(self, ledger_id: str, batch: int) -> Iterator[Sequence[Any]]:
        """The ledger's charges in id order, one keyset page at a time (bounded memory)."""
        return self._keyset(Charge.ledger_id == ledger_id, batch)

    def charges_of_statement(self, statement_id: str, batch: int) -> Iterator[Sequence[Any]]:
        return self._keyset(Charge.statement_id == statement_id, batch)

    def _keyset(self, condition: Any, batch: int) -> Iterator[Sequence[Any]]:
        after = ""
        while True:
            rows = self.session.execute(
                select(*RATING_COLUMNS).where(condition, Charge.id > after).order_by(Charge.id).limit(batch)
            ).all()
            if not rows:
                return
            yield rows
            after = rows[-1].id

    def write_rated(self, values: list[dict[str, Any]]) -> None:
        """ORM bulk UPDATE by primary key: one executemany per batch."""
        if values:
            self.session.execute(update(Charge), values)

    def totals_by_status(self, **where: str) -> list[tuple[str | None, int, Decimal | None, Decimal | None]]:
        """(processing status, count, Σ PPx1, Σ SPx1) of a journal's or ledger's charges, summed in SQL."""
        column = {"journal_id": Charge.journal_id, "ledger_id": Charge.ledger_id, "statement_id": Charge.statement_id}[
            next(iter(where))
        ]
        rows = self.session.execute(
            select(
                Charge.processing_status,
                func.count(),
                func.sum(Charge.ppx1, type_=Money),
                func.sum(Charge.spx1, type_=Money),
            )
            .where(column == next(iter(where.values())))
            .group_by(Charge.processing_status)
        )
        return [(status, int(count), pp, sp) for status, count, pp, sp in rows]

    def totals_of_statement(self, statement_id: str) -> list[tuple[str | None, Decimal | None, Decimal | None]]:
        return [(s, pp, sp) for s, _, pp, sp in self.totals_by_status(statement_id=statement_id)]

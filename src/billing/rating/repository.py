"""All SQL of rating: ledgers of a journal, the rating keys of a set of charges, and the set-based rating UPDATE.

A charge's outcome depends only on its `RATING_KEYS`, a few thousand groups even for a million charges. The
job resolves each group once and hands the plan over here; `rate` puts it in a temporary table and rates every
charge of the set with one UPDATE joined to it. Prices are computed by the database, exactly:
PostgreSQL in ``NUMERIC`` (``1 + markup/100`` is passed with all its digits); SQLite, whose money is integer
millionths, in 64-bit integer SQL where no intermediate can overflow and otherwise through the deterministic
functions of `billing.rating.pricing` registered on the connection (`_sqlite_prices`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Dialect,
    MetaData,
    Numeric,
    String,
    Table,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator, TypeEngine

from billing.charges.repository import in_statement
from billing.db.models import Charge, Ledger, RatedAgreement
from billing.db.scratch import hash_aggregates, scratch_table
from billing.db.types import Document, Money
from billing.rating.pricing import rated_margin_micros, rated_spx1_micros, rated_unit_sp_micros
from billing.statements.repository import agreement_group_columns

#: The charge columns a rating outcome depends on (§9.2, §9.3), after the seller (which names the ledger).
RATING_KEYS = ("seller_id", "client_id", "agreement_id", "subscription_id", "asset_id", "item_id")
#: (processing status, count, Σ PPx1, Σ SPx1)
Totals = tuple[str | None, int, Decimal | None, Decimal | None]


class _Factor(TypeDecorator[Decimal]):
    """``1 + markup/100`` with every digit: ``NUMERIC`` on PostgreSQL, text for the SQLite functions."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(String() if dialect.name == "sqlite" else Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return str(value) if value is not None and dialect.name == "sqlite" else value


_plan = Table(
    "rating_plan",
    MetaData(),
    *(Column(key, String(32)) for key in RATING_KEYS),
    Column("ledger_id", String(32), nullable=False),
    Column("billing_type", String(16), nullable=False),
    Column("status", String(8), nullable=False),
    Column("errors", Document),
    Column("markup", Money),
    Column("factor", _Factor),
    Column("statement_id", String(40)),
    # SQLite: the factor as a fraction n/d small enough for exact 64-bit arithmetic, and the largest |unitPP| and
    # |unitPP × quantity| (in millionths) whose products with n stay within 2^61 (None: the factor is too long)
    Column("factor_n", BigInteger),
    Column("factor_d", BigInteger),
    Column("factor_limit", BigInteger),
    UniqueConstraint(*RATING_KEYS),
    prefixes=["TEMPORARY"],
)


class RatingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def sellers_of_journal(self, journal_id: str) -> list[str]:
        """Sellers of the journal's billable charges (split parents are billed through their children): the
        distinct sellers from the (journal, seller) index, each checked for a charge that is not a split parent."""
        candidates = self.session.execute(
            select(Charge.seller_id)
            .where(Charge.journal_id == journal_id, Charge.seller_id.is_not(None))
            .distinct()
            .order_by(Charge.seller_id)
        ).scalars()
        billable = (
            select(Charge.id)
            .where(Charge.journal_id == journal_id, Charge.seller_id == bindparam("seller"), self.assignable())
            .limit(1)
        )
        return [s for s in list(candidates) if s and self.session.execute(billable, {"seller": s}).first()]

    def ledgers_of_journal(self, journal_id: str) -> list[Ledger]:
        return list(
            self.session.execute(select(Ledger).where(Ledger.journal_id == journal_id).order_by(Ledger.id)).scalars()
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
                statement_id=None,
                unit_sp=None,
                spx1=None,
                markup=None,
                margin=None,
                currency_sale=None,
                processing_status=None,
                processing_errors=None,
            )
        )
        ledgers = select(Ledger.id).where(Ledger.journal_id == journal_id)
        self.session.execute(delete(RatedAgreement).where(RatedAgreement.ledger_id.in_(ledgers)))
        self.session.execute(delete(Ledger).where(Ledger.journal_id == journal_id))

    @staticmethod
    def of_lines(journal_id: str, low: int, high: int) -> ColumnElement[bool]:
        """A journal's charges of the lines whose ``seq`` (line × 100 + child) is in [low, high)."""
        return and_(Charge.journal_id == journal_id, Charge.seq >= low, Charge.seq < high)

    @staticmethod
    def assignable() -> ColumnElement[bool]:
        """The charges rating assigns to ledgers: all but split parents (§9.1)."""
        return Charge.upload_status != "Split"

    @staticmethod
    def of_ledger(ledger: Ledger) -> ColumnElement[bool]:
        """A ledger's charges: its journal's charges of its seller, split parents aside (§9.1)."""
        journal_id, seller_id = ledger.journal_id, ledger.seller_id
        return and_(Charge.journal_id == journal_id, Charge.seller_id == seller_id, RatingRepository.assignable())

    @staticmethod
    def of_statement(statement_id: str) -> ColumnElement[bool]:
        return in_statement(statement_id)

    def seq_bounds(self, journal_id: str) -> tuple[int, int] | None:
        """The first and last ``seq`` of a journal's charges, None when it has none: each one index probe (a
        query asking for both at once scans the journal's index entries on SQLite)."""
        first, last = (
            self.session.execute(
                select(Charge.seq).where(Charge.journal_id == journal_id).order_by(order).limit(1)
            ).scalar()
            for order in (Charge.seq.asc(), Charge.seq.desc())
        )
        return None if first is None or last is None else (first, last)

    def rating_keys(self, charges: ColumnElement[bool]) -> list[tuple[str | None, ...]]:
        """The distinct `RATING_KEYS` of a set of charges."""
        columns = [Charge.__table__.c[key] for key in RATING_KEYS]
        return [tuple(row) for row in self.session.execute(select(*columns).where(charges).distinct())]

    def rate(
        self, charges: ColumnElement[bool], plan: Sequence[dict[str, Any]], now: datetime, *, statements: bool = True
    ) -> None:
        """Assign a set of charges to their ledger (and, when ``statements``, to the statement that will bill them)
        and rate them with one UPDATE joined to ``plan`` (a row per rating key: ledger id, outcome, stored markup,
        factor and statement id, the last three None unless Ready). Charges without a plan row are left alone."""
        sqlite = self.session.get_bind().dialect.name == "sqlite"
        if sqlite:
            plan = [{**row, **_integer_factor(row["factor"])} for row in plan]
        else:  # PostgreSQL hash-joins on equality only: keys without NULLs
            plan = [{**row, **{key: row[key] or "" for key in RATING_KEYS}} for row in plan]
        with scratch_table(self.session, _plan, plan) as p:
            unit_sp, spx1, margin = self._prices(p)
            values: dict[str, Any] = {
                "ledger_id": p.c.ledger_id,
                "billing_type": p.c.billing_type,
                "processing_status": p.c.status,
                "processing_errors": p.c.errors,
                "markup": p.c.markup,
                "unit_sp": unit_sp,
                "spx1": spx1,
                "margin": margin,
                "currency_sale": case((p.c.status == "Ready", Charge.currency_purchase)),
                "updated_at": now,
            }
            if statements:
                values["statement_id"] = p.c.statement_id
            joined = [
                Charge.__table__.c[key].is_not_distinct_from(p.c[key])  # SQLite's IS, looked up in the plan's index
                if sqlite
                else func.coalesce(Charge.__table__.c[key], "") == p.c[key]
                for key in RATING_KEYS
            ]
            self.session.execute(
                update(Charge).where(charges, *joined).values(values),
                execution_options={"synchronize_session": False},  # no row is read back, no ORM object touched
            )

    def _prices(self, p: Table) -> tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]]:
        """unitSP, SPx1 and margin of a charge joined to its plan row, as `billing.rating.pricing.rate` has them."""
        if self.session.get_bind().dialect.name == "sqlite":
            connection: Any = self.session.connection().connection.dbapi_connection
            for name, function, arity in (
                ("rated_unit_sp", rated_unit_sp_micros, 2),
                ("rated_spx1", rated_spx1_micros, 3),
                ("rated_margin", rated_margin_micros, 4),
            ):
                connection.create_function(name, arity, function, deterministic=True)
            return _sqlite_prices(p)
        # NUMERIC products are exact and round() goes half away from zero, like round6; the margin quotient
        # gets 40 decimals (the default would be about 16 significant digits: too few to round it safely).
        spx1 = func.round(Charge.unit_pp * p.c.factor * Charge.quantity, 6)
        quotient = cast((spx1 - Charge.ppx1) * 100, Numeric(80, 40)) / func.nullif(spx1, 0)
        return func.round(Charge.unit_pp * p.c.factor, 6), spx1, func.round(quotient, 6)

    def groups(self, charges: ColumnElement[bool]) -> list[Any]:
        """A set of charges by ledger (None: unassigned, e.g. split parents), processing status and agreement: the
        agreement's parties and currencies, the count and the PP/SP sums, summed in SQL."""
        hash_aggregates(self.session)
        return list(
            self.session.execute(
                select(Charge.ledger_id, Charge.processing_status, *agreement_group_columns())
                .where(charges)
                .group_by(Charge.ledger_id, Charge.processing_status, Charge.agreement_id)
            )
        )

    def replace_rated_agreements(self, ledger_ids: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
        """The ledgers' `RatedAgreement` rows become ``rows``."""
        self.session.execute(delete(RatedAgreement).where(RatedAgreement.ledger_id.in_(ledger_ids)))
        if rows:
            self.session.execute(insert(RatedAgreement), rows)

    def totals_by_status(self, charges: ColumnElement[bool]) -> list[Totals]:
        """(processing status, count, Σ PPx1, Σ SPx1) of a set of charges, summed in SQL."""
        rows = self.session.execute(
            select(
                Charge.processing_status,
                func.count(),
                func.sum(Charge.ppx1, type_=Money),
                func.sum(Charge.spx1, type_=Money),
            )
            .where(charges)
            .group_by(Charge.processing_status)
        )
        return [(status, int(count), pp, sp) for status, count, pp, sp in rows]


_MICRO = 10**6
#: Below these, sums and products of SQLite's 64-bit integers cannot overflow in `_sqlite_prices`.
_INTERMEDIATE_LIMIT = 2**61
_FRACTION_LIMIT = 2**40


def _integer_factor(factor: Decimal | None) -> dict[str, int | None]:
    """The plan's ``factor_n``, ``factor_d`` and ``factor_limit`` for `_sqlite_prices` (None: use the functions)."""
    n, d = factor.as_integer_ratio() if factor is not None else (0, 0)
    if not d or abs(n) > _FRACTION_LIMIT or d > _FRACTION_LIMIT:
        return dict.fromkeys(("factor_n", "factor_d", "factor_limit"))
    return {"factor_n": n, "factor_d": d, "factor_limit": _INTERMEDIATE_LIMIT // max(abs(n), 1)}


def _half_away(numerator: ColumnElement[Any], denominator: ColumnElement[Any]) -> ColumnElement[Any]:
    """SQLite integer ``numerator / denominator`` (denominator ≠ 0) rounded half away from zero, as
    `billing.rating.pricing` rounds: the quotient plus half a unit away from zero, truncated (SQLite's integer
    division truncates). None when the denominator is 0."""
    away = case((numerator >= 0, func.abs(denominator)), else_=-func.abs(denominator))
    return (2 * numerator + away) // (2 * denominator)


def _sqlite_prices(p: Table) -> tuple[ColumnElement[Any], ColumnElement[Any], ColumnElement[Any]]:
    """SQLite's unitSP, SPx1 and margin in millionths: 64-bit integer SQL where no intermediate can overflow
    (the usual charge: a short factor, moderate amounts), else the exact Python functions of
    `billing.rating.pricing`, which cost a call into Python per value. Both give `rate`'s values to the digit.

    An integer product that overflows becomes a float in SQLite, larger than any limit compared with here.
    """
    unit_pp, quantity, ppx1 = (type_coerce(c, BigInteger()) for c in (Charge.unit_pp, Charge.quantity, Charge.ppx1))
    n, d, limit = p.c.factor_n, p.c.factor_d, p.c.factor_limit
    ready = p.c.factor.is_not(None)
    spx1 = _half_away(unit_pp * quantity * n, d * _MICRO)
    margin = _half_away(100 * _MICRO * (spx1 - ppx1), spx1)
    in_range = func.abs(unit_pp * quantity) <= limit
    return (
        case(
            (ready & (func.abs(unit_pp) <= limit), _half_away(unit_pp * n, d)),
            (ready, func.rated_unit_sp(Charge.unit_pp, p.c.factor)),
        ),
        case((ready & in_range, spx1), (ready, func.rated_spx1(Charge.unit_pp, Charge.quantity, p.c.factor))),
        case(
            (ready & in_range & (func.abs(spx1 - ppx1) <= _INTERMEDIATE_LIMIT // (100 * _MICRO)), margin),
            (ready, func.rated_margin(Charge.unit_pp, Charge.quantity, Charge.ppx1, p.c.factor)),
        ),
    )

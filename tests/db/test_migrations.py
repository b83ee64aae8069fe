"""Data steps of migrations, run on a database holding rows of the revision before."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from billing.db.migrate import upgrade

NOW = "2025-07-01 08:30:00"


def _ledger(conn, ledger_id: str, journal_id: str, status: str) -> None:
    conn.execute(
        text(
            "INSERT INTO ledger (id, name, journal_id, status, authorization_id, owner_id, seller_id, product_id,"
            " vendor_id, currency, total_pp, processing, audit, created_at, updated_at) VALUES (:id, 'L', :journal,"
            " :status, 'AUT-1', 'SEL-1', 'SEL-9929-6679', 'PRD-1', 'ACC-1', 'USD', 0, '{}', '{}', :now, :now)"
        ),
        {"id": ledger_id, "journal": journal_id, "status": status, "now": NOW},
    )


def _charge(conn, charge_id: str, ledger_id: str, journal_id: str, status: str, statement_id: str | None) -> None:
    conn.execute(
        text(
            "INSERT INTO charge (id, journal_id, ledger_id, statement_id, statement_type, line, child, seq,"
            " billing_type, upload_status, processing_status, vendor_id, agreement_id, created_at, updated_at)"
            " VALUES (:id, :journal, :ledger, :statement, :type, 1, 0, 100, 'Automated', 'Ready', :status, 'ACC-1',"
            " 'AGR-5010-9701-4062', :now, :now)"
        ),
        {
            "id": charge_id,
            "journal": journal_id,
            "ledger": ledger_id,
            "statement": statement_id,
            "type": "Debit" if statement_id else None,
            "status": status,
            "now": NOW,
        },
    )


@pytest.mark.sqlite_only
def test_0012_and_0013_prepare_the_statements_of_ledgers_rated_before_them(tmp_path):
    """Charges rated before 0012 whose ledger has not generated statements get their statement-to-be (generation
    no longer writes charges); charges already billed, or not Ready, are left as they are."""
    url = f"sqlite:///{tmp_path}/old.db"
    upgrade(url, "0011")
    engine = create_engine(url)
    with engine.begin() as conn:
        _ledger(conn, "BLE-1111-2222-9929-6679", "BJO-1111-2222", "Review")
        _ledger(conn, "BLE-3333-4444-9929-6679", "BJO-3333-4444", "Generated")
        _charge(conn, "CHG-1", "BLE-1111-2222-9929-6679", "BJO-1111-2222", "Ready", None)
        _charge(conn, "CHG-2", "BLE-1111-2222-9929-6679", "BJO-1111-2222", "Error", None)
        _charge(conn, "CHG-3", "BLE-3333-4444-9929-6679", "BJO-3333-4444", "Ready", "SOM-3333-4444-5010-9701-4062")
        _charge(conn, "CHG-4", "BLE-3333-4444-9929-6679", "BJO-3333-4444", "Error", None)
    upgrade(url)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, statement_id FROM charge ORDER BY id")).all())
        columns = {row[1] for row in conn.execute(text("PRAGMA table_info(charge)"))}
        grouped = conn.execute(text("SELECT ledger_id, agreement_id, count FROM rated_agreement")).all()
    engine.dispose()
    assert rows == {
        "CHG-1": "SOM-1111-2222-5010-9701-4062",
        "CHG-2": None,
        "CHG-3": "SOM-3333-4444-5010-9701-4062",
        "CHG-4": None,
    }
    assert "statement_type" not in columns
    # 0013: the Review ledger's Ready charges summed per agreement, for its statements to come
    assert grouped == [("BLE-1111-2222-9929-6679", "AGR-5010-9701-4062", 1)]

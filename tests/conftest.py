"""Shared fixtures: a migrated database (SQLite always; PostgreSQL when BILLING_TEST_DATABASE_URL is set),
a clean state per test, the API through httpx (Starlette's TestClient), and demo tokens per role."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from billing.api.app import create_app
from billing.auth.principal import system_principal
from billing.db.engine import Database
from billing.db.migrate import upgrade
from billing.db.models import Base, Ledger
from billing.kit.timeutil import utcnow
from billing.reference.demo import DEMO_TOKENS, build_demo_dataset
from billing.reference.service import ReferenceService
from billing.settings import Settings

PG_URL = os.environ.get("BILLING_TEST_DATABASE_URL")
IN_CI = os.environ.get("CI") == "true"


def pytest_report_header() -> str:
    return f"billing database: {'PostgreSQL ' + make_url(PG_URL).database if PG_URL else 'SQLite'}"


def _worker_pg_url(worker: str) -> str:
    """Each xdist worker gets its own PostgreSQL database, created fresh and dropped at the end."""
    url = make_url(PG_URL)
    name = f"{url.database}_{worker}" if worker != "master" else url.database
    return url.set(database=name).render_as_string(hide_password=False)


def _admin(url: str, statement: str) -> None:
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(statement))
    admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path_factory.mktemp('db')}/billing.db"
        return
    url = _worker_pg_url(worker_id)
    name = make_url(url).database
    if worker_id != "master":
        _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _admin(url, f'CREATE DATABASE "{name}"')
    yield url
    if worker_id != "master":
        _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    upgrade(database_url)
    db = Database(database_url)
    yield db
    db.dispose()


def _clean(database: Database) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as conn:
        if database.dialect == "postgresql":
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))  # a leaked transaction fails the test, never hangs
            conn.execute(text("TRUNCATE " + ", ".join(f'"{name}"' for name in tables) + " CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f'DELETE FROM "{name}"'))


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The database, emptied after the test (the schema stays: it comes from the migrations)."""
    yield database
    _clean(database)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        storage={"attachments_dir": tmp_path / "files"},
        # tests drive background work deterministically with `drain`, retrying failures at once
        worker={"enabled": False, "retry_backoff_s": 0},
        # no ERP unless a test starts one (port 9 is closed): a simulator another test serves on 7047 must
        # never answer this test's calls
        erp={"base_url": "http://127.0.0.1:9/BC/WS/CRONUS"},
    )


@pytest.fixture
def drain(db: Database, settings: Settings):  # type: ignore[no-untyped-def]
    """Run every due background work item now (what the worker thread would do)."""
    from billing.jobs.registry import HANDLERS
    from billing.jobs.worker import run_pending

    return lambda: run_pending(db, settings, HANDLERS)


@pytest.fixture
def demo_world(db: Database) -> dict[str, str]:
    """The demo reference dataset, imported; returns the demo token secrets by role key."""
    with db.session_scope() as session:
        ReferenceService(session, system_principal()).import_document(build_demo_dataset(), "replace")
    return DEMO_TOKENS


@pytest.fixture(scope="session")
def shared_app(database: Database, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """Building the app costs ~1 s (route construction), so tests share one; `api` swaps in their settings."""
    base = Settings(
        env="test",
        database_url=database_url,
        storage={"attachments_dir": tmp_path_factory.mktemp("files")},
        worker={"enabled": False, "retry_backoff_s": 0},
    )
    return create_app(base, database)


@pytest.fixture
def api(shared_app: FastAPI, settings: Settings, db: Database) -> Iterator[TestClient]:
    shared_app.state.settings = settings
    with TestClient(shared_app, base_url="http://testserver/public/v1/billing") as client:
        yield client


def make_ledger(
    db: Database,
    ledger_id: str = "BLE-2589-1434-9929-6679",
    *,
    journal_id: str = "BJO-2589-1434",
    status: str = "Review",
) -> str:
    """A journal ledger of the demo seller (Operator), written directly; returns its id."""
    now = utcnow()
    with db.session_scope() as session:
        session.add(
            Ledger(
                id=ledger_id,
                name="June / Operator",
                journal_id=journal_id,
                status=status,
                authorization_id="AUT-5305-9928",
                owner_id="SEL-9929-6679",
                seller_id="SEL-9929-6679",
                product_id="PRD-1986-0860",
                vendor_id="ACC-3102-8586",
                currency="USD",
                total_pp=0,
                processing={},
                audit={},
                created_at=now,
                updated_at=now,
            )
        )
    return ledger_id


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def ops(demo_world: dict[str, str]) -> dict[str, str]:
    return bearer(demo_world["operations"])


@pytest.fixture
def vendor(demo_world: dict[str, str]) -> dict[str, str]:
    return bearer(demo_world["vendor"])


@pytest.fixture
def client(demo_world: dict[str, str]) -> dict[str, str]:
    return bearer(demo_world["client"])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a PostgreSQL URL, PostgreSQL-only tests are deselected (reported as such), never skipped; with
    one, SQLite-only tests (scenarios defined for SQLite, run in the SQLite pass) are deselected."""
    other = "sqlite_only" if PG_URL else "postgres"
    deselected = [item for item in items if other in item.keywords]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if other not in item.keywords]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under CI=true no test may be skipped (PostgreSQL tests included): a skip fails the run."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} was skipped under CI=true: {report.longrepr}"


@pytest.fixture(scope="session", autouse=True)
def _postgres_reachable_in_ci() -> None:
    if IN_CI and PG_URL:
        engine = create_engine(PG_URL)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()

"""Engine and sessions. Request dependencies and jobs own the transaction; services never commit."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from billing.db.types import json_dumps, json_loads

#: What a repository executes on: an ORM session, or a bare connection (`Database.transaction`).
Executor = Session | Connection

SQLITE_BUSY_TIMEOUT_MS = 5000
#: Page cache of each SQLite connection, in KiB: bulk inserts touch several indexes.
SQLITE_CACHE_KIB = 65536


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the engine; SQLite gets WAL, foreign keys, a busy timeout and case-sensitive LIKE."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            json_serializer=json_dumps,
            json_deserializer=json_loads,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(
        url,
        json_serializer=json_dumps,
        json_deserializer=json_loads,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        **kwargs,
    )


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_on_begin) instead of pysqlite's implicit handling.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.execute("PRAGMA case_sensitive_like=ON")
    cursor.close()
    # SQLite's lower() folds ASCII only; ilike must also match 'łÓDŹ' to 'Łódź' as PostgreSQL does.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _sqlite_on_begin(connection: Any) -> None:
    """Write transactions on SQLite take the write lock up front (BEGIN IMMEDIATE).

    Status transitions are read-check-write; an immediate transaction serialises them per database, which
    is how the spec's "serialised per object" guarantee is met on SQLite (§3.13). Read-only sessions
    (`Database.read_scope`) use a deferred BEGIN so that readers never queue behind writers (WAL).
    """
    statement = _SQLITE_BEGIN[connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")]
    try:  # on the driver's connection: SQLAlchemy's execution path cost more than the BEGIN itself
        connection.connection.driver_connection.execute(statement)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(statement, (), exc, sqlite3.Error) from exc


_SQLITE_BEGIN = {"IMMEDIATE": "BEGIN IMMEDIATE", "DEFERRED": "BEGIN DEFERRED"}


def dialect_of(executor: Executor) -> str:
    return executor.dialect.name if isinstance(executor, Connection) else executor.get_bind().dialect.name


def orm(executor: Executor) -> Session:
    """The ORM session a repository method that loads objects needs (a bare connection cannot)."""
    assert isinstance(executor, Session), "this needs an ORM session, not a bare connection"
    return executor


class Database:
    """The engine and a session factory for one database URL."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self.read_engine = self.engine.execution_options(sqlite_begin="DEFERRED")
        self.read_sessions = sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """One transaction: commit on success, roll back on any exception.

        A callable left in ``session.info["after_commit"]`` runs once the commit succeeded (e.g. waking the
        worker for the work item the transaction queued).
        """
        session = self.sessions()
        try:
            yield session
            session.commit()
            hook = session.info.pop("after_commit", None)
            if hook is not None:
                hook()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction on a bare connection, for hot paths whose SQL is all Core (the ERP push): an ORM
        session's bookkeeping cost more than such a transaction's statements. Commit on success, else roll back."""
        with self.engine.begin() as connection:
            yield connection

    @contextmanager
    def read_transaction(self) -> Iterator[Connection]:
        """A read-only `transaction` (deferred BEGIN on SQLite; rolled back at the end)."""
        with self.read_engine.connect() as connection:
            yield connection

    @staticmethod
    @contextmanager
    def orm_within(connection: Connection) -> Iterator[Session]:
        """An ORM session inside a `transaction`, for the rare step that needs objects; flushed at the end, while
        committing stays with the transaction."""
        with Session(bind=connection, expire_on_commit=False, autoflush=False) as session:
            yield session
            session.flush()

    @contextmanager
    def read_scope(self) -> Iterator[Session]:
        """A read-only transaction (never commits). Closing rolls the transaction back and detaches the loaded
        objects without expiring them, so they stay readable (e.g. by a streamed response)."""
        session = self.read_sessions()
        try:
            yield session
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()

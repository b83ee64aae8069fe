"""The simulator's state: one SQLite file (WAL) with customers, items, documents, ledger entries, number series,
run-time knobs, the clock and the request log; it survives restarts.

Writes run in ``BEGIN IMMEDIATE`` so concurrent requests (threads, or other processes on the same file, such as
``billing erp-sim … --db``) serialise like one ERP database. ``Row_Version`` comes from one counter bumped
inside the writing transaction, so versions follow commit order.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from billing.erp_sim.records import TABLES, Table

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS number_series (code TEXT PRIMARY KEY, last_no INTEGER NOT NULL) WITHOUT ROWID",
    """CREATE TABLE IF NOT EXISTS payment_plan (
         id INTEGER PRIMARY KEY, document_no TEXT NOT NULL, due_at TEXT NOT NULL, amount TEXT, done INTEGER NOT NULL
       )""",
    "CREATE INDEX IF NOT EXISTS payment_plan_due ON payment_plan (done, due_at)",
    """CREATE TABLE IF NOT EXISTS request_log (
         id INTEGER PRIMARY KEY, at TEXT NOT NULL, method TEXT NOT NULL, service TEXT NOT NULL,
         operation TEXT NOT NULL, status INTEGER NOT NULL, fault TEXT NOT NULL, fault_code TEXT NOT NULL,
         duration_ms REAL NOT NULL, correlation_id TEXT NOT NULL, document_no TEXT NOT NULL,
         external_document_no TEXT NOT NULL
       )""",
    "CREATE INDEX IF NOT EXISTS request_log_operation ON request_log (service, operation)",
)
REQUEST_LOG_COLUMNS = (
    "at",
    "method",
    "service",
    "operation",
    "status",
    "fault",
    "fault_code",
    "duration_ms",
    "correlation_id",
    "document_no",
    "external_document_no",
)
DOCUMENT_TABLES = ("sales_invoice", "sales_credit_memo", "posted_sales_invoice", "posted_sales_credit_memo")
#: What POST /_sim/reset empties (master data only when asked).
STATE_TABLES = (
    *DOCUMENT_TABLES,
    *(f"{name}_line" for name in DOCUMENT_TABLES),
    "customer_ledger_entries",
    "number_series",
    "payment_plan",
    "request_log",
    "meta",
)


REQUEST_LOG_BATCH = 200  # request-log rows written per transaction at most…
REQUEST_LOG_FLUSH_S = 0.25  # …or once the oldest buffered row is this old (at the next request)


class Tx:
    """One transaction: typed record access on the simulator's tables, the row-version counter, number series
    and meta values."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._row_version: int | None = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    # records
    def get(self, table: Table, pk: Sequence[Any]) -> dict[str, Any] | None:
        where = " AND ".join(f"{column} = ?" for column in table.pk)
        row = self.conn.execute(f"SELECT * FROM {table.name} WHERE {where}", tuple(pk)).fetchone()
        return table.from_row(row) if row else None

    def select(self, table: Table, where: str = "1", params: Sequence[Any] = (), order: str = "") -> list[dict]:
        sql = f"SELECT * FROM {table.name} WHERE {where} ORDER BY {order or ', '.join(table.pk)}"
        return [table.from_row(row) for row in self.conn.execute(sql, tuple(params))]

    def rows(self, table: Table, where: str, params: Sequence[Any], order: str) -> Iterator[sqlite3.Row]:
        """Raw rows, lazily (ReadMultiple stops as soon as it has a page)."""
        return iter(self.conn.execute(f"SELECT * FROM {table.name} WHERE {where} ORDER BY {order}", tuple(params)))

    def insert(self, table: Table, record: dict[str, Any]) -> None:
        placeholders = ", ".join("?" for _ in table.columns)
        self.conn.execute(f"INSERT INTO {table.name} VALUES ({placeholders})", table.to_row(record))

    def insert_many(self, table: Table, rows: Iterable[Sequence[Any]]) -> None:
        """Insert rows already in stored form (``table.to_row``), in one ``executemany``."""
        placeholders = ", ".join("?" for _ in table.columns)
        self.conn.executemany(f"INSERT INTO {table.name} VALUES ({placeholders})", rows)

    def save(self, table: Table, record: dict[str, Any]) -> None:
        placeholders = ", ".join("?" for _ in table.columns)
        self.conn.execute(f"INSERT OR REPLACE INTO {table.name} VALUES ({placeholders})", table.to_row(record))

    def delete(self, table: Table, pk: Sequence[Any]) -> None:
        where = " AND ".join(f"{column} = ?" for column in table.pk)
        self.conn.execute(f"DELETE FROM {table.name} WHERE {where}", tuple(pk))

    def exists(self, table: Table, where: str, params: Sequence[Any]) -> bool:
        return (
            self.conn.execute(f"SELECT 1 FROM {table.name} WHERE {where} LIMIT 1", tuple(params)).fetchone() is not None
        )

    # counters
    def next_row_version(self) -> int:
        """The next global Row_Version (every record write takes one)."""
        return self.reserve_row_versions(1)

    def reserve_row_versions(self, count: int) -> int:
        """Take ``count`` consecutive Row_Versions at once (bulk writes); the first of them."""
        if self._row_version is None:
            self._row_version = int(self.meta("row_version") or 0)
        first = self._row_version + 1
        self._row_version += count
        self.set_meta("row_version", str(self._row_version))
        return first

    def next_number(self, code: str) -> int:
        return self.reserve_numbers(code, 1)

    def reserve_numbers(self, code: str, count: int) -> int:
        """Advance number series ``code`` by ``count`` at once; the first number taken."""
        row = self.conn.execute(
            "INSERT INTO number_series VALUES (?, ?) ON CONFLICT (code) DO UPDATE SET last_no = last_no + ? "
            "RETURNING last_no",
            (code, count, count),
        ).fetchone()
        return int(row[0]) - count + 1

    # meta
    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.conn.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def meta_json(self, key: str, default: Any) -> Any:
        raw = self.meta(key)
        return default if raw is None else json.loads(raw)


class Store:
    """Connections to the state file (a small pool, any thread) and transactions on them."""

    def __init__(self, path: Path, pool_size: int = 16) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._pool: list[sqlite3.Connection] = []
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._log_pending: list[list[Any]] = []
        self._log_flushed_at = time.monotonic()
        with self.write() as tx:
            for statement in _SCHEMA:
                tx.execute(statement)
            for table in TABLES.values():
                for statement in table.ddl():
                    tx.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._pool.pop() if self._pool else None
        conn = conn or self._connect()
        try:
            yield conn
        finally:
            with self._lock:
                if len(self._pool) < self._pool_size:
                    self._pool.append(conn)
                    conn = None
            if conn is not None:
                conn.close()

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction (``BEGIN IMMEDIATE``): committed when the block ends, rolled back on error."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read transaction: one consistent snapshot."""
        with self._connection() as conn:
            conn.execute("BEGIN")
            try:
                yield Tx(conn)
            finally:
                conn.execute("ROLLBACK")

    def log_request(self, entry: dict[str, Any], max_rows: int) -> None:
        """Append to the request log. Rows are buffered and written in batches (a commit per request would sit on
        every response's path); readers of the log flush first (`flush_request_log`), and so does `close`."""
        with self._log_lock:
            self._log_pending.append([entry.get(column, "") for column in REQUEST_LOG_COLUMNS])
            due = (
                len(self._log_pending) >= REQUEST_LOG_BATCH
                or time.monotonic() - self._log_flushed_at >= REQUEST_LOG_FLUSH_S
            )
        if due:
            self.flush_request_log(max_rows)

    def flush_request_log(self, max_rows: int | None = None) -> None:
        """Write the buffered request-log rows; beyond ``max_rows`` the oldest tenth is dropped."""
        with self._log_lock:
            rows, self._log_pending = self._log_pending, []
            self._log_flushed_at = time.monotonic()
        if not rows:
            return
        with self.write() as tx:
            tx.conn.executemany(
                f"INSERT INTO request_log ({', '.join(REQUEST_LOG_COLUMNS)}) VALUES "
                f"({', '.join('?' for _ in REQUEST_LOG_COLUMNS)})",
                rows,
            )
            if max_rows is not None:
                first, last = tx.execute("SELECT MIN(id), MAX(id) FROM request_log").fetchone()
                if last - first >= max_rows:
                    tx.execute("DELETE FROM request_log WHERE id <= ?", (last - (max_rows - max_rows // 10),))

    def reset(self, master_data: bool) -> None:
        self.flush_request_log()
        with self.write() as tx:
            for name in STATE_TABLES + (("customer", "item") if master_data else ()):
                tx.execute(f"DELETE FROM {name}")

    def close(self) -> None:
        self.flush_request_log()
        with self._lock:
            pool, self._pool = self._pool, []
        for conn in pool:
            conn.close()

"""RQL against real rows: every expression of the table runs on SQLite and, when
``BILLING_TEST_DATABASE_URL`` is set, on PostgreSQL (in a throwaway schema)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from billing.kit.rql import (
    Collection,
    Field,
    FieldType,
    Registry,
    RqlError,
    compile_filter,
    compile_order,
    parse_query_string,
)

PG_URL = os.environ.get("BILLING_TEST_DATABASE_URL")

# (id, name, status, quantity, created, notes, flag, client_id, rank)
DOCS = [
    (1, "June 2025 Charges", "Draft", "10", datetime(2025, 1, 1), "first", True, "CLI-0001", 1),
    (2, "O'Brien", "Issued", "2.5", datetime(2025, 1, 1, 10), "", False, "CLI-0002", 2),
    (3, "Łódź", "Error", "-3", datetime(2025, 2, 15, 12, 30), None, None, "CLI-0001", 3),
    (4, "東京", "Draft", "0", datetime(2024, 12, 31, 23, 59, 59), 'say "hi"', True, None, 4),
    (5, "star*name", "Issued", "1000", datetime(2025, 3, 1), "a%b", False, "CLI-0003", 5),
    (6, "100% off", "Draft", None, None, "a_b", None, "CLI-0002", None),
    (
        7,
        "under_score",
        "Error",
        "7",
        datetime(2025, 6, 30, 8, 0, 0, 500000),
        "back\\slash",
        True,
        "CLI-0003",
        7,
    ),
    (
        8,
        "june 2025 charges",
        "Issued",
        "10.000001",
        datetime(2025, 1, 1, 9, 59, 59),
        None,
        False,
        "CLI-0001",
        8,
    ),
    (9, "Robert'); DROP TABLE doc;--", "Draft", "1", datetime(2025, 4, 1), None, None, None, 9),
]
# (id, doc, itemNo, quantity); documents 3, 6 and 9 have no lines
LINES = [
    (1, 1, "SKU-001", "1"),
    (2, 1, "SKU-002", "5"),
    (3, 2, "SKU-001", "0"),
    (4, 4, "SKU-003", "2"),
    (5, 5, "SKU-002", None),
    (6, 7, "SKU-001", "3"),
    (7, 7, "SKU-001", "4"),
    (8, 8, "SKU-004", "-1"),
]
ALL = set(range(1, 10))


def doc_id(number: int) -> str:
    return f"DOC-{number:04d}"


@dataclass
class Db:
    engine: sa.Engine
    doc: sa.Table
    registry: Registry

    def ids(self, where: sa.ColumnElement[bool] | None) -> set[str]:
        query = sa.select(self.doc.c.id)
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            return set(conn.scalars(query))

    def ordered(self, order_by: list[Any]) -> list[int]:
        with self.engine.connect() as conn:
            rows = conn.scalars(sa.select(self.doc.c.id).order_by(*order_by))
            return [int(value[4:]) for value in rows]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(sa.func.count()).select_from(self.doc)) or 0


def build_schema(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table, Registry]:
    doc = sa.Table(
        "doc",
        metadata,
        sa.Column("id", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("quantity", sa.Numeric(18, 6)),
        sa.Column("created", sa.DateTime),
        sa.Column("notes", sa.String(100)),
        sa.Column("flag", sa.Boolean),
        sa.Column("client_id", sa.String(20)),
        sa.Column("rank", sa.Integer),
    )
    line = sa.Table(
        "line",
        metadata,
        sa.Column("id", sa.String(20), primary_key=True),
        sa.Column("doc_id", sa.ForeignKey(doc.c.id), nullable=False),
        sa.Column("item_no", sa.String(20), nullable=False),
        sa.Column("qty", sa.Numeric(18, 6)),
    )

    def lines_exist(predicate: sa.ColumnElement[bool] | None) -> sa.ColumnElement[bool]:
        condition = line.c.doc_id == doc.c.id
        return sa.exists().where(condition if predicate is None else sa.and_(condition, predicate))

    registry: Registry = {
        "id": Field(doc.c.id, FieldType.ID),
        "name": Field(doc.c.name, FieldType.STRING),
        "status": Field(doc.c.status, FieldType.ENUM, ("Draft", "Issued", "Error")),
        "quantity": Field(doc.c.quantity, FieldType.NUMBER),
        "audit.created.at": Field(doc.c.created, FieldType.DATETIME),
        "notes": Field(doc.c.notes, FieldType.STRING),
        "flag": Field(doc.c.flag, FieldType.BOOLEAN),
        "client.id": Field(doc.c.client_id, FieldType.ID),
        "rank": Field(doc.c.rank, FieldType.INTEGER),
        "namelength": Field(sa.func.length(doc.c.name), FieldType.INTEGER, sortable=False),
        "lines": Collection(
            fields={
                "id": Field(line.c.id, FieldType.ID),
                "itemno": Field(line.c.item_no, FieldType.STRING),
                "price.quantity": Field(line.c.qty, FieldType.NUMBER),
            },
            exists=lines_exist,
        ),
    }
    return doc, line, registry


def _unicode_lower(value: Any) -> Any:
    """SQLite's built-in lower() folds ASCII only."""
    return value.lower() if isinstance(value, str) else value


def _sqlite_engine() -> sa.Engine:
    engine = sa.create_engine("sqlite://", poolclass=StaticPool)

    @sa.event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA case_sensitive_like = ON")
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)

    return engine


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite"),
        pytest.param(
            "postgresql",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not PG_URL, reason="BILLING_TEST_DATABASE_URL is not set"),
            ],
        ),
    ],
)
def sample(request: pytest.FixtureRequest) -> Iterator[Db]:
    schema = None
    if request.param == "sqlite":
        engine = _sqlite_engine()
    else:
        assert PG_URL
        engine = sa.create_engine(PG_URL)
        schema = f"rql_test_{uuid.uuid4().hex[:12]}"
        with engine.begin() as conn:
            conn.execute(sa.schema.CreateSchema(schema))
    metadata = sa.MetaData(schema=schema)
    doc, line, registry = build_schema(metadata)
    try:
        with engine.begin() as conn:
            metadata.create_all(conn)
            conn.execute(
                doc.insert(),
                [
                    dict(
                        zip(
                            [
                                "id",
                                "name",
                                "status",
                                "quantity",
                                "created",
                                "notes",
                                "flag",
                                "client_id",
                                "rank",
                            ],
                            (doc_id(n), name, status, qty and Decimal(qty), *rest),
                            strict=True,
                        )
                    )
                    for n, name, status, qty, *rest in DOCS
                ],
            )
            conn.execute(
                line.insert(),
                [
                    {"id": f"LIN-{n:04d}", "doc_id": doc_id(d), "item_no": item, "qty": qty and Decimal(qty)}
                    for n, d, item, qty in LINES
                ],
            )
        yield Db(engine, doc, registry)
    finally:
        with engine.begin() as conn:
            if schema:
                conn.execute(sa.schema.DropSchema(schema, cascade=True))
            else:
                metadata.drop_all(conn)
        engine.dispose()


# A case is an expression (one filter piece) or, when it starts with "?", a raw query string that goes through
# parse_query_string first. The expectation is the set of matching documents or a substring of the RqlError.
CASES: list[tuple[str, set[int] | str]] = [
    # strings: case-sensitive equality, quoting, whitespace, shortcut
    ('eq(name,"O\'Brien")', {2}),
    ('name="O\'Brien"', {2}),
    ("eq(name,'June 2025 Charges')", {1}),
    ("eq(name,June 2025 Charges)", {1}),
    ("eq( name ,  June 2025 Charges  )", {1}),
    ("eq(name,' June 2025 Charges')", set()),
    ("eq(name,june 2025 charges)", {8}),
    ("EQ(NAME,Łódź)", {3}),
    ("name=東京", {4}),
    ("ne(name,Łódź)", ALL - {3}),
    ("ne(notes,first)", ALL - {1}),
    ("eq(notes,'')", {2}),
    ('eq(notes,"")', {2}),
    ("eq(notes,'say \"hi\"')", {4}),
    ('eq(name,"Robert\'); DROP TABLE doc;--")', {9}),
    # enums: case-insensitive, validated
    ("eq(status,draft)", {1, 4, 6, 9}),
    ("status=ISSUED", {2, 5, 8}),
    ("eq(status,'Error')", {3, 7}),
    ("ne(status,Draft)", {2, 3, 5, 7, 8}),
    (
        "eq(status,Deleted)",
        "Value 'Deleted' is not valid for enum property 'status'; expected Draft, Issued, Error.",
    ),
    ("eq(Status,'')", "Value '' is not valid for enum property 'Status'"),
    # ids: case-insensitive
    ("eq(id,doc-0001)", {1}),
    ("eq(client.id,cli-0001)", {1, 3, 8}),
    ("eq(Client.Id,CLI-0002)", {2, 6}),
    ("ne(client.id,CLI-0001)", {2, 4, 5, 6, 7, 9}),
    ("in(id,(doc-0001,DOC-0002,Doc-0003))", {1, 2, 3}),
    ("like(id,doc-000*)", ALL),
    ("like(client.id,*-0003)", {5, 7}),
    ("like(client.id,cli-0003)", {5, 7}),
    # numbers
    ("eq(quantity,10)", {1}),
    ("eq(quantity,'10.0')", {1}),
    ("gt(quantity,10)", {5, 8}),
    ("ge(quantity,10)", {1, 5, 8}),
    ("lt(quantity,0)", {3}),
    ("le(quantity,0)", {3, 4}),
    ("gt(quantity,-1e1)", ALL - {6}),
    ("eq(quantity,1e3)", {5}),
    ("eq(quantity,2.50)", {2}),
    ("eq(quantity,10.000001)", {8}),
    ("gt(quantity,abc)", "Value 'abc' is not valid for number property 'quantity'."),
    ("eq(quantity,NaN)", "Value 'NaN' is not valid for number property 'quantity'."),
    ("eq(quantity,'')", "Value '' is not valid for number property 'quantity'."),
    ("lt(quantity,1e999999999)", "Value '1e999999999' is not valid for number property 'quantity'."),
    ("eq(rank,7)", {7}),
    ("eq(rank,7.0)", {7}),
    ("eq(rank,7.5)", "Value '7.5' is not valid for number property 'rank'."),
    ("gt(rank,1e400)", "Value '1e400' is not valid for number property 'rank'."),
    ("lt(namelength,5)", {3, 4}),
    # date-times: dates mean midnight UTC; quoted, unquoted, offsets, percent-encoded
    ("eq(audit.created.at,2025-01-01)", {1}),
    ("ge(audit.created.at,2025-01-01)", {1, 2, 3, 5, 7, 8, 9}),
    ("lt(audit.created.at,'2025-01-01')", {4}),
    ("eq(audit.created.at,2025-01-01T10:00:00Z)", {2}),
    ('eq(audit.created.at,"2025-01-01T12:00:00+02:00")', {2}),
    ("?ge(audit.created.at,2025-01-01T10%3A00%3A00Z)", {2, 3, 5, 7, 9}),
    ("?eq(audit.created.at,2025-01-01T11:00:00+01:00)", {2}),
    ("?eq(audit.created.at,2025-01-01T11%3A00%3A00%2B01%3A00)", {2}),
    ("?eq(audit.created.at,%272025-01-01T10:00:00.000Z%27)", {2}),
    ("gt(audit.created.at,2025-06-30T08:00:00Z)", {7}),
    ("eq(audit.created.at,2025-06-30T08:00:00.5Z)", {7}),
    ("le(audit.created.at,2025-01-01T09:59:59Z)", {1, 4, 8}),
    (
        "eq(audit.created.at,yesterday)",
        "Value 'yesterday' is not valid for date-time property 'audit.created.at'.",
    ),
    ("eq(audit.created.at,2025-02-30)", "Value '2025-02-30' is not valid for date-time property"),
    ("eq(audit.created.at,0001-01-01T00:00:00+01:00)", "is not valid for date-time property"),
    # booleans
    ("eq(flag,true)", {1, 4, 7}),
    ("eq(flag,FALSE)", {2, 5, 8}),
    ("ne(flag,true)", {2, 3, 5, 6, 8, 9}),
    ("eq(flag,yes)", "Value 'yes' is not valid for boolean property 'flag'."),
    # null() and empty() on scalars and collections
    ("eq(notes,null())", {3, 8, 9}),
    ("ne(notes,null())", {1, 2, 4, 5, 6, 7}),
    ("eq(notes,empty())", {2, 3, 8, 9}),
    ("ne(notes,empty())", {1, 4, 5, 6, 7}),
    ("notes=empty()", {2, 3, 8, 9}),
    ("eq(quantity,null())", {6}),
    ("eq(quantity,empty())", {6}),
    ("eq(client.id,NULL())", {4, 9}),
    ("eq(lines,empty())", {3, 6, 9}),
    ("ne(lines,empty())", {1, 2, 4, 5, 7, 8}),
    ("gt(quantity,null())", "Unexpected 'null()' at position 12."),
    ("eq(lines,null())", "Property 'lines' is a collection"),
    # in / out, both forms
    ("in(status,(Draft,Error))", {1, 3, 4, 6, 7, 9}),
    ("in(status,Draft,error)", {1, 3, 4, 6, 7, 9}),
    ("in(status,issued)", {2, 5, 8}),
    ("out(status,(Draft,Error))", {2, 5, 8}),
    ("in(quantity,(10,2.5,1e3))", {1, 2, 5}),
    ("out(quantity,(10,2.5))", ALL - {1, 2}),
    ("in(notes,(first,null()))", {1, 3, 8, 9}),
    ("out(notes,(first,null()))", {2, 4, 5, 6, 7}),
    ("in(notes,(empty()))", {2, 3, 8, 9}),
    ("out(notes,(empty(),first))", {4, 5, 6, 7}),
    ("in(status,())", set()),
    ("out(status,())", ALL),
    ("in(audit.created.at,('2025-01-01',2025-01-01T10:00:00Z))", {1, 2}),
    ("in(status,(Draft,Bogus))", "Value 'Bogus' is not valid for enum property 'status'"),
    ("in(status)", "Too few arguments for 'in' at position 9."),
    ("in(status,((Draft)))", "Unexpected '(' at position 11."),
    # like / ilike: * wildcard, \* literal star, %, _ and \ are data
    ("like(name,June*)", {1}),
    ("like(name,*charges)", {8}),
    ("ilike(name,*CHARGES)", {1, 8}),
    ("like(name,*\\*name)", {5}),
    ("like(name,star\\*name)", {5}),
    ("like(name,*%*)", {6}),
    ("like(name,*_*)", {7}),
    ("like(name,____)", set()),
    ("like(name,%)", set()),
    ("like(notes,a%b)", {5}),
    ("like(notes,a_b)", {6}),
    ("like(notes,back\\slash)", {7}),
    ("like(notes,*\\slash)", {7}),
    ("ilike(name,*ŁÓDŹ*)", {3}),
    ("like(name,*ódź)", {3}),
    ("like(name,*ÓDŹ)", set()),
    ("ilike(name,june 2025 CHARGES)", {1, 8}),
    ("like(name,june 2025 CHARGES)", set()),
    ("like(status,dr*)", {1, 4, 6, 9}),
    ("like(status,draft)", {1, 4, 6, 9}),
    ("like(name,*)", ALL),
    ("like(notes,*)", {1, 2, 4, 5, 6, 7}),
    ('like(name,"*\'*")', {2, 9}),
    ("ilike(name,*東*)", {4}),
    ("like(quantity,1*)", "Operator 'like' is not valid for number property 'quantity'."),
    ("like(name,null())", "Unexpected 'null()' at position 10."),
    # logic: , & AND; ; | OR; AND binds tighter; groups; and/or/not calls
    ("eq(status,Draft),eq(flag,true)", {1, 4}),
    ("eq(status,Draft)&eq(flag,true)", {1, 4}),
    ("eq(status,Error);eq(flag,true)", {1, 3, 4, 7}),
    ("eq(status,Error)|eq(flag,true)", {1, 3, 4, 7}),
    ("eq(status,Error)|eq(flag,true),eq(rank,1)", {1, 3, 7}),
    ("eq(rank,1),eq(flag,true)|eq(status,Error)", {1, 3, 7}),
    ("(eq(status,Error)|eq(flag,true)),eq(rank,1)", {1}),
    ("status=Draft&flag=true", {1, 4}),
    ("status=Draft;status=Error", {1, 3, 4, 6, 7, 9}),
    ("and(eq(status,Draft),or(eq(rank,4),eq(rank,9)))", {4, 9}),
    ("or(eq(rank,1),and(eq(status,Issued),gt(quantity,5)))", {1, 5, 8}),
    ("AND(status=Draft,Or(rank=4,rank=9))", {4, 9}),
    ("and(eq(status,Draft)&eq(flag,true),eq(rank,4)|eq(rank,1))", {1, 4}),
    ("not(eq(status,Draft))", {2, 3, 5, 7, 8}),
    ("not(gt(quantity,5))", {2, 3, 4, 6, 9}),
    ("not(eq(notes,first))", ALL - {1}),
    ("not(not(eq(flag,true)))", {1, 4, 7}),
    ("not(eq(rank,1)|eq(rank,2))", ALL - {1, 2}),
    ("((((eq(rank,1)))))", {1}),
    ("((eq(rank,1)|eq(rank,2)),(eq(flag,false)|eq(flag,true)))", {1, 2}),
    ("?status=Draft&flag=true", {1, 4}),
    ("?and(eq(status,Draft),eq(flag,true))&limit=5&order=-name&select=-*,id&render()", {1, 4}),
    ("?eq(name,'a&b')|eq(rank,2)&eq(flag,false)", {2}),
    ("?eq(name,%27100%25 off%27)", {6}),
    # any / all over a collection; paths inside are relative to the element
    ("any(lines,eq(itemNo,SKU-001))", {1, 2, 7}),
    ("any(Lines,ItemNo=SKU-002)", {1, 5}),
    ("all(lines,eq(itemNo,SKU-001))", {2, 3, 6, 7, 9}),
    ("all(lines,gt(price.quantity,0))", {1, 3, 4, 6, 7, 9}),
    ("any(lines,gt(price.quantity,4))", {1}),
    ("not(any(lines,eq(itemNo,SKU-001)))", {3, 4, 5, 6, 8, 9}),
    ("all(lines,eq(price.quantity,null()))", {3, 5, 6, 9}),
    ("any(lines,eq(id,lin-0008))", {8}),
    ("any(lines,and(eq(itemNo,SKU-001),ge(price.quantity,4)))", {7}),
    ("any(lines,eq(itemNo,SKU-001)|eq(itemNo,SKU-003))", {1, 2, 4, 7}),
    ("not(all(lines,eq(itemNo,SKU-001)))", {1, 4, 5, 8}),
    ("any(lines,eq(name,x))", "Unknown property 'name'."),
    ("any(name,eq(x,1))", "Property 'name' is not a collection"),
    ("eq(lines,SKU-001)", "Property 'lines' is a collection"),
    ("eq(lines.itemNo,SKU-001)", "Unknown property 'lines.itemNo'."),
    ("any(lines)", "Too few arguments for 'any' at position 9."),
    # unknown properties and operators
    ("eq(price.totalPP,1)", "Unknown property 'price.totalPP'."),
    ("rql=x", "Unknown property 'rql'."),
    ("filter(name,x)", "Unknown operator 'filter' at position 0."),
    ("eq(name,x)&Contains(name,x)", "Unknown operator 'Contains' at position 11."),
    ("rql=eq(name,x)", "Unexpected '(' at position 6."),
    # syntax errors name the token and its position
    ("eq(name,x))", "Unexpected ')' at position 10."),
    ("eq(name,'x", "Unterminated quoted value starting at position 8."),
    ('eq(name,"x', "Unterminated quoted value starting at position 8."),
    ("eq(name,O'Brien)", "Unterminated quoted value starting at position 9."),
    ("eq(name", "Unexpected end of expression at position 7."),
    ("eq(name)", "Too few arguments for 'eq' at position 7."),
    ("eq(name,a,b)", "Too many arguments for 'eq' at position 9."),
    ("not(eq(name,x),eq(name,y))", "Too many arguments for 'not' at position 14."),
    ("eq(name,x)eq(name,y)", "Unexpected 'eq' at position 10."),
    ("eq(,x)", "Unexpected ',' at position 3."),
    (",eq(name,x)", "Unexpected ',' at position 0."),
    ("eq(name,x)|", "Unexpected end of expression at position 11."),
    ("eq(name,(a,b))", "Unexpected '(' at position 8."),
    ("eq(a b,1)", "Invalid property path 'a b' at position 3."),
    ("eq(name,x=y)", "Unexpected '=' at position 9."),
    ("status", "Unexpected end of expression at position 6."),
    ("eq(name,null(x))", "Unexpected 'x' at position 13."),
    ("eq(name,'x''y')", "Unexpected \"'y'\" at position 11."),
    ("(eq(name,x)", "Unexpected end of expression at position 11."),
    ("null()", "Unexpected 'null()' at position 0."),
]


def _run(sample: Db, query: str) -> set[str]:
    filters = parse_query_string(query[1:]).filters if query.startswith("?") else [query]
    return sample.ids(compile_filter(filters, sample.registry))


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 90
    assert len({query for query, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_filter(sample: Db, query: str, expected: set[int] | str) -> None:
    if isinstance(expected, str):
        with pytest.raises(RqlError) as error:
            _run(sample, query)
        assert expected in error.value.message
        assert str(error.value) == error.value.message
    else:
        assert _run(sample, query) == {doc_id(n) for n in expected}


INJECTIONS = [
    "eq(name,'x'' OR 1=1--')",
    "eq(name,x;DROP TABLE doc)",
    "eq(name,\"a') OR ('1'='1\")",
    "eq(name,x' OR '1'='1)",
    "eq(name,'x');DROP TABLE doc;--')",
    "name=x' --",
    "eq(name,x)" + ")" * 500,
    "(" * 500 + "eq(name,x)",
    "(" * 10_000 + "eq(name,x)" + ")" * 10_000,
    "not(" * 10_000 + "eq(name,x)" + ")" * 10_000,
    "in(status,(" * 10_000,
    "eq(name," + "a" * 100_000 + ")",
    "or(" + ",".join(["eq(name,x)"] * 10_000) + ")",
    "in(name,(" + ",".join(f"v{n}" for n in range(6000)) + "))",
    "eq(name,a\x00b)",
    "eq(name,'\ud800')",
    "eq(name,'\u202e東京😀')",
    "eq(name,\\x27)",
    "eq(name,'%')",
    "eq(name,'?')",
    "eq(name,:name)",
    "eq(name,$1)",
    "eq(doc.id;DELETE FROM doc,1)",
    "eq(name,'" + "x" * 60_000 + "')",
]


@pytest.mark.parametrize("query", INJECTIONS, ids=range(len(INJECTIONS)))
def test_injection_attempts_stay_data(sample: Db, query: str) -> None:
    try:
        matched = sample.ids(compile_filter([query], sample.registry))
    except RqlError as error:
        assert error.message.endswith(".")
        assert len(error.message) < 200
    else:
        assert matched == set()
    assert sample.count() == len(DOCS)


def test_injection_through_query_string(sample: Db) -> None:
    query = parse_query_string("eq(name,%27x%27)%3BDROP%20TABLE%20doc&eq(name,%00)")
    with pytest.raises(RqlError):
        compile_filter(query.filters, sample.registry)
    assert sample.count() == len(DOCS)


def test_many_values_are_bound_as_parameters(sample: Db) -> None:
    names = [f"name {n}" for n in range(4990)] + ["Łódź", "東京"]
    where = compile_filter([f"in(name,({','.join(repr(name) for name in names)}))"], sample.registry)
    assert sample.ids(where) == {doc_id(3), doc_id(4)}


def test_limits() -> None:
    registry: Registry = {"name": Field(sa.column("name", sa.String), FieldType.STRING)}
    with pytest.raises(RqlError, match="Query is too long"):
        compile_filter(["eq(name,x)"] * 7000, registry)
    with pytest.raises(RqlError, match="too many values"):
        compile_filter(["in(name,(" + ",".join(["a"] * 3000) + "))"] * 2, registry)
    with pytest.raises(RqlError, match="nested too deeply at position 64"):
        compile_filter(["(" * 65 + "eq(name,x)" + ")" * 65], registry)
    assert compile_filter(["(" * 63 + "eq(name,x)" + ")" * 63], registry) is not None


def test_no_filters_compile_to_none(sample: Db) -> None:
    assert compile_filter([], sample.registry) is None


def test_values_are_parameters_not_sql(sample: Db) -> None:
    where = compile_filter(["eq(name,\"x' OR '1'='1\")"], sample.registry)
    assert where is not None
    sql = str(where.compile(sample.engine))
    assert "OR" not in sql
    assert "1'='1" not in sql


# --- order -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (None, [7, 9, 5, 3, 2, 8, 1, 4, 6]),
        ("", [7, 9, 5, 3, 2, 8, 1, 4, 6]),
        ("quantity", [6, 3, 4, 9, 2, 7, 1, 8, 5]),
        ("+quantity", [6, 3, 4, 9, 2, 7, 1, 8, 5]),
        (" quantity", [6, 3, 4, 9, 2, 7, 1, 8, 5]),
        ("-quantity", [5, 8, 1, 7, 2, 9, 4, 3, 6]),
        ("status,-rank", [9, 4, 1, 6, 7, 3, 8, 5, 2]),
        ("Status, -Rank", [9, 4, 1, 6, 7, 3, 8, 5, 2]),
        ("rank", [6, 1, 2, 3, 4, 5, 7, 8, 9]),
        ("client.id", [4, 9, 1, 3, 8, 2, 6, 5, 7]),
        ("-client.id", [5, 7, 2, 6, 1, 3, 8, 4, 9]),
        ("-id", [9, 8, 7, 6, 5, 4, 3, 2, 1]),
        ("-flag,audit.created.at", [4, 1, 7, 8, 2, 5, 6, 3, 9]),
    ],
)
def test_order(sample: Db, order: str | None, expected: list[int]) -> None:
    clauses = compile_order(order, sample.registry, default="-audit.created.at", tiebreak=sample.doc.c.id)
    assert sample.ordered(clauses) == expected


def test_order_appends_the_tiebreak_once(sample: Db) -> None:
    tiebreak = sample.doc.c.id
    assert len(compile_order("name", sample.registry, default="id", tiebreak=tiebreak)) == 2  # name, id
    assert len(compile_order("-id", sample.registry, default="id", tiebreak=tiebreak)) == 1


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ("price.totalPP", "Unknown property 'price.totalPP'."),
        ("-Nope", "Unknown property 'Nope'."),
        ("lines", "Property 'lines' cannot be used in order."),
        ("namelength", "Property 'namelength' cannot be used in order."),
        ("name,,rank", "Empty order term at position 5."),
        ("-", "Empty order term at position 0."),
    ],
)
def test_order_errors(sample: Db, order: str, message: str) -> None:
    with pytest.raises(RqlError) as error:
        compile_order(order, sample.registry, default="id", tiebreak=sample.doc.c.id)
    assert error.value.message == message

"""Projections: select tokens (billing-api.md §4.5), default projections (§4.8) and $meta.omitted (§3.5)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from billing.kit.select import Projection

FIELDS = ["id", "name", "status", "price", "lines", "audit", "processing"]
NON_CORE = {"audit", "processing"}
ITEM: dict[str, Any] = {
    "id": "JRN-0001",
    "name": "June",
    "status": "Draft",
    "price": {"unitPP": 1, "unitSP": 2, "currency": {"purchase": "EUR", "sale": "USD"}},
    "lines": [
        {"id": "L1", "itemNo": "A", "price": {"q": 1, "r": 2}},
        {"id": "L2", "itemNo": "B", "price": {"q": 3, "r": 4}},
    ],
    "audit": {"created": {"at": "t1", "by": "u1"}, "updated": None},
    "processing": {"state": "done"},
}
CORE = {key: ITEM[key] for key in ("id", "name", "status", "price", "lines")}


def project(select: str | None, *, full: bool = False) -> tuple[dict[str, Any], list[str]]:
    projection = Projection.build(select, fields=FIELDS, non_core=NON_CORE, full=full)
    return projection.apply(ITEM), projection.omitted


@pytest.mark.parametrize(
    ("select", "full", "expected", "omitted"),
    [
        (None, False, CORE, ["audit", "processing"]),
        ("", False, CORE, ["audit", "processing"]),
        (None, True, ITEM, []),
        ("audit", False, {**CORE, "audit": ITEM["audit"]}, ["processing"]),
        ("+audit", False, {**CORE, "audit": ITEM["audit"]}, ["processing"]),
        (" audit", False, {**CORE, "audit": ITEM["audit"]}, ["processing"]),
        ("AUDIT", False, {**CORE, "audit": ITEM["audit"]}, ["processing"]),
        ("-name", False, {k: v for k, v in CORE.items() if k != "name"}, ["name", "audit", "processing"]),
        ("-name", True, {k: v for k, v in ITEM.items() if k != "name"}, ["name"]),
        ("-*", False, {"id": "JRN-0001"}, FIELDS[1:]),
        ("-*", True, {"id": "JRN-0001"}, FIELDS[1:]),
        ("-*,-id", False, {"id": "JRN-0001"}, FIELDS[1:]),
        (
            "-*,status,id",
            False,
            {"id": "JRN-0001", "status": "Draft"},
            ["name", "price", "lines", "audit", "processing"],
        ),
        (
            "status,-*,name",
            False,
            {"id": "JRN-0001", "name": "June"},
            ["status", "price", "lines", "audit", "processing"],
        ),
        (
            "-*,audit.created.at",
            False,
            {"id": "JRN-0001", "audit": {"created": {"at": "t1"}}},
            ["name", "status", "price", "lines", "processing"],
        ),
        (
            "-*,audit.updated.at",
            False,
            {"id": "JRN-0001", "audit": {"updated": None}},
            [*FIELDS[1:5], "processing"],
        ),
        (
            "-*,Audit.Created.At",
            False,
            {"id": "JRN-0001", "audit": {"created": {"at": "t1"}}},
            [*FIELDS[1:5], "processing"],
        ),
        (
            "-price.unitPP",
            False,
            {**CORE, "price": {"unitSP": 2, "currency": {"purchase": "EUR", "sale": "USD"}}},
            ["audit", "processing"],
        ),
        (
            "-price.currency.purchase",
            False,
            {**CORE, "price": {"unitPP": 1, "unitSP": 2, "currency": {"sale": "USD"}}},
            ["audit", "processing"],
        ),
        (
            "-price.currency.purchase,price.currency.purchase",
            False,
            CORE,
            ["audit", "processing"],
        ),
        (
            "-*,price.unitPP,price",
            False,
            {"id": "JRN-0001", "price": ITEM["price"]},
            ["name", "status", "lines", "audit", "processing"],
        ),
        ("price.unitPP", False, CORE, ["audit", "processing"]),
        ("-audit.created", False, CORE, ["audit", "processing"]),
        (
            "-*,+lines.id",
            False,
            {"id": "JRN-0001", "lines": [{"id": "L1"}, {"id": "L2"}]},
            ["name", "status", "price", "audit", "processing"],
        ),
        (
            "-*,lines.price.q,lines.itemNo",
            False,
            {
                "id": "JRN-0001",
                "lines": [{"itemNo": "A", "price": {"q": 1}}, {"itemNo": "B", "price": {"q": 3}}],
            },
            ["name", "status", "price", "audit", "processing"],
        ),
        (
            "-lines.price",
            False,
            {**CORE, "lines": [{"id": "L1", "itemNo": "A"}, {"id": "L2", "itemNo": "B"}]},
            ["audit", "processing"],
        ),
        (
            "-*,+lines",
            False,
            {"id": "JRN-0001", "lines": ITEM["lines"]},
            ["name", "status", "price", "audit", "processing"],
        ),
        ("unknown,-other,secret.x,*,+*,a..b,.", False, CORE, ["audit", "processing"]),
        (
            "name,,-status, ",
            False,
            {k: v for k, v in CORE.items() if k != "status"},
            ["status", "audit", "processing"],
        ),
        ("-audit,processing", True, {k: v for k, v in ITEM.items() if k != "audit"}, ["audit"]),
    ],
)
def test_projection(select: str | None, full: bool, expected: dict[str, Any], omitted: list[str]) -> None:
    result, result_omitted = project(select, full=full)
    assert result == expected
    assert list(result) == [key for key in ITEM if key in expected]
    assert result_omitted == omitted


def test_apply_does_not_modify_the_item() -> None:
    before = copy.deepcopy(ITEM)
    result, _ = project("-*,lines.id,-price.unitPP,price", full=True)
    assert before == ITEM
    assert result is not ITEM
    assert "$meta" not in result


def test_id_is_kept_even_when_not_a_visible_field() -> None:
    projection = Projection.build("-*", fields=["name"], non_core=(), full=True)
    assert projection.apply({"id": "X", "name": "n"}) == {"id": "X"}
    assert projection.omitted == ["name"]


def test_hidden_fields_are_dropped_and_cannot_be_selected() -> None:
    projection = Projection.build("markup,price.markup", fields=["id", "price"], non_core=(), full=False)
    item = {"id": "X", "price": {"unitSP": 1, "markup": 2}, "markup": 3}
    assert projection.apply(item) == {"id": "X", "price": {"unitSP": 1, "markup": 2}}
    assert projection.omitted == []


def test_non_dict_values_under_a_nested_selection_are_kept() -> None:
    projection = Projection.build("-*,price.unitPP,lines.id", fields=FIELDS, non_core=NON_CORE, full=False)
    item = {"id": "X", "price": None, "lines": [{"id": "L1", "x": 1}, None, "raw"]}
    assert projection.apply(item) == {"id": "X", "price": None, "lines": [{"id": "L1"}, None, "raw"]}

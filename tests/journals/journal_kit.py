"""Shared helpers for journal API tests: demo data picks, charge lines, journal creation and upload."""

from __future__ import annotations

import orjson

from billing.reference.demo import DEMO_ACCOUNTS, build_demo_dataset

DATASET = build_demo_dataset()
VENDOR = DEMO_ACCOUNTS["vendor"]
#: The demo vendor's USD authorization, a plain (non-split) subscription of its product, and one of its items.
AUTH = next(a for a in DATASET["authorizations"] if a["vendor"] == VENDOR and a["currency"] == "USD")
PRODUCT = AUTH["product"]
AGREEMENTS = {a["id"]: a for a in DATASET["agreements"]}
SUBSCRIPTION = next(
    s
    for s in DATASET["subscriptions"]
    if AGREEMENTS[s["agreement"]]["product"] == PRODUCT
    and not AGREEMENTS[s["agreement"]].get("split")
    and AGREEMENTS[s["agreement"]].get("currency") in (None, "USD")
    and s.get("items")
)
ITEM = SUBSCRIPTION["items"][0]


def line(entry: str, **overrides) -> dict:
    """A valid charge line for SUBSCRIPTION/ITEM; keyword arguments replace top-level members."""
    body = {
        "externalIds": {"vendor": entry, "invoice": "INV1"},
        "search": {
            "source": {"type": "Subscription", "criteria": "id", "value": SUBSCRIPTION["id"]},
            "item": {"criteria": "item.id", "value": ITEM},
        },
        "period": {"start": "2025-06-01", "end": "2025-06-30T23:59:59Z"},
        "quantity": 10,
        "price": {"unitPP": 10, "PPx1": 100},
    }
    body.update(overrides)
    return body


def jsonl(*lines: dict | str) -> bytes:
    return b"\n".join(item.encode() if isinstance(item, str) else orjson.dumps(item) for item in lines) + b"\n"


def new_journal(api, vendor, authorization: str | None = None) -> str:
    body = {"name": "June", "authorization": {"id": authorization or AUTH["id"]}}
    response = api.post("/journals", headers=vendor, json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def upload(api, vendor, journal_id, content: bytes, name="charges.jsonl", media="application/x-ndjson"):
    return api.post(f"/journals/{journal_id}/upload", headers=vendor, files={"file": (name, content, media)})

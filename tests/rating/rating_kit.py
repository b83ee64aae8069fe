"""Shared builders for rating tests: the spec's minimal reference set (§11.2) with knobs, and charge lines."""

from __future__ import annotations

import orjson

from conftest import bearer

OPS, VENDOR, CLIENT = "ACC-0000-0001", "ACC-3102-8586", "ACC-8119-0187"
SELLER = "SEL-7032-1456"


def world(*, subscription_markup="15", default_markup="12", policies=None) -> dict:
    """The spec's minimal reference set (§11.2) with knobs for the markup sources."""
    return {
        "accounts": [
            {"id": OPS, "type": "Operations", "name": "Operator"},
            {"id": VENDOR, "type": "Vendor", "name": "Vendor Co"},
            {"id": CLIENT, "type": "Client", "name": "Contoso"},
            {"id": "ACC-8119-0999", "type": "Client", "name": "Fabrikam"},
        ],
        "api-tokens": [
            {"id": "TKN-0000-0001", "name": "ops", "account": OPS, "secret": "ops-secret"},
            {"id": "TKN-0000-0002", "name": "vendor", "account": VENDOR, "secret": "vendor-secret"},
            {"id": "TKN-0000-0003", "name": "client", "account": CLIENT, "secret": "client-secret"},
            {"id": "TKN-0000-0004", "name": "other client", "account": "ACC-8119-0999", "secret": "other-secret"},
        ],
        "sellers": [
            {
                "id": SELLER,
                "name": "Operator Inc.",
                "externalId": "US",
                "address": {"country": "US"},
                "currencies": ["USD"],
                "erpLink": {"id": "ERP-US", "name": "NAV US", "status": "Active"},
                "erp": {"company": "CRONUS US", "countryCode": "US"},
            }
        ],
        "buyers": [
            {
                "id": "BUY-3731-7971",
                "name": "Contoso Ltd",
                "client": CLIENT,
                "erpCustomers": [{"seller": SELLER, "customerNo": "US-SCU-100064"}],
            }
        ],
        "products": [{"id": "PRD-2426-7318", "name": "Cloud Suite", "vendor": VENDOR}],
        "items": [
            {
                "id": "ITM-2426-7318-0001",
                "name": "Seat",
                "product": "PRD-2426-7318",
                "externalIds": {"vendor": "SKU-STD-01", "operations": "CS01.00001.MP"},
            }
        ],
        "authorizations": [
            {
                "id": "AUT-5305-9928",
                "name": "Cloud Suite US",
                "vendor": VENDOR,
                "product": "PRD-2426-7318",
                "owner": SELLER,
                "currency": "USD",
            }
        ],
        "agreements": [
            {
                "id": "AGR-3617-1129-0665",
                "name": "Contoso Cloud Suite",
                "client": CLIENT,
                "buyer": "BUY-3731-7971",
                "seller": SELLER,
                "product": "PRD-2426-7318",
                "vendor": VENDOR,
                "defaultMarkup": default_markup,
            }
        ],
        "subscriptions": [
            {
                "id": "SUB-0356-5642-8669",
                "name": "Seats",
                "agreement": "AGR-3617-1129-0665",
                "items": ["ITM-2426-7318-0001"],
                "price": {"markup": subscription_markup},
            }
        ],
        "pricing-policies": policies or [],
    }


def charge_line(entry: str, quantity="10", unit_pp="10", ppx1="100") -> bytes:
    return orjson.dumps(
        {
            "externalIds": {"vendor": entry},
            "search": {
                "source": {"type": "Subscription", "criteria": "id", "value": "SUB-0356-5642-8669"},
                "item": {"criteria": "item.id", "value": "ITM-2426-7318-0001"},
            },
            "period": {"start": "2025-06-01", "end": "2025-06-30"},
            "quantity": quantity,
            "price": {"unitPP": unit_pp, "PPx1": ppx1},
        }
    )


OTHER_CLIENT = "ACC-8119-0999"
#: (seller, agreement, subscription, its markup, agreement default markup, client)
SOURCES = (
    (SELLER, "AGR-3617-1129-0665", "SUB-0356-5642-8669", "15", "12", CLIENT),
    ("SEL-7032-2001", "AGR-3617-1129-2001", "SUB-0356-5642-2001", "33.333333", None, CLIENT),
    ("SEL-7032-2002", "AGR-3617-1129-2002", "SUB-0356-5642-2002", None, None, OTHER_CLIENT),  # margin policy
    ("SEL-7032-2003", "AGR-3617-1129-2003", "SUB-0356-5642-2003", None, "0.000001", CLIENT),
    ("SEL-7032-2002", "AGR-3617-1129-2004", "SUB-0356-5642-2004", "-100", None, CLIENT),  # SPx1 = 0
)
#: Unit prices and quantities the generated lines cycle through.
UNIT_PRICES = ("10", "0.333333", "-4.2", "0.000001", "123456.789012", "7")
QUANTITIES = ("3", "-2", "1000", "0.5", "1")


def multi_seller_world() -> dict:
    """`world` with four sellers, agreements whose markups come from every §9.3 source (a margin policy of 25,
    i.e. markup 33.33…, for the second client) and awkward values."""
    doc = world(policies=[{"id": "PRP-0001-0001", "name": "m", "client": OTHER_CLIENT, "products": [], "margin": "25"}])
    seller = doc["sellers"][0]
    sellers = sorted({source[0] for source in SOURCES})
    doc["sellers"] = [{**seller, "id": s, "name": f"Operator {s[-4:]}"} for s in sellers]
    buyer = doc["buyers"][0]
    customers = [{"seller": s, "customerNo": f"US-SCU-{s[-4:]}"} for s in sellers]
    doc["buyers"] = [
        {**buyer, "erpCustomers": customers},
        {**buyer, "id": "BUY-3731-7972", "name": "Fabrikam Ltd", "client": OTHER_CLIENT, "erpCustomers": customers},
    ]
    agreement, subscription = doc["agreements"][0], doc["subscriptions"][0]
    doc["agreements"], doc["subscriptions"] = [], []
    for seller_id, agreement_id, subscription_id, markup, default, client in SOURCES:
        buyer_id = "BUY-3731-7971" if client == CLIENT else "BUY-3731-7972"
        doc["agreements"].append(
            {**agreement, "id": agreement_id, "seller": seller_id, "client": client, "buyer": buyer_id}
            | {"defaultMarkup": default, "name": f"Agreement {agreement_id[-4:]}"}
        )
        doc["subscriptions"].append(
            {**subscription, "id": subscription_id, "agreement": agreement_id, "price": {"markup": markup}}
        )
    return doc


def lines(count: int) -> bytes:
    """``count`` JSONL charge lines spread over `SOURCES`, with `UNIT_PRICES` and `QUANTITIES`."""
    out = []
    for number in range(count):
        subscription = SOURCES[number % len(SOURCES)][2]
        unit_pp = UNIT_PRICES[number % len(UNIT_PRICES)]
        quantity = QUANTITIES[number % len(QUANTITIES)]
        record = orjson.loads(charge_line(f"e-{number}", quantity=quantity, unit_pp=unit_pp, ppx1=None))
        record["search"]["source"]["value"] = subscription
        out.append(orjson.dumps(record))
    return b"\n".join(out) + b"\n"


def accepted_journal(api, drain, reference: dict, content: bytes) -> str:
    """Import ``reference``, upload ``content`` as the vendor, validate, submit and accept (rating is queued,
    not run); returns the journal id. Needs the demo tokens (the ``ops`` fixture)."""
    admin, vendor, ops = bearer("demo-operations-token"), bearer("vendor-secret"), bearer("ops-secret")
    assert api.post("/reference/import?mode=replace", headers=admin, json=reference).status_code == 200
    body = {"name": "June", "authorization": {"id": "AUT-5305-9928"}}
    journal_id = api.post("/journals", headers=vendor, json=body).json()["id"]
    files = {"file": ("c.jsonl", content, "application/jsonl")}
    assert api.post(f"/journals/{journal_id}/upload", headers=vendor, files=files).status_code == 200
    drain()
    assert api.post(f"/journals/{journal_id}/submit", headers=vendor).status_code == 200
    assert api.post(f"/journals/{journal_id}/accept", headers=ops).json()["status"] == "Generating"
    return journal_id

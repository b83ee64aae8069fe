"""``billing demo``: what it prints and the ``--once`` self-check against the running API."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import orjson
from rich.console import Console
from rich.panel import Panel

from billing.reference.demo import DEMO_ACCOUNTS, DEMO_TOKENS, build_demo_dataset


def print_welcome(console: Console, base_url: str) -> None:
    ops, vendor, client = DEMO_TOKENS["operations"], DEMO_TOKENS["vendor"], DEMO_TOKENS["client"]
    lines = [
        f"Billing API: [bold]{base_url}[/bold]   (OpenAPI: {base_url}/openapi.json)",
        "",
        "Demo tokens (Authorization: Bearer <token>):",
        f"  Operations  {ops}   account {DEMO_ACCOUNTS['operations']}",
        f"  Vendor      {vendor}   account {DEMO_ACCOUNTS['vendor']}",
        f"  Client      {client}   account {DEMO_ACCOUNTS['client']}",
        "",
        "Try:",
        f"  curl -s -H 'Authorization: Bearer {ops}' '{base_url}/reference/agreements?select=-*,id,name&limit=5'",
        f"  curl -s -H 'Authorization: Bearer {ops}' -H 'Content-Type: application/json' \\",
        f'       -d \'{{"client":{{"id":"{DEMO_ACCOUNTS["client"]}"}},"vendor":{{"id":"{DEMO_ACCOUNTS["vendor"]}"}},'
        f'"name":"Billed by hand"}}\' {base_url}/manual-overrides',
        f"  curl -s -H 'Authorization: Bearer {ops}' '{base_url}/manual-overrides?eq(status,Active)'",
        f"  curl -s -H 'Authorization: Bearer {vendor}' '{base_url}/manual-overrides'   # 403: Operations only",
        "",
        "Ctrl-C stops the server.",
    ]
    console.print(Panel("\n".join(lines), title="billing demo", expand=False))


def demo_charges(lines: int = 40) -> tuple[str, bytes]:
    """A JSONL charge file for the demo vendor's USD authorization: valid lines and two that fail."""
    dataset = build_demo_dataset()
    agreements = {a["id"]: a for a in dataset["agreements"]}
    authorization = next(
        a for a in dataset["authorizations"] if a["vendor"] == DEMO_ACCOUNTS["vendor"] and a["currency"] == "USD"
    )
    subscriptions = [
        s
        for s in dataset["subscriptions"]
        if agreements[s["agreement"]]["product"] == authorization["product"]
        and s.get("items")
        and agreements[s["agreement"]].get("currency") in (None, "USD")
    ]
    records = []
    for number in range(1, lines + 1):
        subscription = subscriptions[number % len(subscriptions)]
        records.append(
            {
                "externalIds": {"vendor": f"demo-{number}"},
                "search": {
                    "source": {"type": "Subscription", "criteria": "id", "value": subscription["id"]},
                    "item": {"criteria": "item.id", "value": subscription["items"][0]},
                },
                "period": {"start": "2025-06-01", "end": "2025-06-30"},
                "quantity": number % 7 + 1,
                "price": {"unitPP": "9.99"},
            }
        )
    records.append({"externalIds": {"vendor": "demo-1"}, "quantity": "ten"})  # duplicate id, missing fields
    return authorization["id"], b"\n".join(orjson.dumps(record) for record in records) + b"\n"


def demo_journal(console: Console, base_url: str) -> dict[str, object]:
    """Create a journal as the demo vendor, upload charges and wait for the background validation."""
    vendor = {"Authorization": f"Bearer {DEMO_TOKENS['vendor']}"}
    authorization_id, content = demo_charges()
    with httpx.Client(base_url=base_url, timeout=30) as http:
        journal = http.post(
            "/journals", headers=vendor, json={"name": "Demo charges", "authorization": {"id": authorization_id}}
        ).json()
        http.post(
            f"/journals/{journal['id']}/upload",
            headers=vendor,
            files={"file": ("demo.jsonl", content, "application/x-ndjson")},
        ).raise_for_status()
        deadline = time.monotonic() + 30
        while journal["status"] in ("Draft", "Validating") and time.monotonic() < deadline:
            time.sleep(0.2)
            journal = http.get(f"/journals/{journal['id']}", headers=vendor).json()
    upload = journal["upload"]
    console.print(
        f"Journal {journal['id']} uploaded and validated: [bold]{journal['status']}[/bold] — {upload['total']} "
        f"charges, {upload['ready']} ready, {upload['split']} split, {upload['error']} in error "
        f"(GET {base_url}/journals/{journal['id']}/charges?eq(upload.status,Error))."
    )
    return journal


def self_check(console: Console, base_url: str) -> bool:
    """Exercise the running API end to end; print each check; True when all pass."""
    ops = {"Authorization": f"Bearer {DEMO_TOKENS['operations']}"}
    vendor = {"Authorization": f"Bearer {DEMO_TOKENS['vendor']}"}
    results: list[tuple[str, bool]] = []

    with httpx.Client(base_url=base_url, timeout=10) as http:

        def check(name: str, probe: Callable[[], bool]) -> None:
            try:
                ok = probe()
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                console.print(f"  [red]✗[/red] {name}: {exc}")
                ok = False
            results.append((name, ok))
            if ok:
                console.print(f"  [green]✓[/green] {name}")

        pair = {"client": {"id": DEMO_ACCOUNTS["client"]}, "vendor": {"id": DEMO_ACCOUNTS["vendor"]}}

        def override_lifecycle() -> bool:
            created = http.post("/manual-overrides", json={**pair, "name": "demo self-check"}, headers=ops)
            if created.status_code == 409:  # an earlier demo run made it
                found = http.get(
                    f"/manual-overrides?eq(client.id,{pair['client']['id']})&eq(vendor.id,{pair['vendor']['id']})",
                    headers=ops,
                ).json()["data"]
                override = found[0]
            else:
                created.raise_for_status()
                override = created.json()
            action = "enable" if override["status"] == "Disabled" else "disable"
            flipped = http.post(f"/manual-overrides/{override['id']}/{action}", headers=ops)
            back = http.post(
                f"/overrides/{override['id']}/{'disable' if action == 'enable' else 'enable'}", headers=ops
            )
            return (
                flipped.status_code == 200 and back.status_code == 200 and back.json()["status"] == override["status"]
            )

        check("health answers without a token", lambda: http.get("/health").status_code == 200)
        check("OpenAPI is public", lambda: "paths" in http.get("/openapi.json").json())
        check("no token → 401", lambda: http.get("/manual-overrides").status_code == 401)
        check(
            "vendor on an Operations route → 403",
            lambda: http.get("/manual-overrides", headers=vendor).status_code == 403,
        )
        check(
            "reference data loaded",
            lambda: http.get("/reference/agreements?limit=0", headers=ops).json()["$meta"]["pagination"]["total"] > 0,
        )
        check("manual override create / disable / enable", override_lifecycle)
        check(
            "a journal upload is validated in the background",
            lambda: demo_journal(console, base_url)["status"] == "Error",  # the demo file has one bad line
        )
        check(
            "RQL error is a 400 problem",
            lambda: http.get("/manual-overrides?eq(status,Nope)", headers=ops).json()["type"].endswith("invalid-query"),
        )
    passed = all(ok for _, ok in results)
    console.print(f"{sum(ok for _, ok in results)} of {len(results)} checks passed.")
    return passed

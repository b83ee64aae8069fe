"""``billing demo``: what it prints and the ``--once`` self-check against the running API."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.panel import Panel

from billing.reference.demo import DEMO_ACCOUNTS, DEMO_TOKENS, build_demo_dataset


def print_welcome(
    console: Console,
    base_url: str,
    erp_url: str | None = None,
    erp_root: str | None = None,
    finance_dir: Path | None = None,
) -> None:
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
        *(
            [
                f"ERP simulator (SOAP): [bold]{erp_url}/Page/SalesInvoice[/bold]   (WSDL by GET)",
                f"  its documents: curl -s '{erp_root}/_sim/documents'",
                "",
            ]
            if erp_url
            else []
        ),
        *([f"Finance drop folder (rendered PDFs and CSVs): [bold]{finance_dir}[/bold]", ""] if finance_dir else []),
        "Ctrl-C stops the server.",
    ]
    console.print(Panel("\n".join(lines), title="billing demo", expand=False))


def demo_charges(lines: int = 40, *, with_errors: bool = True) -> tuple[str, bytes]:
    """A JSONL charge file for the demo vendor's USD authorization: valid lines and, ``with_errors``, two that
    fail."""
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
    if with_errors:
        records.append({"externalIds": {"vendor": "demo-1"}, "quantity": "ten"})  # duplicate id, missing fields
    return authorization["id"], b"\n".join(orjson.dumps(record) for record in records) + b"\n"


def _wait(fetch: Callable[[], dict[str, Any]], busy: tuple[str, ...], timeout: float = 30) -> dict[str, Any]:
    """Poll ``fetch`` until its status leaves ``busy`` (background work) or the timeout passes."""
    deadline = time.monotonic() + timeout
    current = fetch()
    while current["status"] in busy and time.monotonic() < deadline:
        time.sleep(0.2)
        current = fetch()
    return current


def _upload_journal(http: httpx.Client, name: str, *, with_errors: bool) -> dict[str, Any]:
    vendor = {"Authorization": f"Bearer {DEMO_TOKENS['vendor']}"}
    authorization_id, content = demo_charges(with_errors=with_errors)
    journal = http.post("/journals", headers=vendor, json={"name": name, "authorization": {"id": authorization_id}})
    journal.raise_for_status()
    journal_id = journal.json()["id"]
    http.post(
        f"/journals/{journal_id}/upload",
        headers=vendor,
        files={"file": ("demo.jsonl", content, "application/x-ndjson")},
    ).raise_for_status()
    return _wait(lambda: http.get(f"/journals/{journal_id}", headers=vendor).json(), ("Draft", "Validating"))


def demo_journal(console: Console, base_url: str) -> dict[str, Any]:
    """Create a journal as the demo vendor, upload charges (two lines fail) and wait for the validation."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        journal = _upload_journal(http, "Demo charges", with_errors=True)
    upload = journal["upload"]
    console.print(
        f"Journal {journal['id']} uploaded and validated: [bold]{journal['status']}[/bold] — {upload['total']} "
        f"charges, {upload['ready']} ready, {upload['split']} split, {upload['error']} in error "
        f"(GET {base_url}/journals/{journal['id']}/charges?eq(upload.status,Error))."
    )
    return journal


def demo_billing(console: Console, base_url: str) -> list[dict[str, Any]]:
    """A clean journal through the whole release: submit (vendor), accept (operations) → ledgers rated per
    seller, accept every ledger → statements per agreement, queue the ledgers → statements Queued for the ERP.
    Returns the statements."""
    vendor = {"Authorization": f"Bearer {DEMO_TOKENS['vendor']}"}
    ops = {"Authorization": f"Bearer {DEMO_TOKENS['operations']}"}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        journal = _upload_journal(http, "Demo billing run", with_errors=False)
        journal_id = journal["id"]
        http.post(f"/journals/{journal_id}/submit", headers=vendor).raise_for_status()
        http.post(f"/journals/{journal_id}/accept", headers=ops).raise_for_status()
        journal = _wait(lambda: http.get(f"/journals/{journal_id}", headers=ops).json(), ("Generating",))
        ledgers = http.get(f"/ledgers?eq(journal.id,{journal_id})", headers=ops).json()["data"]
        for ledger in ledgers:
            http.post(f"/ledgers/{ledger['id']}/accept", headers=ops).raise_for_status()
        for ledger in ledgers:
            ledger_id = ledger["id"]
            _wait(lambda: http.get(f"/ledgers/{ledger_id}", headers=ops).json(), ("Generating",))  # noqa: B023
            http.post(f"/ledgers/{ledger_id}/queue", headers=ops).raise_for_status()
        statements = http.get(f"/statements?eq(journal.id,{journal_id})&limit=1000", headers=ops).json()["data"]
    console.print(
        f"Journal {journal_id} rated into {len(ledgers)} ledger(s) (one per seller), accepted into "
        f"{len(statements)} statement(s) (one per agreement), queued for the ERP "
        f"(GET {base_url}/statements?eq(journal.id,{journal_id}))."
    )
    return statements


def wait_for_erp(
    console: Console, base_url: str, erp_root: str, statements: list[dict[str, Any]], timeout: float = 60
) -> bool:
    """Wait until the daemon has pushed every statement; True when each is Issued with exactly one ERP document
    (checked with the simulator's own inspection)."""
    ops = {"Authorization": f"Bearer {DEMO_TOKENS['operations']}"}
    with httpx.Client(base_url=base_url, timeout=30) as http, httpx.Client(base_url=erp_root, timeout=30) as erp:
        ids = [statement["id"] for statement in statements]
        current = {statement_id: "" for statement_id in ids}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = {i: http.get(f"/statements/{i}", headers=ops).json()["status"] for i in ids}
            if all(status in ("Issued", "Error", "Cancelled") for status in current.values()):
                break
            time.sleep(0.5)
        documents = {i: erp.get("/_sim/documents", params={"external_document_no": i}).json()["documents"] for i in ids}
        duplicates = erp.get("/_sim/duplicates").json()["count"]
    issued = [i for i in ids if current[i] == "Issued" and len(documents[i]) == 1]
    numbers = ", ".join(documents[i][0]["No"] for i in issued)
    console.print(
        f"The daemon pushed {len(issued)} of {len(ids)} statement(s) to the ERP simulator: {numbers} "
        f"(GET {base_url}/statements/{{id}}/erp-attempts; ERP documents: {erp_root}/_sim/documents)."
    )
    return len(issued) == len(ids) and duplicates == 0 and bool(ids)


def wait_for_invoices(
    console: Console, base_url: str, erp_root: str, statements: list[dict[str, Any]], timeout: float = 60
) -> bool:
    """Let the ERP post the pushed documents and pay every other invoice; wait until the daemon's pulls have
    linked an invoice or credit memo to every statement and the paid invoices are Paid. True when the demo
    client sees its own invoices, some of them Paid."""
    ops = {"Authorization": f"Bearer {DEMO_TOKENS['operations']}"}
    client = {"Authorization": f"Bearer {DEMO_TOKENS['client']}"}
    ids = [statement["id"] for statement in statements]
    with httpx.Client(base_url=base_url, timeout=30) as http, httpx.Client(base_url=erp_root, timeout=30) as erp:
        erp.post("/_sim/post-now").raise_for_status()
        linked = _wait_linked(http, ops, ids, timeout)
        invoices = [http.get(f"/invoices/{i}", headers=ops).json() for i in linked["invoice"]]
        invoices.sort(key=lambda invoice: (invoice["client"] or {}).get("id") != DEMO_ACCOUNTS["client"])
        paid = invoices[::2]  # the demo client's first invoice, and every other one
        for invoice in paid:
            erp.post("/_sim/payments", json={"documentNo": invoice["erpData"]["documentNo"]}).raise_for_status()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            statuses = [http.get(f"/invoices/{i['id']}", headers=ops).json()["status"] for i in paid]
            if all(status == "Paid" for status in statuses):
                break
            time.sleep(0.5)
        own = http.get("/invoices?limit=1000", headers=client).json()["data"]
    console.print(
        f"The daemon pulled {len(linked['invoice'])} invoice(s) and {len(linked['creditMemo'])} credit memo(s) "
        f"posted by the ERP; {len(paid)} invoice(s) were paid in the ERP and pulled as Paid. The demo client sees "
        f"{len(own)} invoice(s) ({sum(i['status'] == 'Paid' for i in own)} Paid): GET {base_url}/invoices."
    )
    linked_all = len(linked["invoice"]) + len(linked["creditMemo"]) == len(ids)
    return linked_all and bool(own) and any(i["status"] == "Paid" for i in own)


def wait_for_documents(
    console: Console, finance_dir: Path, statements: list[dict[str, Any]], timeout: float = 60
) -> bool:
    """Wait until the daemon has rendered and delivered each statement's PDF and charges CSV, and its invoice or
    credit memo PDF, to the finance drop folder; True when all are there (complete files: delivery renames a
    finished temporary file into place)."""
    wanted = [f"statement-{statement['id']}{suffix}" for statement in statements for suffix in (".pdf", "-charges.csv")]
    deadline = time.monotonic() + timeout
    while True:
        present = {path.name for path in finance_dir.glob("*")} if finance_dir.is_dir() else set()
        posted = [name for name in present if name.startswith(("invoice-", "credit-memo-")) and name.endswith(".pdf")]
        complete = all(name in present for name in wanted) and len(posted) >= len(statements)
        if complete or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    pdfs = sum(name.endswith(".pdf") for name in present)
    csvs = sum(name.endswith(".csv") for name in present)
    console.print(f"Finance received {pdfs} PDF(s) and {csvs} CSV(s) in the drop folder {finance_dir}.")
    return complete and bool(statements)


def _wait_linked(http: httpx.Client, ops: dict[str, str], ids: list[str], timeout: float) -> dict[str, list[str]]:
    """The invoice / credit memo ids linked to the statements, once all are linked (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        current = [http.get(f"/statements/{i}", headers=ops).json() for i in ids]
        linked = {key: [s[key]["id"] for s in current if s.get(key)] for key in ("invoice", "creditMemo")}
        if len(linked["invoice"]) + len(linked["creditMemo"]) == len(ids) or time.monotonic() > deadline:
            return linked
        time.sleep(0.5)


def reconciliation_clean(console: Console, http: httpx.Client, ops: dict[str, str]) -> bool:
    """Statements against their ERP documents (GET /reports/reconciliation): no difference, nothing unlinked."""
    report = http.get("/reports/reconciliation", headers=ops)
    report.raise_for_status()
    summary = report.json()["summary"]
    console.print(f"Reconciliation: {summary} (GET {http.base_url}reports/reconciliation).")
    return bool(summary["clean"])


def self_check(console: Console, base_url: str, erp_root: str | None = None, finance_dir: Path | None = None) -> bool:
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

        # the second client and vendor: an Active override for the demo pair would make the billing flow below
        # skip the demo client's charges (billed manually), and the demo client would see no invoices
        pair = {"client": {"id": DEMO_ACCOUNTS["client2"]}, "vendor": {"id": DEMO_ACCOUNTS["vendor2"]}}

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
        pushed: list[dict[str, Any]] = []

        def billing_flow() -> bool:
            pushed.extend(demo_billing(console, base_url))
            return pushed != [] and all(statement["status"] == "Queued" for statement in pushed)

        check("a clean journal flows to queued statements", billing_flow)
        if erp_root is not None:
            check(
                "every statement is Issued with exactly one ERP document",
                lambda: wait_for_erp(console, base_url, erp_root, pushed),
            )
            check(
                "posted documents are pulled as invoices, payments make them Paid",
                lambda: wait_for_invoices(console, base_url, erp_root, pushed),
            )
            check("the reconciliation report is clean", lambda: reconciliation_clean(console, http, ops))
        if erp_root is not None and finance_dir is not None:
            check(
                "PDF and CSV documents are rendered and delivered to the finance drop folder",
                lambda: wait_for_documents(console, finance_dir, pushed),
            )
        check(
            "RQL error is a 400 problem",
            lambda: http.get("/manual-overrides?eq(status,Nope)", headers=ops).json()["type"].endswith("invalid-query"),
        )
    passed = all(ok for _, ok in results)
    console.print(f"{sum(ok for _, ok in results)} of {len(results)} checks passed.")
    return passed

"""``billing erp-sim``: serve the ERP simulator, or drive one (§2.1, §2.5).

Without a subcommand it serves (``--host``, ``--port``, ``--db``, ``--instance``, ``--company`` override
``[erp_sim]``). Every other command talks to the admin API, either of a running simulator (``--url``) or of a
state file directly (``--db``, in-process); both work while a simulator serves that file.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="The ERP simulator: Dynamics NAV / Business Central page web services over SOAP.",
    invoke_without_command=True,
)
faults_app = typer.Typer(help="Fault knobs (the erp_sim.faults settings).", no_args_is_help=True)
seed_app = typer.Typer(help="Customer and item master data.", no_args_is_help=True)
app.add_typer(faults_app, name="faults")
app.add_typer(seed_app, name="seed")

UrlOption = Annotated[str | None, typer.Option("--url", help="a running simulator, e.g. http://127.0.0.1:7047")]
DbOption = Annotated[Path | None, typer.Option("--db", help="the state file (default: the erp_sim.db setting)")]


@app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port (0 = any free port)")] = None,
    db: DbOption = None,
    instance: Annotated[str | None, typer.Option(help="server instance in the URL")] = None,
    company: Annotated[str | None, typer.Option(help="company in the URL")] = None,
    seed_demo: Annotated[bool, typer.Option(help="seed the demo customers and items into an empty state file")] = True,
) -> None:
    """Serve the simulator until Ctrl-C (with no subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    from billing.erp_sim.app import ErpSimulator

    overrides = {"host": host, "port": port, "db": db, "instance": instance, "company": company}
    settings = _settings().model_copy(update={key: value for key, value in overrides.items() if value is not None})
    simulator = ErpSimulator(settings)
    if seed_demo and _is_empty(simulator):
        from billing.erp_sim.seed import seed_from_reference
        from billing.reference.demo import build_demo_dataset

        counts = seed_from_reference(simulator, build_demo_dataset())
        _print(f"Seeded {counts['customers']['created']} demo customers and {counts['items']['created']} items.")
    try:
        server = simulator.serve_in_thread(settings.host, settings.port, background=True)
    except OSError as error:
        simulator.close()
        _print(f"[red]Cannot serve on {settings.host}:{settings.port}: {error}[/red]")
        raise typer.Exit(1) from None
    _print(f"[green]ERP simulator[/green] on {server.base_url} (state {settings.db})")
    for service in simulator.services.values():
        _print(f"  {server.base_url}/Page/{service.name}")
    _print(f"  admin: {server.root_url}/_sim/   Ctrl-C stops.")
    try:
        _wait_for_interrupt()
    except KeyboardInterrupt:
        _print("Stopping.")
    finally:
        server.stop()
        simulator.close()


@app.command()
def inspect(
    page: Annotated[str | None, typer.Option(help="SalesInvoice, SalesCreditMemo, PostedSalesInvoice, …")] = None,
    external_document_no: Annotated[str | None, typer.Option("--external-document-no")] = None,
    limit: int = 100,
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """List documents (unposted and posted)."""
    query: dict[str, Any] = {"limit": limit}
    if page:
        query["page"] = page
    if external_document_no:
        query["external_document_no"] = external_document_no
    with _admin(url, db) as admin:
        result = admin("GET", "documents", params=query)
    table = Table("page", "No", "pre-assigned", "external document", "bill-to", "currency")
    for heading in ("incl. VAT", "lines", "remaining"):
        table.add_column(heading, justify="right")
    for column in table.columns:
        column.overflow = "fold"
    for document in result["documents"]:
        table.add_row(
            document["page"],
            document["No"],
            document.get("Pre_Assigned_No", ""),
            document["External_Document_No"],
            document["Bill_to_Customer_No"],
            document["Currency_Code"],
            str(document["Amount_Including_VAT"]),
            str(document["Lines"]),
            str(document.get("Remaining_Amount", "")),
        )
    _print(table)
    if result["truncated"]:
        _print(f"(first {limit}; use --limit)")


@app.command()
def duplicates(url: UrlOption = None, db: DbOption = None) -> None:
    """Groups of one document type sharing an External_Document_No; exits 1 if there are any."""
    with _admin(url, db) as admin:
        result = admin("GET", "duplicates")
    if not result["duplicates"]:
        _print("No duplicates.")
        return
    table = Table("type", "external document", "documents")
    for group in result["duplicates"]:
        numbers = ", ".join(f"{d['page']} {d['No']}" for d in group["documents"])
        table.add_row(group["type"], group["externalDocumentNo"], numbers)
    _print(table)
    raise typer.Exit(1)


@faults_app.command("set")
def faults_set(
    assignments: Annotated[
        list[str], typer.Argument(help="KEY=VALUE, e.g. http_503=0.05 latency.median_ms=20 '*.Create:soap_locked=0.1'")
    ],
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Change fault knobs at run time (VALUE is JSON; null reverts to the configuration)."""
    patch: dict[str, Any] = {}
    for assignment in assignments:
        key, separator, raw = assignment.partition("=")
        if not separator or not key:
            raise typer.BadParameter(f"{assignment!r} is not KEY=VALUE")
        scope, _, knob = key.rpartition(":")
        path = (["ops", scope] if scope else []) + knob.split(".")
        node = patch
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _json_value(raw)
    with _admin(url, db) as admin:
        _print_json(admin("PATCH", "faults", json=patch))


@faults_app.command("show")
def faults_show(url: UrlOption = None, db: DbOption = None) -> None:
    """The effective fault knobs."""
    with _admin(url, db) as admin:
        _print_json(admin("GET", "faults"))


@app.command()
def outage(
    seconds: Annotated[float, typer.Option(help="how long (0 ends an outage)")] = 600,
    mode: Annotated[str, typer.Option(help="503 or reset")] = "503",
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Answer 503 (or reset every connection) until the outage ends."""
    with _admin(url, db) as admin:
        if seconds <= 0:
            _print_json(admin("DELETE", "outage"))
        else:
            _print_json(admin("POST", "outage", json={"seconds": seconds, "mode": mode}))


@app.command("post-now")
def post_now(url: UrlOption = None, db: DbOption = None) -> None:
    """Post every unposted document that has lines, now."""
    with _admin(url, db) as admin:
        result = admin("POST", "post-now")
    for posted in result["posted"]:
        _print(f"{posted['page']} {posted['preAssignedNo']} → {posted['no']}")
    _print(f"Posted {len(result['posted'])} document(s).")


@app.command()
def generate(
    invoices: Annotated[int, typer.Option(min=0, help="posted sales invoices to write")],
    credit_memos: Annotated[int, typer.Option(min=0, help="posted sales credit memos to write")] = 0,
    lines: Annotated[str, typer.Option(help="lines per document: MIN-MAX or N")] = "1-20",
    seed: Annotated[int, typer.Option(help="of the draws (customers, lines, prices)")] = 0,
    customer: Annotated[
        list[str] | None, typer.Option("--customer", help="invoice only these customers (repeatable)")
    ] = None,
    modified_from: Annotated[
        str | None, typer.Option(help="spread SystemModifiedAt from this ISO time (UTC if no zone)…")
    ] = None,
    modified_to: Annotated[str | None, typer.Option(help="…to this one (default: the simulated now)")] = None,
    payments: Annotated[bool, typer.Option(help="plan payments of the invoices as posting does")] = False,
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Write posted invoices (and credit memos) with lines and open ledger entries in bulk, as posting leaves
    them (for pull benchmarks and tests)."""
    body: dict[str, Any] = {
        "invoices": invoices,
        "creditMemos": credit_memos,
        "lines": _range(lines),
        "seed": seed,
        "payments": payments,
    }
    if customer:
        body["customers"] = customer
    if modified_from or modified_to:
        if not modified_from:
            raise typer.BadParameter("--modified-to needs --modified-from")
        body["modifiedBetween"] = [_aware(modified_from), _aware(modified_to) if modified_to else None]
    with _admin(url, db) as admin:
        result = admin("POST", "generate", json=body, timeout=3600)
    for page, (first, last) in result["numbers"].items():
        _print(f"{page} {first} … {last}")
    _print(
        f"Generated {result['invoices']:,} posted invoice(s) and {result['creditMemos']:,} credit memo(s) with "
        f"{result['lines']:,} lines and {result['ledgerEntries']:,} ledger entries in {result['seconds']:.1f} s."
    )


@app.command()
def pay(
    document: Annotated[str, typer.Argument(help="posted invoice number (or its pre-assigned number)")],
    amount: Annotated[str | None, typer.Argument(help="default: the remaining amount")] = None,
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Pay a posted sales invoice."""
    body: dict[str, Any] = {"documentNo": document}
    if amount is not None:
        body["amount"] = amount
    with _admin(url, db) as admin:
        result = admin("POST", "payments", json=body)
    _print(f"{result['paymentNo']}: paid {result['amount']} on {result['documentNo']}.")


@app.command()
def clock(
    advance_days: Annotated[float, typer.Option(help="move the simulated clock forward")] = 0,
    advance_seconds: float = 0,
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Show or move the simulated clock."""
    with _admin(url, db) as admin:
        if advance_days or advance_seconds:
            result = admin("POST", "clock", json={"advance_days": advance_days, "advance_seconds": advance_seconds})
        else:
            result = admin("GET", "clock")
    _print(f"Simulated now: {result['now']} (rate {result['rate']})")


@seed_app.command("customers")
def seed_customers(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON/YAML customers or reference data")],
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Create or update customers from a list of Customer records, or from a reference-data file."""
    from billing.erp_sim.seed import customers_from_reference

    data = _load(file)
    records = customers_from_reference(data) if _is_reference(data) else data
    with _admin(url, db) as admin:
        _print_json(admin("PUT", "customers", json=records))


@seed_app.command("items")
def seed_items(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON/YAML items or reference data")],
    url: UrlOption = None,
    db: DbOption = None,
) -> None:
    """Create or update items from a list of item records, or from a reference-data file."""
    from billing.erp_sim.seed import items_from_reference

    data = _load(file)
    records = items_from_reference(data) if _is_reference(data) else data
    with _admin(url, db) as admin:
        _print_json(admin("PUT", "items", json=records))


@seed_app.command("demo")
def seed_demo(url: UrlOption = None, db: DbOption = None) -> None:
    """Customers and items of the demo reference dataset."""
    from billing.erp_sim.seed import customers_from_reference, items_from_reference
    from billing.reference.demo import build_demo_dataset

    dataset = build_demo_dataset()
    with _admin(url, db) as admin:
        _print_json(
            {
                "customers": admin("PUT", "customers", json=customers_from_reference(dataset)),
                "items": admin("PUT", "items", json=items_from_reference(dataset)),
            }
        )


# --- helpers ------------------------------------------------------------------------------------------------


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM (both arrive as KeyboardInterrupt)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    threading.Event().wait()


def _print(*objects: Any) -> None:
    """Print with a console sized by this invocation's terminal (or COLUMNS)."""
    Console().print(*objects)


def _settings() -> Any:
    from billing.settings import get_settings

    return get_settings().erp_sim


def _is_empty(simulator: Any) -> bool:
    with simulator.store.read() as tx:
        return tx.execute("SELECT COUNT(*) FROM customer").fetchone()[0] == 0


@contextmanager
def _admin(url: str | None, db: Path | None) -> Iterator[Any]:
    """A function calling the admin API: ``admin(method, endpoint, **requests_kwargs) -> JSON``."""
    import requests

    simulator = None
    if url:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        root = f"{parts.scheme}://{parts.netloc}"
        session = requests.Session()
    else:
        from billing.erp_sim.app import ErpSimulator
        from billing.erp_sim.transport import IN_PROCESS_ROOT

        settings = _settings()
        simulator = ErpSimulator(settings, db=db or settings.db, attach=True)
        root, session = IN_PROCESS_ROOT, simulator.session()
    token = _settings().auth.admin_token
    if token is not None:
        session.headers["Authorization"] = f"Bearer {token.get_secret_value()}"

    def call(method: str, endpoint: str, **kwargs: Any) -> Any:
        try:
            response = session.request(method, f"{root}/_sim/{endpoint}", **{"timeout": 30, **kwargs})
        except requests.RequestException as error:
            _print(f"[red]The simulator at {root} did not answer: {error}[/red]")
            raise typer.Exit(2) from None
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            _print(f"[red]{response.status_code}: {message}[/red]")
            raise typer.Exit(2)
        return response.json()

    try:
        yield call
    finally:
        session.close()
        if simulator is not None:
            simulator.close()


def _is_reference(data: Any) -> bool:
    """A reference-data document (rather than a list of ERP records, or ``{"customers": [...]}``)."""
    return isinstance(data, dict) and bool({"buyers", "licensees", "sellers", "products"} & set(data))


def _range(text: str) -> list[int]:
    """``1-20`` or ``3`` → [min, max]."""
    low, _, high = text.partition("-")
    try:
        return [int(low), int(high or low)]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not MIN-MAX or N", param_hint="--lines") from None


def _aware(text: str) -> str:
    """An ISO 8601 time with a zone (UTC when none is given)."""
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _json_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _load(file: Path) -> Any:
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text)
    return json.loads(text)


def _print_json(data: Any) -> None:
    Console().print_json(json.dumps(data))

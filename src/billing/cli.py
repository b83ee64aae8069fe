"""The ``billing`` command line (typer + rich)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from billing.settings import get_settings

app = typer.Typer(help="Marketplace Billing: API, ERP synchronisation daemon and tools.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
reference_app = typer.Typer(help="Reference data (accounts, sellers, agreements, …).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(reference_app, name="reference")
journals_app = typer.Typer(help="Journals.", no_args_is_help=True)
app.add_typer(journals_app, name="journals")
console = Console()

DEMO_REFERENCE_FILE = Path("var/demo-reference.json")


def _database():
    from billing.db.engine import Database

    return Database(get_settings().database_url)


def _configure_logging() -> None:
    from billing.logging import configure

    configure(get_settings().log)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the Alembic migrations to the configured database."""
    from billing.db.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    console.print(f"[green]Database at {_redacted(get_settings().database_url)} is at {revision}.[/green]")


@reference_app.command("import")
def reference_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON or YAML reference file")],
    mode: Annotated[str, typer.Option(help="merge (upsert) or replace (the file becomes the whole set)")] = "merge",
) -> None:
    """Import a reference-data file atomically (every problem is reported with its path)."""
    from billing.errors import AppError
    from billing.reference.loader import import_file

    if mode not in ("merge", "replace"):
        raise typer.BadParameter("mode must be merge or replace")
    try:
        counts = import_file(_database(), file, "merge" if mode == "merge" else "replace")
    except AppError as error:
        console.print(f"[red]{error.detail}[/red]")
        for path, messages in (error.errors or {}).items():
            for message in messages:
                console.print(f"  {path}: {message}")
        raise typer.Exit(1) from None
    _print_counts(counts)


@reference_app.command("export")
def reference_export(
    out: Annotated[Path | None, typer.Option(help="write to this file (default: stdout)")] = None,
) -> None:
    """Export the whole reference set in the import format (secrets omitted)."""
    from billing.auth.principal import system_principal
    from billing.kit.jsonout import dumps
    from billing.reference.service import ReferenceService

    with _database().read_scope() as session:
        data = dumps(ReferenceService(session, system_principal()).export())
    if out:
        out.write_bytes(data)
        console.print(f"Exported to {out}.")
    else:
        typer.echo(data.decode())


@reference_app.command("demo")
def reference_demo(
    out: Annotated[Path, typer.Option(help="where to write the dataset")] = DEMO_REFERENCE_FILE,
    sellers: int = 3,
    clients: int = 4,
    agreements_per_client: int = 3,
) -> None:
    """Write the deterministic demo dataset to a file and import it."""
    counts = _write_and_import_demo(out, sellers=sellers, clients=clients, agreements_per_client=agreements_per_client)
    _print_counts(counts)


@journals_app.command("upload")
def journals_upload(
    journal_id: Annotated[str, typer.Argument(help="BJO-… id")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSONL or XLSX charge file")],
) -> None:
    """Upload a charge file as the journal's vendor and validate it now, with a progress bar."""
    from billing.journals.cli import upload

    raise typer.Exit(upload(_database(), get_settings(), journal_id, file, console))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
) -> None:
    """Run the Billing API (imports BILLING_REFERENCE_FILE first, if set)."""
    import uvicorn

    settings = get_settings()
    _configure_logging()
    if settings.reference_file:
        from billing.reference.loader import import_file

        _print_counts(import_file(_database(), settings.reference_file))
    uvicorn.run(
        "billing.api.asgi:app",
        host=host or settings.api.host,
        port=port or settings.api.port,
        workers=workers or settings.api.workers,
        log_level=settings.log.level.lower(),
        access_log=False,
    )


@app.command()
def daemon(
    replica_id: Annotated[str | None, typer.Option("--replica-id", help="name of this replica")] = None,
) -> None:
    """Run the background jobs (upload validation, …) until SIGTERM/SIGINT."""
    from billing.jobs.daemon import run_daemon
    from billing.jobs.worker import worker_id

    _configure_logging()
    raise typer.Exit(run_daemon(get_settings(), replica_id or worker_id()))


@app.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="run a self-check against the server and exit")] = False,
    host: str = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port (0 = any free port)")] = 8080,
) -> None:
    """The main job on embedded defaults: migrate SQLite, load demo data, serve the API until Ctrl-C."""
    import uvicorn

    from billing.api.app import create_app
    from billing.db.migrate import upgrade
    from billing.demo import demo_journal, print_welcome, self_check

    settings = get_settings()
    _configure_logging()
    upgrade(settings.database_url)
    _write_and_import_demo(DEMO_REFERENCE_FILE)
    if port == 0:
        port = _free_port(host)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            console.print(f"[red]The API did not start on {host}:{port} (is the port in use?).[/red]")
            raise typer.Exit(1)
        time.sleep(0.05)
    base_url = f"http://{host}:{port}/public/v1/billing"
    print_welcome(console, base_url)
    try:
        if once:
            ok = self_check(console, base_url)
            raise typer.Exit(0 if ok else 1)
        demo_journal(console, base_url)
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        console.print("Stopping.")
    finally:
        server.should_exit = True
        thread.join(10)


def _write_and_import_demo(out: Path, **scale: int) -> dict[str, dict[str, int]]:
    from billing.kit.jsonout import dumps
    from billing.reference.demo import build_demo_dataset
    from billing.reference.loader import import_file

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(dumps(build_demo_dataset(**scale)))
    return import_file(_database(), out, "merge")


def _print_counts(counts: dict[str, dict[str, int]]) -> None:
    table = Table("entity", "created", "updated", "removed", title="Reference data")
    entities = sorted({entity for kind in counts.values() for entity in kind})
    for entity in entities:
        table.add_row(entity, *(str(counts.get(kind, {}).get(entity, 0)) for kind in ("created", "updated", "removed")))
    console.print(table if entities else "Reference data unchanged.")


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    app()

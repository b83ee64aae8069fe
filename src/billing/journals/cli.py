"""``billing journals upload``: upload a charge file as the journal's vendor and validate it here, with progress."""

from __future__ import annotations

import getpass
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from billing.attachments.storage import AttachmentStorage
from billing.auth.capabilities import Scope
from billing.auth.principal import Principal, Role
from billing.charges.repository import ChargeRepository
from billing.db.engine import Database
from billing.errors import AppError
from billing.jobs.repository import WorkRepository
from billing.jobs.worker import worker_id
from billing.journals.files import UnsupportedFormat, detect_format
from billing.journals.jobs import validate_journal
from billing.journals.repository import JournalRepository
from billing.journals.service import VALIDATE_JOB, JournalService
from billing.settings import Settings

_QUOTED = re.compile(r"'([^']*)'")
_NUMBER = re.compile(r"\b\d[\d.,:TZ-]*\b")
#: Quoted property names stay in the rule; every other quoted text is a value.
_PROPERTIES = frozenset({"quantity", "segment", "search.item", "search.source"})


def rule_of(message: str) -> str:
    """A message without its line number and values: ``Subscription '…' was not found.``"""
    text = message.split(": ", 1)[1] if message.startswith("Line ") else message

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        keep = name in _PROPERTIES or (name[:1].islower() and "." in name and " " not in name)
        return match.group(0) if keep else "'…'"

    return _NUMBER.sub("…", _QUOTED.sub(value, text))


def count_lines(path: Path) -> int | None:
    if path.suffix.lower() == ".xlsx":
        return None
    with path.open("rb") as stream:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b"")) or 1


def upload(database: Database, settings: Settings, journal_id: str, path: Path, console: Console) -> int:
    """Upload and validate; prints the outcome and the errors grouped by rule. Returns the exit status."""
    with path.open("rb") as stream:
        head = stream.read(8)
    try:
        file_format = detect_format(None, path.name, head)
    except UnsupportedFormat as exc:
        console.print(f"[red]{exc.message}[/red]")
        return 2
    with database.session_scope() as session:
        journal = JournalRepository(session).get_any(journal_id.upper())
        if journal is None:
            console.print(f"[red]Journal {journal_id} was not found.[/red]")
            return 2
        actor = {"id": "USR-0000-0000", "name": f"billing CLI ({getpass.getuser()})", "icon": ""}
        principal = Principal(journal.vendor_id, Role.VENDOR, actor)
        try:
            with path.open("rb") as stream:
                JournalService(session, principal, Scope.OWN_VENDOR).upload(
                    journal.id,
                    stream=stream,
                    filename=path.name,
                    content_type=None,
                    file_format=file_format,
                    limit=settings.api.max_charge_file_bytes,
                    storage=AttachmentStorage.from_settings(settings),
                )
        except AppError as error:
            console.print(f"[red]{error.detail}[/red]")
            for messages in (error.errors or {}).values():
                for message in messages:
                    console.print(f"  {message}")
            return 1
        journal_id = journal.id
    with database.session_scope() as session:
        claims = WorkRepository(session).claim(
            VALIDATE_JOB, worker_id(), timedelta(seconds=settings.worker.lease_s), object_id=journal_id
        )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(f"Validating {path.name}", total=count_lines(path))
        if claims:
            validate_journal(database, settings, claims[0], lambda line: progress.update(task, completed=line))
    return summarise(database, journal_id, console)


def summarise(database: Database, journal_id: str, console: Console) -> int:
    with database.read_scope() as session:
        journal = JournalRepository(session).get_any(journal_id)
        assert journal is not None
        by_rule: Counter[str] = Counter()
        first_line: dict[str, int] = {}
        for line, messages in ChargeRepository(session).errors_of_journal(journal_id):
            for message in messages:
                rule = rule_of(message)
                by_rule[rule] += 1
                first_line.setdefault(rule, line)
    counts = (
        f"{journal.upload_total} charges: {journal.upload_ready} ready, {journal.upload_split} split, "
        f"{journal.upload_skipped} skipped, {journal.upload_error} in error"
    )
    colour = "green" if journal.status in ("Validated", "Review") else "red"
    console.print(f"[{colour}]Journal {journal.id} is {journal.status}[/{colour}] — {counts}.")
    if journal.error:
        console.print(f"  {journal.error['id']}: {journal.error['message']}")
    if by_rule:
        table = Table("errors", "rule", "first line", title="Errors by rule")
        for rule, count in by_rule.most_common():
            table.add_row(str(count), rule, str(first_line[rule]))
        console.print(table)
    return 0 if journal.status in ("Validated", "Review") else 1

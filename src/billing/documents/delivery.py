"""Delivery of rendered documents to finance: an e-mail with the file attached, or a file in a drop folder.

`enqueue_deliveries` (the render service, in its transaction) inserts a Pending delivery per target whose rule
matches the document. `deliver_due` (the ``documents.deliver`` tick) claims due deliveries with leases, sends
each outside any transaction, then records the attempt and the outcome in a transaction of its own:

- sent → ``Sent``, and the target's count of failures in a row goes back to 0;
- failed → due again after min(cap, base × 2^(n−1)) s; after ``max_attempts`` → ``Failed`` (`retry` requeues);
- ``pause_after_failures`` failures of a target in a row pause it: its deliveries wait for `resume_target`.

Failures are sorted at the boundary into `DeliveryError`::

    DeliveryError              the document did not arrive; retried with backoff either way
    ├── permanent=False        may pass later: refused connection, timeout, disconnect, SMTP 4xx, disk errors
    └── permanent=True         needs a person: SMTP 5xx, refused credentials, missing password or folder
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import smtplib
import ssl
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Literal, Protocol

import jinja2
import structlog
from sqlalchemy.orm import Session

from billing.attachments.service import media_type
from billing.attachments.storage import CHUNK_BYTES, AttachmentStorage
from billing.db.engine import Database
from billing.documents.delivery_repository import (
    FAILED,
    PENDING,
    SENT,
    DeliveryClaim,
    DeliveryRepository,
    OutputFile,
    StartedAttempt,
)
from billing.documents.templating import TemplateError, Templates
from billing.errors import Conflict, InvalidStatus, NotFound, ValidationFailed
from billing.settings import (
    ConfigurationError,
    DeliverySettings,
    DeliveryTargetSettings,
    DocumentsSettings,
    Settings,
)

log = structlog.get_logger("billing.documents.delivery")

SUBJECT_TEMPLATE = "email/document_subject.txt.j2"
BODY_TEMPLATE = "email/document_body.txt.j2"
PARTIAL_PREFIX = ".partial-"  # hidden: folder consumers skip dot files
#: a partial file this old was left by a writer that died (a write takes seconds): removed on the next delivery
STALE_PARTIAL_S = 3600.0
ERROR_EXCERPT = 2000
TITLES = {"statement": "Statement", "invoice": "Invoice", "credit_memo": "Credit memo", "ledger": "Ledger"}


class DeliveryError(Exception):
    """The document did not arrive; ``permanent`` as drawn above."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class DeliveryMeta:
    """What rules match a document on, and what its e-mail tells about it."""

    document_type: str  # statement | invoice | credit_memo | ledger
    format: Literal["pdf", "csv"]
    seller_id: str | None
    client_id: str | None
    parent_id: str
    label: str  # e.g. the invoice number


@dataclass(frozen=True, slots=True)
class Document:
    """One delivery's file, as a target sends it."""

    delivery_id: int
    meta: DeliveryMeta
    kind: str
    filename: str
    content_type: str
    sha256: str
    size: int
    path: Path


# --- configuration ------------------------------------------------------------------------------------------
def validate_delivery_config(settings: DocumentsSettings) -> None:
    """Raise `ConfigurationError` naming every problem: rules naming unknown targets, incomplete targets."""
    names = [target.name for target in settings.targets]
    problems = [f"target {name!r} is defined more than once" for name in sorted(set(names)) if names.count(name) > 1]
    for target in settings.targets:
        if target.type == "folder" and target.path is None:
            problems.append(f"folder target {target.name!r} has no path")
        if target.type == "smtp" and not target.recipients:
            problems.append(f"SMTP target {target.name!r} has no recipients")
        if target.type == "smtp" and target.username and not target.password_env:
            problems.append(f"SMTP target {target.name!r} has a username but no password_env")
    known = ", ".join(repr(name) for name in names) or "none"
    problems += [
        f"documents.rules[{index}] names the unknown target {rule.target!r} (targets: {known})"
        for index, rule in enumerate(settings.rules)
        if rule.target not in names
    ]
    if problems:
        raise ConfigurationError("Document delivery is misconfigured: " + "; ".join(problems) + ".")


def matching_targets(settings: DocumentsSettings, meta: DeliveryMeta) -> list[str]:
    """Targets of the rules matching ``meta``, in rule order, each once (an empty rule list matches all)."""
    validate_delivery_config(settings)
    matched: list[str] = []
    for rule in settings.rules:
        if (
            rule.target not in matched
            and _allows(rule.document_types, meta.document_type)
            and _allows(rule.formats, meta.format)
            and _allows(rule.sellers, meta.seller_id)
            and _allows(rule.clients, meta.client_id)
        ):
            matched.append(rule.target)
    return matched


def _allows(values: Sequence[str], value: str | None) -> bool:
    return not values or value in values


# --- queueing and operator actions (the caller's transaction) -------------------------------------------------
def enqueue_deliveries(session: Session, output_id: int, meta: DeliveryMeta, settings: DocumentsSettings) -> list[int]:
    """Pending deliveries of an output to every matching target it has none for yet; the new ids."""
    repository = DeliveryRepository(session)
    queued = set(repository.targets_of(output_id, (PENDING, SENT, FAILED)))
    targets = [target for target in matching_targets(settings, meta) if target not in queued]
    return repository.add(output_id, targets, repository.now()) if targets else []


def resend(
    session: Session,
    settings: DocumentsSettings,
    *,
    output_id: int | None = None,
    delivery_id: int | None = None,
    target: str | None = None,
) -> list[int]:
    """Deliver a sent output again: a Sent delivery's output to its target, or an output to every target it was
    sent to; ``target`` names another configured target instead. The new Pending deliveries' ids."""
    if (output_id is None) == (delivery_id is None):
        raise ValidationFailed.one("outputId", "Give either an output id or a delivery id.")
    repository = DeliveryRepository(session)
    if delivery_id is not None:
        delivery = repository.get(delivery_id)
        if delivery is None:
            raise NotFound.object("Delivery", str(delivery_id))
        if delivery.status != SENT:
            raise InvalidStatus("Delivery", str(delivery_id), delivery.status, "resend", [SENT])
        output_id, targets = delivery.output_id, [target or delivery.target]
    else:
        assert output_id is not None
        if repository.output(output_id) is None:
            raise NotFound.object("Document output", str(output_id))
        targets = [target] if target else repository.targets_of(output_id, (SENT,))
        if not targets:
            raise Conflict(f"Document output {output_id} was not sent to any target yet: there is nothing to resend.")
    configured = {configured.name for configured in settings.targets}
    for name in targets:
        if name not in configured:
            raise ValidationFailed.one("target", f"{name!r} is not a configured delivery target.")
    return repository.add(output_id, targets, repository.now())


def retry(session: Session, delivery_id: int) -> None:
    """A Failed delivery back to Pending, due now, with a fresh budget of attempts."""
    repository = DeliveryRepository(session)
    delivery = repository.get(delivery_id, for_update=True)
    if delivery is None:
        raise NotFound.object("Delivery", str(delivery_id))
    if delivery.status != FAILED:
        raise InvalidStatus("Delivery", str(delivery_id), delivery.status, "retry", [FAILED])
    repository.requeue(delivery_id, repository.now())


def resume_target(session: Session, name: str) -> bool:
    """Lift a target's pause; its waiting deliveries are due at once. False when it was not paused."""
    repository = DeliveryRepository(session)
    resumed = repository.resume(name, repository.now())
    if resumed:
        log.info("documents.delivery.target_resumed", target=name)
    return resumed


@dataclass(frozen=True, slots=True)
class TargetReport:
    name: str
    type: str | None  # None: deliveries name a target that is no longer configured
    paused: bool
    paused_at: datetime | None
    pause_reason: str | None
    consecutive_failures: int
    last_success_at: datetime | None
    pending: int
    sent: int
    failed: int


def target_report(session: Session, settings: DocumentsSettings) -> list[TargetReport]:
    """Every configured target, then unconfigured ones that still have deliveries or health, by name."""
    repository = DeliveryRepository(session)
    health = {target.name: target for target in repository.targets()}
    counts = repository.counts_by_target()
    types = {target.name: target.type for target in settings.targets}
    names = [*types, *sorted((set(counts) | set(health)) - set(types))]
    reports = []
    for name in names:
        row, tally = health.get(name), counts.get(name)
        reports.append(
            TargetReport(
                name=name,
                type=types.get(name),
                paused=row is not None and row.paused_at is not None,
                paused_at=row.paused_at if row else None,
                pause_reason=row.pause_reason if row else None,
                consecutive_failures=row.consecutive_failures if row else 0,
                last_success_at=row.last_success_at if row else None,
                pending=tally.pending if tally else 0,
                sent=tally.sent if tally else 0,
                failed=tally.failed if tally else 0,
            )
        )
    return reports


# --- the tick ---------------------------------------------------------------------------------------------------
@dataclass
class DeliveryStats:
    claimed: int = 0
    sent: int = 0
    failed: int = 0  # failed attempts
    given_up: int = 0  # of those, deliveries that became Failed
    released: int = 0  # claims not sent: stopping, target paused meanwhile, lease lost
    paused: list[str] = field(default_factory=list)  # targets this tick paused


def deliver_due(
    database: Database,
    settings: Settings,
    owner: str,
    *,
    limit: int | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> DeliveryStats:
    """Claim up to ``limit`` (default ``documents.delivery.batch_size``) due deliveries as ``owner`` and send
    each; a claim not started when ``stopping()`` turns true is given back."""
    documents = settings.documents
    validate_delivery_config(documents)
    config = documents.delivery
    lease = timedelta(seconds=config.lease_s)
    stats = DeliveryStats()
    if stopping():
        return stats
    targets = make_targets(documents)
    storage = AttachmentStorage.from_settings(settings)
    wanted = config.batch_size if limit is None else limit
    with database.session_scope() as session:
        claims = DeliveryRepository(session).claim(owner, list(targets), wanted, lease)
    stats.claimed = len(claims)
    for claim in claims:
        with database.session_scope() as session:
            repository = DeliveryRepository(session)
            if stopping():
                repository.release(claim)
                started, output = None, None
            else:
                started = repository.start(claim, lease)
                output = repository.output_file(claim.output_id) if started else None
        if started is None:
            stats.released += 1
            continue
        error = _send(targets[claim.target], claim, output, storage)
        _record(database, started, error, config, stats)
    return stats


def _send(
    target: Target, claim: DeliveryClaim, output: OutputFile | None, storage: AttachmentStorage
) -> DeliveryError | None:
    try:
        target.deliver(_document(claim, output, storage))
    except DeliveryError as exc:
        return exc
    except Exception as exc:  # a bug must not strand the claim: it is a failed attempt like any other
        log.exception("documents.delivery.unexpected", delivery_id=claim.id, target=claim.target)
        return DeliveryError(f"Unexpected {type(exc).__name__}: {exc}")
    return None


def _document(claim: DeliveryClaim, output: OutputFile | None, storage: AttachmentStorage) -> Document:
    if output is None:
        raise DeliveryError(f"Document output {claim.output_id} or its attachment no longer exists.", permanent=True)
    path = storage.path(output.sha256)
    if not path.is_file():
        raise DeliveryError(f"The stored file {output.sha256} of document output {claim.output_id} is missing.")
    document_format: Literal["pdf", "csv"] = "csv" if output.kind.endswith("_csv") else "pdf"
    meta = DeliveryMeta(
        output.parent_type, document_format, output.seller_id, output.client_id, output.parent_id, output.label
    )
    return Document(claim.id, meta, output.kind, output.filename, output.content_type, output.sha256, output.size, path)


def _record(
    database: Database,
    started: StartedAttempt,
    error: DeliveryError | None,
    config: DeliverySettings,
    stats: DeliveryStats,
) -> None:
    """The attempt's outcome, the delivery's next state (fenced) and the target's health, in one transaction."""
    claim = started.claim
    paused = gave_up = False
    with database.session_scope() as session:
        repository = DeliveryRepository(session)
        now = repository.now()
        if error is None:
            repository.close_attempt(started.attempt_id, now, "sent", None)
            kept = repository.finish(claim, status=SENT, sent_at=now, next_attempt_at=None, last_error=None)
            repository.target_succeeded(claim.target, now)
        else:
            message = error.message[:ERROR_EXCERPT]
            repository.close_attempt(started.attempt_id, now, "failed", message)
            gave_up = started.attempts >= config.max_attempts
            delay = min(config.backoff_cap_s, config.backoff_base_s * 2 ** (started.attempts - 1))
            kept = repository.finish(
                claim,
                status=FAILED if gave_up else PENDING,
                next_attempt_at=None if gave_up else now + timedelta(seconds=delay),
                last_error=message,
            )
            paused = repository.target_failed(claim.target, message, config.pause_after_failures, now)
    context = {"delivery_id": claim.id, "target": claim.target, "attempt": started.attempts}
    if not kept:  # another replica claimed the row after this lease ran out: its outcome is the one recorded
        log.warning("documents.delivery.lease_lost", **context, sent=error is None)
    if error is None:
        stats.sent += 1
        log.info("documents.delivery.sent", **context)
        return
    stats.failed += 1
    stats.given_up += 1 if gave_up and kept else 0
    log.warning("documents.delivery.failed", **context, error=error.message, permanent=error.permanent, gave_up=gave_up)
    if paused:
        stats.paused.append(claim.target)
        log.error("documents.delivery.target_paused", target=claim.target, reason=error.message)


# --- targets ----------------------------------------------------------------------------------------------------
class Target(Protocol):
    """Where documents go; `deliver` returns once the document arrived, else raises `DeliveryError`."""

    def deliver(self, document: Document) -> None: ...


def make_targets(settings: DocumentsSettings) -> dict[str, Target]:
    templates = Templates.from_settings(settings)
    targets: dict[str, Target] = {}
    for target in settings.targets:
        if target.type == "smtp":
            targets[target.name] = SmtpTarget(target, templates)
        else:
            assert target.path is not None  # validate_delivery_config
            targets[target.name] = FolderTarget(target.path)
    return targets


class FolderTarget:
    """A drop folder. A file appears whole or not at all: it is written to a hidden ``.partial-*`` file in the
    same folder, synced, then renamed; a crash leaves at most that hidden file. A name taken by other content
    gets a ``-2``, ``-3``… suffix; the same content under the name means the document was delivered already."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def deliver(self, document: Document) -> None:
        if not self.path.is_dir():
            raise DeliveryError(f"The drop folder {self.path} does not exist.", permanent=True)
        self._remove_stale_partials()
        try:
            final = self._free_name(document)
            if final is not None:
                self._write(document, final)
        except OSError as exc:
            raise DeliveryError(f"Writing to the drop folder {self.path} failed: {exc}") from exc

    def _remove_stale_partials(self) -> None:
        """Partial files of writers killed mid-write (another replica's write in progress is younger)."""
        cutoff = datetime.now().timestamp() - STALE_PARTIAL_S
        for partial in self.path.glob(f"{PARTIAL_PREFIX}*"):
            with suppress(OSError):  # gone meanwhile, or not ours to remove: the delivery goes on
                if partial.stat().st_mtime < cutoff:
                    partial.unlink()
                    log.info("documents.delivery.stale_partial_removed", path=str(partial))

    def _free_name(self, document: Document) -> Path | None:
        """The first name not taken; None when a file with this content is already there."""
        name = document.filename.lstrip(".") or f"document-{document.delivery_id}"
        candidate, number = self.path / name, 1
        while candidate.exists():
            if _same_content(candidate, document):
                return None
            number += 1
            candidate = self.path / f"{Path(name).stem}-{number}{Path(name).suffix}"
        return candidate

    def _write(self, document: Document, final: Path) -> None:
        partial = self.path / f"{PARTIAL_PREFIX}{secrets.token_hex(8)}"
        # os.open rather than mkstemp: the file gets the umask's permissions, readable by the folder's consumer
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(descriptor, "wb") as out, document.path.open("rb") as source:
                shutil.copyfileobj(source, out, CHUNK_BYTES)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        with suppress(OSError):  # some network file systems cannot sync a directory; the rename is done anyway
            folder = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)


def _same_content(path: Path, document: Document) -> bool:
    if path.stat().st_size != document.size:
        return False
    digest = hashlib.sha256()
    with path.open("rb") as existing:
        while chunk := existing.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest() == document.sha256


class SmtpTarget:
    """One e-mail per delivery to the target's recipients, the file attached; subject and body from the
    ``email/`` templates. Security ``none``, ``starttls`` or ``tls`` (certificates checked against the system's
    CAs, or the bundle ``SSL_CERT_FILE`` names); AUTH when a username is set, the password read from the
    environment variable ``password_env`` names at each delivery."""

    def __init__(self, settings: DeliveryTargetSettings, templates: Templates) -> None:
        self.settings = settings
        self.templates = templates

    def deliver(self, document: Document) -> None:
        message = self.message(document)
        password = self._password()
        try:
            with self._connect() as smtp:
                if password is not None:
                    smtp.login(self.settings.username or "", password)
                refused = smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise self._failure(exc) from exc
        if refused:  # the others have the message: sending it again would duplicate it for them
            log.warning("documents.delivery.recipients_refused", delivery_id=document.delivery_id, refused=str(refused))

    def message(self, document: Document) -> EmailMessage:
        target = self.settings
        context = {
            "document": document.meta,
            "title": TITLES.get(document.meta.document_type, document.meta.document_type),
            "filename": document.filename,
            "size": document.size,
            "kind": document.kind,
            "delivery_id": document.delivery_id,
        }
        try:
            subject = " ".join(self.templates.template(SUBJECT_TEMPLATE).render(context).split())
            body = self.templates.template(BODY_TEMPLATE).render(context)
        except (TemplateError, jinja2.TemplateError) as exc:
            raise DeliveryError(f"The e-mail templates failed: {exc}", permanent=True) from exc
        message = EmailMessage()
        message["From"] = target.sender
        message["To"] = ", ".join(target.recipients)
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(f"delivery-{document.delivery_id}", target.sender.rpartition("@")[2])
        message.set_content(body)
        maintype, _, subtype = media_type(document.content_type).partition("/")
        message.add_attachment(
            document.path.read_bytes(), maintype=maintype, subtype=subtype or "octet-stream", filename=document.filename
        )
        return message

    def _password(self) -> str | None:
        target = self.settings
        if not target.username:
            return None
        password = os.environ.get(target.password_env or "")
        if not password:
            raise DeliveryError(
                f"The SMTP password of target {target.name!r} is missing: "
                f"the environment variable {target.password_env} is not set.",
                permanent=True,
            )
        return password

    def _connect(self) -> smtplib.SMTP:
        target = self.settings
        context = ssl.create_default_context()
        if target.security == "tls":
            return smtplib.SMTP_SSL(target.host, target.port, timeout=target.timeout_s, context=context)
        smtp = smtplib.SMTP(target.host, target.port, timeout=target.timeout_s)
        if target.security == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _failure(self, exc: smtplib.SMTPException | OSError) -> DeliveryError:
        server = f"SMTP server {self.settings.host}:{self.settings.port}"
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            refused = "; ".join(f"{rcpt}: {code} {_text(reply)}" for rcpt, (code, reply) in exc.recipients.items())
            return DeliveryError(f"{server} refused every recipient: {refused}", permanent=any(c >= 500 for c in codes))
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            reply = f"{exc.smtp_code} {_text(exc.smtp_error)}"
            return DeliveryError(
                f"{server} refused the credentials of {self.settings.username!r}: {reply}", permanent=True
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            permanent = exc.smtp_code >= 500
            verb = "rejected" if permanent else "deferred"
            return DeliveryError(
                f"{server} {verb} the message: {exc.smtp_code} {_text(exc.smtp_error)}", permanent=permanent
            )
        if isinstance(exc, ssl.SSLCertVerificationError | smtplib.SMTPNotSupportedError):
            return DeliveryError(f"{server}: {exc}", permanent=True)
        return DeliveryError(f"{server} is unreachable: {type(exc).__name__}: {exc}")


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply

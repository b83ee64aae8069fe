"""Delivery of rendered documents: a real SMTP server (aiosmtpd) and real drop folders, both databases."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import io
import ipaddress
import os
import shutil
import socket
import ssl
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select, update

from billing.attachments.repository import AttachmentRepository
from billing.attachments.storage import AttachmentStorage
from billing.db.engine import Database
from billing.db.models import DeliveryTarget, DocumentDelivery, DocumentDeliveryAttempt, DocumentOutput, Invoice
from billing.documents.delivery import (
    DeliveryMeta,
    deliver_due,
    enqueue_deliveries,
    matching_targets,
    resend,
    resume_target,
    retry,
    target_report,
    validate_delivery_config,
)
from billing.documents.delivery_repository import DeliveryRepository
from billing.errors import Conflict, InvalidStatus, ValidationFailed
from billing.kit.timeutil import utcnow
from billing.settings import ConfigurationError, DocumentsSettings, Settings

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
CSV = "Line;Amount\r\n1;10,00\r\n2;Zürich 5,50\r\n".encode()
USER, PASSWORD, PASSWORD_ENV = "billing", "s3cret-pw", "TEST_DELIVERY_SMTP_PASSWORD"
BASE_S, CAP_S = 10.0, 25.0  # backoff 10 s, 20 s, then the 25 s cap; tests make rows due instead of waiting


# --- an SMTP server -----------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """aiosmtpd handler: keeps accepted messages; ``reply`` overrides the answer to DATA (e.g. a 451 or a 550)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.logins: list[bytes] = []
        self.reply: str | None = None
        self.delay_s = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.reply:
            return self.reply
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        accepted = (
            isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode()
        )
        if accepted:
            self.logins.append(data.login)
        return AuthResult(success=accepted, handled=False)  # unhandled failure: the server answers 535


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


class SmtpServers:
    """Starts aiosmtpd servers on free ports for one test and stops them after it."""

    def __init__(self, tls_files: tuple[Path, Path]) -> None:
        self.tls_files = tls_files
        self.controllers: list[Controller] = []

    def start(self, security: str = "none", *, auth: bool = False) -> tuple[Inbox, int]:
        inbox, port = Inbox(), free_port()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*self.tls_files)
        options: dict[str, Any] = {}
        if security == "starttls":
            options.update(tls_context=context, require_starttls=True)
        elif security == "tls":
            options.update(ssl_context=context)
        if auth:
            # aiosmtpd counts only STARTTLS as TLS: on an implicit TLS port AUTH is offered without requiring it
            starttls = security == "starttls"
            options.update(authenticator=inbox.authenticate, auth_required=starttls, auth_require_tls=starttls)
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        self.controllers.append(controller)
        return inbox, port

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()


@pytest.fixture
def smtp(tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))  # the client trusts the self-signed certificate
    servers = SmtpServers(tls_files)
    yield servers
    servers.stop()


# --- settings, outputs, database helpers ---------------------------------------------------------------------
def smtp_target(port: int, name: str = "mail", **values: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "sender": "billing@example.com",
        "recipients": ["finance@example.com", "audit@example.com"],
        "timeout_s": 5,
        **values,
    }


def folder_target(path: Path, name: str = "drop") -> dict[str, Any]:
    return {"name": name, "type": "folder", "path": path}


def configure(
    settings: Settings, *targets: dict[str, Any], rules: list[Any] | None = None, **delivery: Any
) -> Settings:
    documents = DocumentsSettings(
        targets=list(targets),
        rules=rules if rules is not None else [{"target": target["name"]} for target in targets],
        delivery={
            "backoff_base_s": BASE_S,
            "backoff_cap_s": CAP_S,
            "max_attempts": 10,
            "pause_after_failures": 3,
            "lease_s": 60,
            "batch_size": 50,
            **delivery,
        },
    )
    return settings.model_copy(update={"documents": documents})


def meta(parent_id: str = "INV-1000-0001", **values: Any) -> DeliveryMeta:
    fields = {
        "document_type": "invoice",
        "format": "pdf",
        "seller_id": "SEL-1",
        "client_id": "CLI-1",
        "parent_id": parent_id,
        "label": "103021",
    }
    return DeliveryMeta(**{**fields, **values})


def add_output(
    db: Database,
    settings: Settings,
    data: bytes = PDF,
    *,
    parent_id: str = "INV-1000-0001",
    kind: str = "invoice_pdf",
    filename: str = "invoice-103021.pdf",
    content_type: str = "application/pdf",
) -> int:
    """A stored file, its Output attachment and a document output of it (what the render service writes)."""
    sha256, size, _ = AttachmentStorage.from_settings(settings).store(io.BytesIO(data), limit=10**8)
    now = utcnow()
    with db.session_scope() as session:
        attachment = AttachmentRepository(session).add(
            "INA",
            2,
            parent_type="invoice",
            parent_id=parent_id,
            name=filename,
            type="Output",
            filename=filename,
            size=size,
            content_type=content_type,
            sha256=sha256,
            audit={},
            created_at=now,
            updated_at=now,
        )
        output = DocumentOutput(
            parent_type="invoice",
            parent_id=parent_id,
            kind=kind,
            checksum=hashlib.sha256(data + filename.encode()).hexdigest(),
            template_version="test",
            attachment_id=attachment.id,
            created_at=now,
        )
        session.add(output)
        session.flush()
        return output.id


def queue(db: Database, settings: Settings, data: bytes = PDF, **output: Any) -> tuple[int, list[int]]:
    """An output and its deliveries to every target the rules pick."""
    output_id = add_output(db, settings, data, **output)
    with db.session_scope() as session:
        ids = enqueue_deliveries(session, output_id, meta(output.get("parent_id", "INV-1000-0001")), settings.documents)
    return output_id, ids


def deliveries(db: Database) -> list[DocumentDelivery]:
    with db.read_scope() as session:
        return list(session.execute(select(DocumentDelivery).order_by(DocumentDelivery.id)).scalars())


def attempts(db: Database, delivery_id: int) -> list[DocumentDeliveryAttempt]:
    with db.read_scope() as session:
        rows = select(DocumentDeliveryAttempt).where(DocumentDeliveryAttempt.delivery_id == delivery_id)
        return list(session.execute(rows.order_by(DocumentDeliveryAttempt.number)).scalars())


def target_row(db: Database, name: str) -> DeliveryTarget | None:
    with db.read_scope() as session:
        return session.get(DeliveryTarget, name)


def make_due(db: Database) -> None:
    """Move every waiting delivery's next attempt into the past (instead of sleeping through the backoff)."""
    with db.session_scope() as session:
        session.execute(
            update(DocumentDelivery)
            .where(DocumentDelivery.status == "Pending")
            .values(next_attempt_at=utcnow() - dt.timedelta(minutes=1))
        )


def waited(db: Database, delivery_id: int) -> float:
    """Seconds between the last attempt's end and the next attempt."""
    row = next(row for row in deliveries(db) if row.id == delivery_id)
    assert row.next_attempt_at is not None
    last = attempts(db, delivery_id)[-1]
    assert last.finished_at is not None
    return (row.next_attempt_at - last.finished_at).total_seconds()


def attachments_of(message: EmailMessage) -> list[tuple[str | None, str, bytes]]:
    return [
        (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        for part in message.iter_attachments()
    ]


# --- rules -----------------------------------------------------------------------------------------------------
class TestRules:
    def test_rules_pick_targets_by_type_format_seller_and_client(self, tmp_path: Path) -> None:
        settings = DocumentsSettings(
            targets=[folder_target(tmp_path, "a"), folder_target(tmp_path, "b"), folder_target(tmp_path, "c")],
            rules=[
                {"target": "a", "document_types": ["invoice"], "formats": ["pdf"]},
                {"target": "b", "sellers": ["SEL-2"]},
                {"target": "c", "clients": ["CLI-1"], "formats": ["csv"]},
                {"target": "a"},
            ],
        )
        assert matching_targets(settings, meta()) == ["a"]
        assert matching_targets(settings, meta(format="csv")) == ["c", "a"]  # rule order
        assert matching_targets(settings, meta(seller_id="SEL-2", document_type="statement")) == ["b", "a"]
        assert matching_targets(settings, meta(client_id=None, format="csv")) == ["a"]

    def test_a_rule_naming_an_unknown_target_is_refused_with_the_name(self, tmp_path: Path) -> None:
        settings = DocumentsSettings(targets=[folder_target(tmp_path)], rules=[{"target": "drop"}, {"target": "mial"}])
        with pytest.raises(ConfigurationError, match=r"rules\[1\] names the unknown target 'mial' \(targets: 'drop'\)"):
            validate_delivery_config(settings)
        with pytest.raises(ConfigurationError):
            matching_targets(settings, meta())

    def test_incomplete_targets_are_refused(self) -> None:
        settings = DocumentsSettings(
            targets=[
                {"name": "drop", "type": "folder"},
                {"name": "mail", "type": "smtp", "username": "u"},
                {"name": "mail", "type": "smtp", "recipients": ["x@example.com"]},
            ]
        )
        with pytest.raises(ConfigurationError) as raised:
            validate_delivery_config(settings)
        message = str(raised.value)
        assert "'mail' is defined more than once" in message
        assert "folder target 'drop' has no path" in message
        assert "SMTP target 'mail' has no recipients" in message
        assert "'mail' has a username but no password_env" in message

    def test_enqueueing_twice_adds_nothing(self, db: Database, settings: Settings, tmp_path: Path) -> None:
        settings = configure(settings, folder_target(tmp_path / "a", "a"), folder_target(tmp_path / "b", "b"))
        output_id, ids = queue(db, settings)
        assert len(ids) == 2
        with db.session_scope() as session:
            assert enqueue_deliveries(session, output_id, meta(), settings.documents) == []
        assert [(row.target, row.status, row.attempts) for row in deliveries(db)] == [
            ("a", "Pending", 0),
            ("b", "Pending", 0),
        ]


# --- e-mail ----------------------------------------------------------------------------------------------------
class TestSmtpDelivery:
    @pytest.mark.parametrize(
        ("data", "kind", "filename", "content_type"),
        [
            (PDF, "invoice_pdf", "invoice-103021.pdf", "application/pdf"),
            (CSV, "invoice_lines_csv", "invoice-103021-lines.csv", "text/csv"),
        ],
    )
    def test_message_arrives_with_the_file_attached(
        self,
        db: Database,
        settings: Settings,
        smtp: SmtpServers,
        data: bytes,
        kind: str,
        filename: str,
        content_type: str,
    ) -> None:
        inbox, port = smtp.start()
        settings = configure(settings, smtp_target(port))
        now = utcnow()
        with db.session_scope() as session:
            session.add(
                Invoice(
                    id="INV-1000-0001",
                    document_no="103021",
                    erp_id="E1",
                    status="Open",
                    billing_type="Standard",
                    seller_id="SEL-7",
                    client_id="CLI-9",
                    currency="EUR",
                    audit={},
                    created_at=now,
                    updated_at=now,
                )
            )
        _, [delivery_id] = queue(db, settings, data, kind=kind, filename=filename, content_type=content_type)

        stats = deliver_due(db, settings, "replica-1")

        assert (stats.claimed, stats.sent, stats.failed) == (1, 1, 0)
        [message] = inbox.messages
        assert attachments_of(message) == [(filename, content_type, data)]
        label = "PDF" if kind.endswith("pdf") else "CSV"
        assert message["Subject"] == f"Invoice 103021 ({label})"
        assert message["From"] == "billing@example.com"
        assert message["To"] == "finance@example.com, audit@example.com"
        body = message.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert "Seller: SEL-7" in text and "Client: CLI-9" in text and f"delivery {delivery_id}" in text
        [row] = deliveries(db)
        assert (row.status, row.attempts, row.lease_owner, row.next_attempt_at) == ("Sent", 1, None, None)
        assert row.sent_at is not None
        [attempt] = attempts(db, delivery_id)
        assert (attempt.number, attempt.replica, attempt.outcome, attempt.error) == (1, "replica-1", "sent", None)
        health = target_row(db, "mail")
        assert health is not None and health.last_success_at is not None

    def test_a_sent_delivery_is_not_sent_again(self, db: Database, settings: Settings, smtp: SmtpServers) -> None:
        inbox, port = smtp.start()
        settings = configure(settings, smtp_target(port))
        queue(db, settings)
        deliver_due(db, settings, "replica-1")
        make_due(db)
        assert deliver_due(db, settings, "replica-1").claimed == 0
        assert len(inbox.messages) == 1

    @pytest.mark.parametrize("security", ["starttls", "tls"])
    def test_tls_and_auth(
        self, db: Database, settings: Settings, smtp: SmtpServers, security: str, monkeypatch
    ) -> None:
        inbox, port = smtp.start(security, auth=True)
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        settings = configure(settings, smtp_target(port, security=security, username=USER, password_env=PASSWORD_ENV))
        queue(db, settings)

        assert deliver_due(db, settings, "replica-1").sent == 1

        assert inbox.logins == [USER.encode()]
        assert attachments_of(inbox.messages[0]) == [("invoice-103021.pdf", "application/pdf", PDF)]

    def test_wrong_password_backs_off_pauses_the_target_and_resume_delivers(
        self, db: Database, settings: Settings, smtp: SmtpServers, monkeypatch
    ) -> None:
        inbox, port = smtp.start("starttls", auth=True)
        monkeypatch.setenv(PASSWORD_ENV, "wrong")
        settings = configure(settings, smtp_target(port, security="starttls", username=USER, password_env=PASSWORD_ENV))
        _, [delivery_id] = queue(db, settings)

        for backoff in [BASE_S, 2 * BASE_S, CAP_S]:
            stats = deliver_due(db, settings, "replica-1")
            assert (stats.claimed, stats.failed, stats.sent) == (1, 1, 0)
            assert waited(db, delivery_id) == backoff
            assert deliver_due(db, settings, "replica-1").claimed == 0  # not due before the backoff ran out
            make_due(db)
        assert stats.paused == ["mail"]  # the third failure in a row
        assert inbox.messages == []
        failed = attempts(db, delivery_id)
        assert [(a.number, a.outcome) for a in failed] == [(1, "failed"), (2, "failed"), (3, "failed")]
        assert all("refused the credentials of 'billing': 535" in (a.error or "") for a in failed)

        assert deliver_due(db, settings, "replica-1").claimed == 0  # paused: the due delivery waits
        with db.read_scope() as session:
            [report] = target_report(session, settings.documents)
        assert (report.name, report.type, report.paused, report.consecutive_failures) == ("mail", "smtp", True, 3)
        assert (report.pending, report.sent, report.failed) == (1, 0, 0)
        assert report.pause_reason == failed[-1].error
        assert deliveries(db)[0].status == "Pending"

        monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
        with db.session_scope() as session:  # still in its backoff: the resume makes it due at once
            session.execute(update(DocumentDelivery).values(next_attempt_at=utcnow() + dt.timedelta(minutes=5)))
            assert resume_target(session, "mail") is True
        with db.session_scope() as session:
            assert resume_target(session, "mail") is False  # not paused any more
        assert deliver_due(db, settings, "replica-1").sent == 1
        assert len(inbox.messages) == 1
        with db.read_scope() as session:
            [report] = target_report(session, settings.documents)
        assert (report.paused, report.pause_reason, report.consecutive_failures, report.sent) == (False, None, 0, 1)
        assert report.last_success_at is not None

    def test_missing_password_variable_is_a_clear_failed_attempt(
        self, db: Database, settings: Settings, smtp: SmtpServers, monkeypatch
    ) -> None:
        _, port = smtp.start("starttls", auth=True)
        monkeypatch.delenv(PASSWORD_ENV, raising=False)
        settings = configure(settings, smtp_target(port, security="starttls", username=USER, password_env=PASSWORD_ENV))
        _, [delivery_id] = queue(db, settings)

        assert deliver_due(db, settings, "replica-1").failed == 1

        [attempt] = attempts(db, delivery_id)
        assert attempt.error == (
            f"The SMTP password of target 'mail' is missing: the environment variable {PASSWORD_ENV} is not set."
        )
        assert deliveries(db)[0].last_error == attempt.error

    def test_refused_connection_is_retried_with_backoff(self, db: Database, settings: Settings) -> None:
        settings = configure(settings, smtp_target(free_port()))  # nothing listens there
        _, [delivery_id] = queue(db, settings)

        deliver_due(db, settings, "replica-1")
        assert waited(db, delivery_id) == BASE_S
        make_due(db)
        deliver_due(db, settings, "replica-1")
        assert waited(db, delivery_id) == 2 * BASE_S

        tries = attempts(db, delivery_id)
        assert [(a.number, a.outcome) for a in tries] == [(1, "failed"), (2, "failed")]
        assert all("is unreachable: ConnectionRefusedError" in (a.error or "") for a in tries)
        assert all(a.finished_at is not None and a.finished_at >= a.started_at for a in tries)
        [row] = deliveries(db)
        assert (row.status, row.attempts) == ("Pending", 2)

    @pytest.mark.parametrize(
        ("reply", "verb"),
        [("451 4.3.0 Mailbox busy, try later", "deferred"), ("550 5.7.1 Attachments are not allowed", "rejected")],
    )
    def test_server_refusals_are_retried_with_the_reply_kept(
        self, db: Database, settings: Settings, smtp: SmtpServers, reply: str, verb: str
    ) -> None:
        inbox, port = smtp.start()
        inbox.reply = reply
        settings = configure(settings, smtp_target(port))
        _, [delivery_id] = queue(db, settings)

        assert deliver_due(db, settings, "replica-1").failed == 1

        [row] = deliveries(db)
        assert row.status == "Pending" and waited(db, delivery_id) == BASE_S
        assert row.last_error == f"SMTP server 127.0.0.1:{port} {verb} the message: {reply}"

    def test_gives_up_after_max_attempts_and_retry_requeues(
        self, db: Database, settings: Settings, smtp: SmtpServers
    ) -> None:
        failing = configure(settings, smtp_target(free_port()), max_attempts=2, pause_after_failures=100)
        _, [delivery_id] = queue(db, failing)
        deliver_due(db, failing, "replica-1")
        make_due(db)
        stats = deliver_due(db, failing, "replica-1")
        assert (stats.failed, stats.given_up) == (1, 1)
        [row] = deliveries(db)
        assert (row.status, row.next_attempt_at) == ("Failed", None)
        make_due(db)
        assert deliver_due(db, failing, "replica-1").claimed == 0

        inbox, port = smtp.start()
        working = configure(settings, smtp_target(port), max_attempts=2)
        with db.session_scope() as session:
            retry(session, delivery_id)
        with db.session_scope() as session, pytest.raises(InvalidStatus):
            retry(session, delivery_id)  # Pending now
        assert deliver_due(db, working, "replica-1").sent == 1
        assert len(inbox.messages) == 1
        assert [(a.number, a.outcome) for a in attempts(db, delivery_id)] == [(1, "failed"), (2, "failed"), (3, "sent")]

    def test_stopping_gives_claims_back_unsent(self, db: Database, settings: Settings, smtp: SmtpServers) -> None:
        inbox, port = smtp.start()
        settings = configure(settings, smtp_target(port))
        queue(db, settings)
        queue(db, settings, b"another", filename="other.pdf")
        calls = iter([False])  # not stopping when the tick starts, stopping right after the claim

        stats = deliver_due(db, settings, "replica-1", stopping=lambda: next(calls, True))

        assert (stats.claimed, stats.released, stats.sent) == (2, 2, 0)
        assert inbox.messages == []
        assert [(row.status, row.attempts, row.lease_owner) for row in deliveries(db)] == [("Pending", 0, None)] * 2
        assert deliver_due(db, settings, "replica-2").sent == 2  # at once: the leases were given back


class TestTargetHealth:
    def test_a_success_resets_the_count_of_failures_in_a_row(
        self, db: Database, settings: Settings, smtp: SmtpServers
    ) -> None:
        inbox, port = smtp.start()
        settings = configure(settings, smtp_target(port), pause_after_failures=3)
        inbox.reply = "451 4.3.0 Mailbox busy"
        queue(db, settings)
        queue(db, settings, b"second", filename="second.pdf")
        assert deliver_due(db, settings, "replica-1").failed == 2
        health = target_row(db, "mail")
        assert health is not None and health.consecutive_failures == 2

        inbox.reply = None
        make_due(db)
        assert deliver_due(db, settings, "replica-1", limit=1).sent == 1
        health = target_row(db, "mail")
        assert health is not None and health.consecutive_failures == 0

        inbox.reply = "451 4.3.0 Mailbox busy"
        make_due(db)
        deliver_due(db, settings, "replica-1")
        health = target_row(db, "mail")
        assert health is not None and (health.consecutive_failures, health.paused_at) == (1, None)

    def test_a_target_paused_during_a_tick_gets_no_more_attempts_in_it(self, db: Database, settings: Settings) -> None:
        settings = configure(settings, smtp_target(free_port()), pause_after_failures=1)
        _, [first] = queue(db, settings)
        _, [second] = queue(db, settings, b"second", filename="second.pdf")

        stats = deliver_due(db, settings, "replica-1")

        assert (stats.claimed, stats.failed, stats.released, stats.paused) == (2, 1, 1, ["mail"])
        assert (len(attempts(db, first)), len(attempts(db, second))) == (1, 0)
        assert [(row.status, row.lease_owner) for row in deliveries(db)] == [("Pending", None), ("Pending", None)]


class TestLeases:
    def test_a_claim_whose_lease_ran_out_changes_nothing(
        self, db: Database, settings: Settings, tmp_path: Path
    ) -> None:
        settings = configure(settings, folder_target(tmp_path))
        _, [delivery_id] = queue(db, settings)
        lease = dt.timedelta(seconds=60)
        with db.session_scope() as session:
            [stale] = DeliveryRepository(session).claim("replica-1", ["drop"], 10, lease)
        with db.session_scope() as session:  # the lease runs out; the same replica (restarted) claims the row again
            session.execute(update(DocumentDelivery).values(lease_until=utcnow() - dt.timedelta(seconds=1)))
        with db.session_scope() as session:
            [current] = DeliveryRepository(session).claim("replica-1", ["drop"], 10, lease)
        assert (current.id, current.owner) == (stale.id, stale.owner) and current.lease_until > stale.lease_until

        with db.session_scope() as session:
            repository = DeliveryRepository(session)
            assert repository.start(stale, lease) is None
            assert repository.finish(stale, status="Failed") is False
            assert repository.release(stale) is False
            started = repository.start(current, lease)
            assert started is not None and started.attempts == 1
        [row] = deliveries(db)
        assert (row.id, row.status, row.attempts, row.lease_owner) == (delivery_id, "Pending", 1, "replica-1")
        assert [a.number for a in attempts(db, delivery_id)] == [1]

    def test_an_attempt_left_open_by_a_dead_replica_is_closed_as_abandoned(
        self, db: Database, settings: Settings, tmp_path: Path
    ) -> None:
        folder = tmp_path / "drop"
        folder.mkdir()
        settings = configure(settings, folder_target(folder))
        _, [delivery_id] = queue(db, settings)
        lease = dt.timedelta(seconds=60)
        with db.session_scope() as session:  # claimed and started, then the process is killed before the send
            repository = DeliveryRepository(session)
            [claim] = repository.claim("replica-1", ["drop"], 10, lease)
            assert repository.start(claim, lease) is not None
        with db.session_scope() as session:
            session.execute(update(DocumentDelivery).values(lease_until=utcnow() - dt.timedelta(seconds=1)))
        assert deliver_due(db, settings, "replica-2").sent == 1
        first, second = attempts(db, delivery_id)
        assert (first.outcome, second.outcome) == ("abandoned", "sent")
        assert first.finished_at is not None and "lease ran out" in (first.error or "")
        assert visible(folder) == ["invoice-103021.pdf"]


# --- drop folder -------------------------------------------------------------------------------------------------
def visible(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if not name.startswith("."))


class TestFolderDelivery:
    def test_file_appears_complete(self, db: Database, settings: Settings, tmp_path: Path) -> None:
        folder = tmp_path / "drop"
        folder.mkdir()
        settings = configure(settings, folder_target(folder))
        queue(db, settings, CSV, filename="invoice-103021-lines.csv", kind="invoice_lines_csv")

        assert deliver_due(db, settings, "replica-1").sent == 1

        assert os.listdir(folder) == ["invoice-103021-lines.csv"]  # no partial file left behind
        assert (folder / "invoice-103021-lines.csv").read_bytes() == CSV

    def test_a_taken_name_gets_a_suffix_and_the_same_content_is_not_written_twice(
        self, db: Database, settings: Settings, tmp_path: Path
    ) -> None:
        folder = tmp_path / "drop"
        folder.mkdir()
        (folder / "invoice-103021.pdf").write_bytes(b"someone else's file")
        settings = configure(settings, folder_target(folder))
        output_id, _ = queue(db, settings)

        deliver_due(db, settings, "replica-1")
        with db.session_scope() as session:
            resend(session, settings.documents, output_id=output_id)
        assert deliver_due(db, settings, "replica-1").sent == 1  # found there already: delivered

        assert visible(folder) == ["invoice-103021-2.pdf", "invoice-103021.pdf"]
        assert (folder / "invoice-103021-2.pdf").read_bytes() == PDF
        assert (folder / "invoice-103021.pdf").read_bytes() == b"someone else's file"
        assert [row.status for row in deliveries(db)] == ["Sent", "Sent"]

    def test_a_failure_mid_write_leaves_no_file_under_the_final_name(
        self, db: Database, settings: Settings, tmp_path: Path, monkeypatch
    ) -> None:
        folder = tmp_path / "drop"
        folder.mkdir()
        settings = configure(settings, folder_target(folder))
        _, [delivery_id] = queue(db, settings)
        seen: list[list[str]] = []

        def copy_half_then_fail(source: Any, out: Any, length: int = 0) -> None:
            out.write(source.read(len(PDF) // 2))
            out.flush()
            seen.append(sorted(os.listdir(folder)))
            raise OSError(28, "No space left on device")

        with monkeypatch.context() as patch:
            patch.setattr(shutil, "copyfileobj", copy_half_then_fail)
            assert deliver_due(db, settings, "replica-1").failed == 1

        [[partial]] = seen  # while writing, only a hidden partial file existed
        assert partial.startswith(".partial-")
        assert os.listdir(folder) == []  # and it was removed
        assert "No space left on device" in (attempts(db, delivery_id)[0].error or "")
        make_due(db)
        assert deliver_due(db, settings, "replica-1").sent == 1
        assert os.listdir(folder) == ["invoice-103021.pdf"]
        assert (folder / "invoice-103021.pdf").read_bytes() == PDF

    def test_a_crash_mid_write_leaves_at_most_a_hidden_partial(
        self, db: Database, settings: Settings, tmp_path: Path, monkeypatch
    ) -> None:
        folder = tmp_path / "drop"
        folder.mkdir()
        settings = configure(settings, folder_target(folder))
        queue(db, settings)

        def crash(source: Any, out: Any, length: int = 0) -> None:
            out.write(source.read(100))
            raise OSError(5, "Input/output error")

        with monkeypatch.context() as patch:
            patch.setattr(shutil, "copyfileobj", crash)
            patch.setattr(Path, "unlink", lambda self, missing_ok=False: None)  # killed: no clean-up runs
            deliver_due(db, settings, "replica-1")

        [leftover] = os.listdir(folder)
        assert leftover.startswith(".partial-") and visible(folder) == []
        make_due(db)
        assert deliver_due(db, settings, "replica-1").sent == 1
        assert visible(folder) == ["invoice-103021.pdf"]
        assert (folder / "invoice-103021.pdf").read_bytes() == PDF

    def test_partials_left_by_dead_writers_are_removed_and_recent_ones_kept(
        self, db: Database, settings: Settings, tmp_path: Path
    ) -> None:
        folder = tmp_path / "drop"
        folder.mkdir()
        stale, recent = folder / ".partial-dead", folder / ".partial-writing"
        stale.write_bytes(b"half")
        recent.write_bytes(b"half")
        two_hours_ago = time.time() - 7200
        os.utime(stale, (two_hours_ago, two_hours_ago))
        settings = configure(settings, folder_target(folder))
        queue(db, settings)

        assert deliver_due(db, settings, "replica-1").sent == 1

        assert sorted(os.listdir(folder)) == [".partial-writing", "invoice-103021.pdf"]

    def test_a_missing_folder_is_a_failed_attempt(self, db: Database, settings: Settings, tmp_path: Path) -> None:
        settings = configure(settings, folder_target(tmp_path / "not-mounted"))
        queue(db, settings)

        assert deliver_due(db, settings, "replica-1").failed == 1

        assert deliveries(db)[0].last_error == f"The drop folder {tmp_path / 'not-mounted'} does not exist."
        assert not (tmp_path / "not-mounted").exists()


# --- replicas, resend ----------------------------------------------------------------------------------------
class TestConcurrentReplicas:
    def test_two_replicas_deliver_each_row_once(self, db: Database, settings: Settings, smtp: SmtpServers) -> None:
        inbox, port = smtp.start()
        inbox.delay_s = 0.01  # keep both replicas busy at the same time
        settings = configure(settings, smtp_target(port), batch_size=3)
        for number in range(12):
            queue(db, settings, PDF + bytes([number]), filename=f"invoice-{number}.pdf")
        barrier = threading.Barrier(2)
        claimed: dict[str, int] = {"replica-1": 0, "replica-2": 0}
        errors: list[BaseException] = []

        def replica(owner: str) -> None:
            try:
                barrier.wait()
                while (stats := deliver_due(db, settings, owner)).claimed:
                    claimed[owner] += stats.claimed
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=replica, args=(owner,)) for owner in claimed]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert errors == []
        assert sum(claimed.values()) == 12
        delivered = [name for message in inbox.messages for name, _, _ in attachments_of(message)]
        assert sorted(delivered) == sorted(f"invoice-{number}.pdf" for number in range(12))
        rows = deliveries(db)
        assert [row.status for row in rows] == ["Sent"] * 12
        assert [len(attempts(db, row.id)) for row in rows] == [1] * 12


class TestResend:
    def test_resend_creates_a_new_delivery(
        self, db: Database, settings: Settings, smtp: SmtpServers, tmp_path: Path
    ) -> None:
        inbox, port = smtp.start()
        folder = tmp_path / "drop"
        folder.mkdir()
        settings = configure(settings, smtp_target(port), folder_target(folder), rules=[{"target": "mail"}])
        output_id, [first] = queue(db, settings)
        deliver_due(db, settings, "replica-1")

        with db.session_scope() as session:
            [again] = resend(session, settings.documents, output_id=output_id)
            [dropped] = resend(session, settings.documents, delivery_id=first, target="drop")
        assert len({first, again, dropped}) == 3
        assert deliver_due(db, settings, "replica-1").sent == 2

        assert len(inbox.messages) == 2
        assert (folder / "invoice-103021.pdf").read_bytes() == PDF
        assert [(row.id, row.target, row.status) for row in deliveries(db)] == [
            (first, "mail", "Sent"),
            (again, "mail", "Sent"),
            (dropped, "drop", "Sent"),
        ]

    def test_resend_needs_a_sent_output_and_a_configured_target(
        self, db: Database, settings: Settings, tmp_path: Path
    ) -> None:
        settings = configure(settings, folder_target(tmp_path))
        output_id, [pending] = queue(db, settings)
        with db.session_scope() as session:
            with pytest.raises(Conflict, match="was not sent to any target yet"):
                resend(session, settings.documents, output_id=output_id)
            with pytest.raises(InvalidStatus):
                resend(session, settings.documents, delivery_id=pending)
            with pytest.raises(ValidationFailed):
                resend(session, settings.documents, output_id=output_id, target="elsewhere")
        assert len(deliveries(db)) == 1

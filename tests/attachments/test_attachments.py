"""Journal attachments end to end (billing-api.md §3.10, §3.11, §5.11, §6.13, §2.2–2.5)."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from billing.attachments.service import JOURNAL, AttachmentService
from billing.attachments.storage import AttachmentStorage
from billing.auth.principal import system_principal
from billing.db.models import Attachment, Journal
from billing.errors import PayloadTooLarge
from billing.kit.timeutil import utcnow
from billing.reference.demo import DEMO_ACCOUNTS, DEMO_TOKENS

VENDOR = DEMO_ACCOUNTS["vendor"]
JOURNAL_ID = "BJO-2589-1434"
PDF = b"%PDF-1.4\n% a tiny pdf\n"
ATTACHMENT_ID = re.compile(r"^JOA-\d{4}-\d{4}$")


def make_journal(db: Any, journal_id: str = JOURNAL_ID, *, vendor_id: str = VENDOR, status: str = "Draft") -> str:
    now = utcnow()
    with db.session_scope() as session:
        session.add(
            Journal(
                id=journal_id,
                name=f"Journal {journal_id}",
                status=status,
                vendor_id=vendor_id,
                owner_id="SEL-7310-3075",
                product_id="PRD-1111-2222",
                authorization_id="AUT-5305-9928",
                currency="USD",
                due_date=datetime(2025, 7, 1),
                audit={"created": {"at": now, "by": {"id": "TKN-0000-0002", "name": "t", "icon": ""}}},
                created_at=now,
                updated_at=now,
            )
        )
    return journal_id


def set_status(db: Any, journal_id: str, status: str) -> None:
    with db.session_scope() as session:
        session.get(Journal, journal_id).status = status


@pytest.fixture
def journal(db, vendor) -> str:
    return make_journal(db)


def multipart(*parts: tuple[str, str | None, str | None, bytes]) -> tuple[bytes, str]:
    """A raw multipart/form-data body from (name, filename or None, content type or None, content) parts."""
    boundary = "billing-test-boundary-7d93"
    body = b""
    for name, filename, content_type, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type is not None:
            head += f"Content-Type: {content_type}\r\n"
        body += head.encode() + b"\r\n" + content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def upload(
    api: Any,
    headers: dict[str, str],
    journal_id: str = JOURNAL_ID,
    *,
    filename: str | None = "report.pdf",
    content: bytes = PDF,
    content_type: str | None = "application/pdf",
    data: Any = None,
    part: str = "attachment",
    data_filename: str | None = None,
    data_type: str | None = "application/json",
) -> Any:
    parts: list[tuple[str, str | None, str | None, bytes]] = [("file", filename, content_type, content)]
    if data is not None:
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        parts.insert(0, (part, data_filename, data_type, raw))
    body, media = multipart(*parts)
    return api.post(f"/journals/{journal_id}/attachments", content=body, headers={**headers, "Content-Type": media})


def created(api: Any, headers: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    response = upload(api, headers, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def url(attachment: dict[str, Any], journal_id: str = JOURNAL_ID) -> str:
    return f"/journals/{journal_id}/attachments/{attachment['id']}"


def stored_files(settings: Any) -> list[Path]:
    root = settings.storage.attachments_dir
    return sorted(path for path in Path(root).rglob("*") if path.is_file()) if Path(root).exists() else []


def problem(response: Any, status: int, suffix: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"urn:billing:problem:{suffix}", body
    return body


class TestCreate:
    def test_created_with_metadata_references_and_location(self, api, vendor, journal):
        response = upload(api, vendor, data={"name": "June invoice", "description": "from the vendor"})
        assert response.status_code == 201, response.text
        body = response.json()
        assert ATTACHMENT_ID.match(body["id"])
        assert response.headers["location"] == f"/public/v1/billing/journals/{JOURNAL_ID}/attachments/{body['id']}"
        assert body["$meta"] == {"omitted": []}
        assert list(body)[1:] == [
            "id",
            "name",
            "description",
            "type",
            "filename",
            "size",
            "contentType",
            "isDeleted",
            "journal",
            "vendor",
            "audit",
        ]
        assert (body["name"], body["description"], body["type"]) == ("June invoice", "from the vendor", "Attachment")
        assert (body["filename"], body["size"], body["contentType"]) == ("report.pdf", len(PDF), "application/pdf")
        assert body["isDeleted"] is False
        assert body["journal"] == {
            "id": JOURNAL_ID,
            "name": f"Journal {JOURNAL_ID}",
            "dueDate": "2025-07-01T00:00:00.000Z",
        }
        assert body["vendor"]["id"] == VENDOR and body["vendor"]["type"] == "Vendor"
        assert set(body["audit"]) == {"created", "updated"}
        assert body["audit"]["created"]["by"]["id"].startswith("TKN-")
        fetched = api.get(url(body), headers=vendor).json()
        # audit instants read back from the database are rendered by db.types (compared by the audit tests)
        assert {**fetched, "audit": None} == {**body, "audit": None}
        assert fetched["audit"]["created"]["by"] == body["audit"]["created"]["by"]

    @pytest.mark.parametrize("part", ["attachment", "_attachment_data"])
    @pytest.mark.parametrize("data_filename", [None, "blob"])
    @pytest.mark.parametrize("data_type", ["application/json", "text/plain", None])
    def test_json_part_variants_bind_case_insensitively(self, api, vendor, journal, part, data_filename, data_type):
        data = {"NAME": "Named", "Description": "described"}
        body = created(api, vendor, data=data, part=part, data_filename=data_filename, data_type=data_type)
        assert (body["name"], body["description"]) == ("Named", "described")

    def test_httpx_files_and_data_as_an_ordinary_client_sends_them(self, api, vendor, journal):
        response = api.post(
            f"/journals/{JOURNAL_ID}/attachments",
            headers=vendor,
            files={"file": ("scan.png", b"\x89PNG\r\n", "image/png")},
            data={"_attachment_data": json.dumps({"name": "Scan"}), "id": "ignored"},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["name"], body["filename"], body["contentType"]) == ("Scan", "scan.png", "image/png")

    @pytest.mark.parametrize("data", [None, {}, b"", b"  ", {"description": "only"}, {"name": None}])
    def test_name_defaults_to_the_filename(self, api, vendor, journal, data):
        body = created(api, vendor, filename="statement-june.pdf", data=data)
        assert body["name"] == "statement-june.pdf"

    @pytest.mark.parametrize(
        ("filename", "expected"),
        [
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\ana\\report.pdf", "report.pdf"),
            ("Łódź 東京.pdf", "Łódź 東京.pdf"),
            ("tab\there.txt", "tabhere.txt"),
            ("", "file"),
            ("..", "file"),
            (None, "file"),  # a filename-less part named `file`
        ],
    )
    def test_filename_is_sanitised(self, api, vendor, journal, filename, expected):
        body = created(api, vendor, filename=filename, content=b"hello", content_type=None)
        assert (body["filename"], body["name"]) == (expected, expected)

    @pytest.mark.parametrize(
        ("filename", "content_type", "expected"),
        [
            ("report.pdf", "application/pdf", "application/pdf"),
            ("data.csv", "application/octet-stream", "text/csv"),
            ("notes.txt", None, "text/plain"),
            ("scan.PNG", None, "image/png"),
            ("blob.no-such-extension", None, "application/octet-stream"),
            ("noextension", "application/octet-stream", "application/octet-stream"),
            ("x.bin", "text/plain; charset=utf-8", "text/plain; charset=utf-8"),  # the part's own type wins
            ("report.pdf", "not a media type", "application/pdf"),
        ],
    )
    def test_content_type_is_the_parts_or_derived_from_the_extension(
        self, api, vendor, journal, filename, content_type, expected
    ):
        assert created(api, vendor, filename=filename, content_type=content_type)["contentType"] == expected

    def test_sha256_is_recorded_and_identical_content_is_stored_once(self, api, vendor, journal, db, settings):
        content = b"same bytes " * 1000
        first = created(api, vendor, filename="a.txt", content=content, content_type="text/plain")
        second = created(api, vendor, filename="b.txt", content=content, content_type="text/plain")
        created(api, vendor, filename="c.txt", content=b"other bytes", content_type="text/plain")
        digest = hashlib.sha256(content).hexdigest()
        with db.read_scope() as session:
            assert session.get(Attachment, first["id"]).sha256 == digest
            assert session.get(Attachment, second["id"]).sha256 == digest
        files = stored_files(settings)
        root = Path(settings.storage.attachments_dir)
        assert len(files) == 2  # no temporary file left behind
        assert root / digest[:2] / digest in files
        assert (root / digest[:2] / digest).read_bytes() == content

    def test_file_over_the_limit_is_413_and_stores_nothing(self, api, vendor, journal, settings):
        settings.api.max_attachment_bytes = 100
        problem(upload(api, vendor, content=b"x" * 101), 413, "payload-too-large")
        assert created(api, vendor, content=b"x" * 100)["size"] == 100
        assert (
            api.get(f"/journals/{JOURNAL_ID}/attachments", headers=vendor).json()["$meta"]["pagination"]["total"] == 1
        )
        assert len(stored_files(settings)) == 1

    def test_body_far_over_the_limit_is_cut_off_with_413(self, api, vendor, journal, settings):
        settings.api.max_attachment_bytes = 100
        settings.api.max_json_body_bytes = 100
        problem(upload(api, vendor, content=b"x" * 5000), 413, "payload-too-large")
        assert stored_files(settings) == []

    def test_missing_file_part_is_400(self, api, vendor, journal):
        body, media = multipart(("attachment", None, "application/json", b'{"name": "x"}'))
        response = api.post(
            f"/journals/{JOURNAL_ID}/attachments", content=body, headers={**vendor, "Content-Type": media}
        )
        assert problem(response, 400, "validation")["errors"] == {"file": ["The 'file' part is required."]}

    @pytest.mark.parametrize(
        ("data", "path"),
        [
            (b"{not json", "attachment"),
            (b"[1, 2]", "attachment"),
            ({"name": "x" * 256}, "name"),
            ({"description": "x" * 4001}, "description"),
            ({"name": 5}, "name"),
        ],
    )
    def test_invalid_json_part_is_400(self, api, vendor, journal, data, path):
        assert path in problem(upload(api, vendor, data=data), 400, "validation")["errors"]

    def test_non_multipart_request_is_415(self, api, vendor, journal):
        response = api.post(f"/journals/{JOURNAL_ID}/attachments", headers=vendor, json={"name": "x"})
        problem(response, 415, "unsupported-media-type")
        problem(api.post(f"/journals/{JOURNAL_ID}/attachments", headers=vendor), 415, "unsupported-media-type")

    def test_checks_run_in_the_documented_order(self, api, vendor, journal, db, settings):
        # 404 (parent) before 415 (content type)
        response = api.post("/journals/BJO-9999-9999/attachments", headers=vendor, json={})
        problem(response, 404, "not-found")
        # 413 before 400 before 409
        set_status(db, JOURNAL_ID, "Deleted")
        settings.api.max_attachment_bytes = 10
        problem(upload(api, vendor, content=b"x" * 11, data=b"{bad"), 413, "payload-too-large")
        problem(upload(api, vendor, content=b"x", data=b"{bad"), 400, "validation")
        problem(upload(api, vendor, content=b"x"), 409, "invalid-status")

    def test_response_accept_is_checked_before_storing(self, api, vendor, journal, settings):
        response = upload(api, {**vendor, "Accept": "text/html"})
        problem(response, 406, "not-acceptable")
        assert stored_files(settings) == []


class TestGet:
    @pytest.fixture
    def pdf(self, api, vendor, journal) -> dict[str, Any]:
        return created(api, vendor, filename="report.pdf", content=PDF, content_type="application/pdf")

    @pytest.mark.parametrize(
        ("accept", "served"),
        [
            (None, "metadata"),  # rule 1
            ("*/*", "metadata"),  # rule 1
            ("application/pdf", "file"),  # rule 2
            ("Application/PDF; q=0.5", "file"),  # rule 2: case-insensitive, parameters ignored
            ("application/json, application/pdf", "file"),  # rule 2 before rule 3
            ("application/json", "metadata"),  # rule 3
            ("text/html, application/json;q=0.1", "metadata"),  # rule 3
            ("application/octet-stream", "file"),  # rule 4
            ("image/png, application/octet-stream", "file"),  # rule 4
            ("text/html", 406),  # rule 5
            ("application/*", 406),
            ("text/csv", 406),
        ],
    )
    def test_accept_rules(self, api, vendor, pdf, accept, served):
        headers = {**vendor, **({"Accept": accept} if accept is not None else {})}
        response = api.get(url(pdf), headers=headers)
        if served == 406:
            problem(response, 406, "not-acceptable")
        elif served == "file":
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/pdf"
            assert response.content == PDF
        else:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            assert response.json()["id"] == pdf["id"]

    def test_json_attachment_is_downloaded_with_accept_json(self, api, vendor, journal):
        content = b'{"not": "metadata"}'
        attachment = created(api, vendor, filename="data.json", content=content, content_type="application/json")
        download = api.get(url(attachment), headers={**vendor, "Accept": "application/json"})
        assert download.status_code == 200 and download.content == content
        assert download.headers["content-disposition"].startswith("attachment;")
        for headers in (vendor, {**vendor, "Accept": "*/*"}):
            assert api.get(url(attachment), headers=headers).json()["id"] == attachment["id"]

    def test_file_response_headers(self, api, vendor, journal):
        name = "Łódź 東京.txt"
        content = "zażółć\n".encode()
        attachment = created(api, vendor, filename=name, content=content, content_type="text/plain")
        response = api.get(url(attachment), headers={**vendor, "Accept": "text/plain"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain"  # exactly as stored: no charset appended
        assert response.headers["content-length"] == str(len(content))
        assert response.headers["content-disposition"] == (
            f"attachment; filename=\"_odz __.txt\"; filename*=UTF-8''{quote(name, safe='')}"
        )
        assert "%C5%81%C3%B3d%C5%BA%20%E6%9D%B1%E4%BA%AC.txt" in response.headers["content-disposition"]
        assert response.content == content

    def test_quotes_in_the_filename_stay_inside_the_ascii_fallback(self, api, vendor, journal):
        attachment = created(api, vendor, filename='say "hi".txt', content=b"hi", content_type="text/plain")
        response = api.get(url(attachment), headers={**vendor, "Accept": "application/octet-stream"})
        assert response.headers["content-disposition"] == (
            "attachment; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt"
        )

    def test_select_and_case_insensitive_ids(self, api, vendor, pdf):
        item = api.get(
            f"/journals/{JOURNAL_ID.lower()}/attachments/{pdf['id'].lower()}?select=-*,id,name", headers=vendor
        )
        assert item.status_code == 200, item.text
        assert set(item.json()) == {"$meta", "id", "name"}

    def test_unknown_malformed_or_foreign_ids_are_404(self, api, vendor, pdf, db):
        problem(api.get(f"/journals/{JOURNAL_ID}/attachments/JOA-0000-0001", headers=vendor), 404, "not-found")
        problem(api.get(f"/journals/{JOURNAL_ID}/attachments/nope", headers=vendor), 404, "not-found")
        make_journal(db, "BJO-1111-2222")
        problem(api.get(url(pdf, "BJO-1111-2222"), headers=vendor), 404, "not-found")
        problem(api.get(url(pdf, "BJO-3333-4444"), headers=vendor), 404, "not-found")


class TestList:
    def test_lists_live_attachments_with_rql(self, api, vendor, journal, db):
        a = created(api, vendor, filename="b.txt", content=b"1234", content_type="text/plain")
        b = created(api, vendor, filename="a.pdf", content=PDF, content_type="application/pdf")
        gone = created(api, vendor, filename="c.txt", content=b"x", content_type="text/plain")
        assert api.delete(url(gone), headers=vendor).status_code == 204
        make_journal(db, "BJO-1111-2222")
        created(api, vendor, journal_id="BJO-1111-2222")

        listing = api.get(f"/journals/{JOURNAL_ID}/attachments", headers=vendor).json()
        assert listing["$meta"] == {"pagination": {"offset": 0, "limit": 10, "total": 2}, "omitted": ["audit"]}
        assert {item["id"] for item in listing["data"]} == {a["id"], b["id"]}
        assert all("audit" not in item and item["journal"]["id"] == JOURNAL_ID for item in listing["data"])

        def ids(query: str) -> list[str]:
            response = api.get(f"/journals/{JOURNAL_ID}/attachments?{query}", headers=vendor)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["data"]]

        assert ids("order=name") == [b["id"], a["id"]]
        assert ids("order=-filename") == [a["id"], b["id"]]
        assert ids("contentType=text/plain") == [a["id"]]
        assert ids("gt(size,4)") == [b["id"]]
        assert ids("eq(type,attachment)&order=size") == [a["id"], b["id"]]
        assert ids("ilike(filename,*.PDF)") == [b["id"]]
        assert ids(f"ge(audit.created.at,{a['audit']['created']['at']})&order=id") == sorted([a["id"], b["id"]])
        assert ids("eq(type,Input)") == []
        assert api.get(f"/journals/{JOURNAL_ID}/attachments?eq(bogus,1)", headers=vendor).status_code == 400

    def test_jsonl_export(self, api, vendor, journal):
        first = created(api, vendor, filename="a.txt", content=b"a", content_type="text/plain")
        response = api.get(f"/journals/{JOURNAL_ID}/attachments", headers={**vendor, "Accept": "application/jsonl"})
        assert response.status_code == 200, response.text
        assert response.headers["mpt-item-count"] == "1"
        (line,) = response.text.splitlines()
        assert json.loads(line)["id"] == first["id"] and "audit" not in json.loads(line)


class TestUpdate:
    def test_name_and_description_are_writable(self, api, vendor, journal):
        attachment = created(api, vendor)
        response = api.put(
            url(attachment),
            headers=vendor,
            json={"NAME": "Renamed", "description": "New", "type": "Output", "filename": "x.exe", "size": 1},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["name"], body["description"]) == ("Renamed", "New")
        assert (body["type"], body["filename"], body["size"]) == ("Attachment", "report.pdf", len(PDF))
        assert body["audit"]["created"]["by"] == attachment["audit"]["created"]["by"]
        assert body["audit"]["updated"]["at"].endswith("Z")
        cleared = api.put(url(attachment), headers=vendor, json={"description": None}).json()
        assert (cleared["name"], cleared["description"]) == ("Renamed", None)

    @pytest.mark.parametrize("data", [{"name": None}, {"name": "  "}, {"name": "x" * 256}, {"description": 1}])
    def test_invalid_update_is_400(self, api, vendor, journal, data):
        attachment = created(api, vendor)
        problem(api.put(url(attachment), headers=vendor, json=data), 400, "validation")

    def test_non_json_update_is_415(self, api, vendor, journal):
        attachment = created(api, vendor)
        response = api.put(url(attachment), headers={**vendor, "Content-Type": "text/plain"}, content=b"name")
        problem(response, 415, "unsupported-media-type")


class TestDelete:
    def test_deleted_attachment_is_gone(self, api, vendor, journal):
        attachment = created(api, vendor)
        response = api.delete(url(attachment), headers=vendor)
        assert response.status_code == 204 and response.content == b""
        problem(api.get(url(attachment), headers=vendor), 404, "not-found")
        problem(api.put(url(attachment), headers=vendor, json={"name": "x"}), 404, "not-found")
        problem(api.delete(url(attachment), headers=vendor), 404, "not-found")
        assert api.get(f"/journals/{JOURNAL_ID}/attachments", headers=vendor).json()["data"] == []

    def test_input_and_output_attachments_cannot_be_deleted(self, api, vendor, journal, db, settings):
        with db.session_scope() as session:
            service = AttachmentService(session, system_principal(), AttachmentStorage.from_settings(settings))
            ids = [
                service.add_file(
                    JOURNAL,
                    JOURNAL_ID,
                    stream=io.BytesIO(b'{"line": 1}\n'),
                    filename="charges.jsonl",
                    content_type="application/jsonl",
                    type=kind,
                    limit=1000,
                ).id
                for kind in ("Input", "Output")
            ]
        for attachment_id in ids:
            path = f"/journals/{JOURNAL_ID}/attachments/{attachment_id}"
            body = problem(api.delete(path, headers=vendor), 409, "conflict")
            assert "only attachments of type Attachment" in body["detail"]
            assert api.get(path, headers=vendor).status_code == 200


class TestReadOnlyJournal:
    def test_deleted_journal_attachments_are_read_only(self, api, vendor, journal, db):
        attachment = created(api, vendor)
        set_status(db, JOURNAL_ID, "Deleted")
        body = problem(upload(api, vendor), 409, "invalid-status")
        assert body["detail"] == f"Journal {JOURNAL_ID} is in status Deleted; its attachments are read-only."
        problem(api.put(url(attachment), headers=vendor, json={"name": "x"}), 409, "invalid-status")
        problem(api.delete(url(attachment), headers=vendor), 409, "invalid-status")
        assert api.get(url(attachment), headers=vendor).json()["name"] == "report.pdf"
        assert (
            api.get(f"/journals/{JOURNAL_ID}/attachments", headers=vendor).json()["$meta"]["pagination"]["total"] == 1
        )

    @pytest.mark.parametrize("status", ["Review", "Completed", "Validating"])
    def test_other_statuses_keep_attachments_writable(self, api, vendor, journal, db, status):
        set_status(db, JOURNAL_ID, status)
        attachment = created(api, vendor)
        assert api.delete(url(attachment), headers=vendor).status_code == 204


class TestRolesAndScope:
    def test_operations_read_but_never_write(self, api, vendor, ops, journal):
        attachment = created(api, vendor)
        assert api.get(f"/journals/{JOURNAL_ID}/attachments", headers=ops).json()["data"][0]["id"] == attachment["id"]
        assert api.get(url(attachment), headers={**ops, "Accept": "application/pdf"}).content == PDF
        problem(upload(api, ops), 403, "forbidden")
        problem(api.put(url(attachment), headers=ops, json={"name": "x"}), 403, "forbidden")
        problem(api.delete(url(attachment), headers=ops), 403, "forbidden")

    def test_client_may_not_touch_journal_attachments(self, api, vendor, client, journal):
        attachment = created(api, vendor)
        problem(api.get(f"/journals/{JOURNAL_ID}/attachments", headers=client), 403, "forbidden")
        problem(api.get(url(attachment), headers=client), 403, "forbidden")
        problem(upload(api, client), 403, "forbidden")

    def test_another_vendor_sees_nothing(self, api, vendor, journal):
        attachment = created(api, vendor)
        vendor2 = {"Authorization": f"Bearer {DEMO_TOKENS['vendor2']}"}
        problem(api.get(f"/journals/{JOURNAL_ID}/attachments", headers=vendor2), 404, "not-found")
        problem(api.get(url(attachment), headers=vendor2), 404, "not-found")
        problem(api.get(url(attachment), headers={**vendor2, "Accept": "application/pdf"}), 404, "not-found")
        problem(upload(api, vendor2), 404, "not-found")
        problem(api.put(url(attachment), headers=vendor2, json={"name": "x"}), 404, "not-found")
        problem(api.delete(url(attachment), headers=vendor2), 404, "not-found")
        assert api.get(url(attachment), headers=vendor).json()["name"] == "report.pdf"

    def test_unknown_journal_is_404(self, api, vendor, ops):
        for headers in (vendor, ops):
            problem(api.get("/journals/BJO-9999-9999/attachments", headers=headers), 404, "not-found")


class TestServiceAndStorage:
    def test_add_file_stores_an_input_attachment(self, db, settings, journal):
        storage = AttachmentStorage.from_settings(settings)
        with db.session_scope() as session:
            service = AttachmentService(session, system_principal(), storage)
            attachment = service.add_file(
                JOURNAL,
                JOURNAL_ID,
                stream=io.BytesIO(b"line\n"),
                filename="uploads/charges.jsonl",
                content_type="application/octet-stream",
                type="Input",
                limit=100,
            )
            assert ATTACHMENT_ID.match(attachment.id)
            assert (attachment.name, attachment.filename, attachment.type) == (
                "charges.jsonl",
                "charges.jsonl",
                "Input",
            )
            assert attachment.audit["created"]["by"]["name"] == "System"
            with service.open_file(attachment) as handle:
                assert handle.read() == b"line\n"
            with pytest.raises(ValueError):
                service.add_file(
                    JOURNAL, JOURNAL_ID, stream=io.BytesIO(b""), filename="x", content_type="", type="Other", limit=1
                )

    def test_store_streams_in_chunks_and_refuses_past_the_limit(self, tmp_path):
        storage = AttachmentStorage(tmp_path / "store")
        content = bytes(range(256)) * 10_000  # 2.5 MB: several chunks
        sha256, size, path = storage.store(io.BytesIO(content), limit=len(content))
        assert (sha256, size) == (hashlib.sha256(content).hexdigest(), len(content))
        assert path == tmp_path / "store" / sha256[:2] / sha256 and path.read_bytes() == content
        assert storage.store(io.BytesIO(content), limit=len(content))[2] == path
        with pytest.raises(PayloadTooLarge):
            storage.store(io.BytesIO(content), limit=len(content) - 1)
        assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == [path]
        with pytest.raises(ValueError):
            storage.path("../../etc/passwd")

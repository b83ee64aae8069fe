"""The HTTP surface (§2.2): routes, WSDL by GET, the service list, the hardened parser, SOAPAction, and the
same behaviour over a real socket (serve_in_thread), including resets and hangs after the commit."""

from __future__ import annotations

import time

import pytest
import requests
import zeep
from lxml import etree
from zeep.transports import Transport

from billing.erp.pages import WSDL_NS
from billing.erp_sim.app import ErpSimulator
from billing.erp_sim.soap import SOAP_ENV

from .sim_kit import fault_of, settings_for, soap_post

BASE = "http://erp-sim.test/BC/WS/CRONUS"
ZEEP = zeep.Settings(strict=True, forbid_external=True, xml_huge_tree=False)


def raw(session: requests.Session, body: bytes, action: str = "urn:microsoft-dynamics-schemas/page/customer:Read"):  # type: ignore[no-untyped-def]
    return session.post(
        f"{BASE}/Page/Customer",
        data=body,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'},
    )


class TestRoutes:
    def test_wsdl_by_get_bound_to_the_requested_address(self, session) -> None:  # type: ignore[no-untyped-def]
        response = session.get(f"{BASE}/Page/salesinvoice")  # service names are case-insensitive in URLs
        assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/xml")
        tree = etree.fromstring(response.content)
        assert tree.tag == f"{{{WSDL_NS}}}definitions"
        address = tree.xpath("//*[local-name()='address']/@location")
        assert address == [f"{BASE}/Page/SalesInvoice"]

    def test_services_listing(self, session) -> None:  # type: ignore[no-untyped-def]
        response = session.get(f"{BASE}/services")
        refs = etree.fromstring(response.content).xpath("//*[local-name()='contractRef']/@ref")
        assert refs == [
            f"{BASE}/Page/{name}"
            for name in (
                "SalesInvoice",
                "SalesCreditMemo",
                "PostedSalesInvoice",
                "PostedSalesCreditMemo",
                "CustomerLedgerEntries",
                "Customer",
            )
        ]

    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [
            ("GET", "/BC/WS/CRONUS/Page/Nope", 404),
            ("GET", "/OTHER/WS/CRONUS/Page/Customer", 404),
            ("GET", "/BC/WS/OTHER/Page/Customer", 404),
            ("GET", "/", 404),
            ("PUT", "/BC/WS/CRONUS/Page/Customer", 405),
        ],
    )
    def test_not_found_and_not_allowed(self, session, method, path, status) -> None:  # type: ignore[no-untyped-def]
        assert session.request(method, f"http://erp-sim.test{path}").status_code == status

    def test_unknown_company_is_a_nav_fault(self, session) -> None:  # type: ignore[no-untyped-def]
        response = session.post(
            "http://erp-sim.test/BC/WS/Other%20Co/Page/Customer",
            data=b"<x/>",
            headers={"SOAPAction": '"urn:microsoft-dynamics-schemas/page/customer:Read"'},
        )
        assert response.status_code == 500
        assert fault_of(response) == (
            "a:Microsoft.Dynamics.Nav.Types.Exceptions.NavCompanyNotFoundException",
            'The company "Other Co" does not exist.',
        )

    def test_company_names_are_url_encoded(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        sim = ErpSimulator(settings_for(tmp_path / "co.sqlite", company="CRONUS US"))
        try:
            assert sim.base_url() == "http://erp-sim.test/BC/WS/CRONUS%20US"
            client = zeep.Client(
                f"{sim.base_url()}/Page/Customer", transport=Transport(session=sim.session()), settings=ZEEP
            )
            assert client.service.Read(No="X") is None
        finally:
            sim.close()


class TestHardenedParser:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b"", "no body"),
            (b"not xml", "not well-formed"),
            (b"<a><b></a>", "not well-formed"),
            (f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Header/></s:Envelope>'.encode(), "exactly one Body"),
            (f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body/></s:Envelope>'.encode(), "exactly one operation"),
            (b'<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Body/></Envelope>', "not a SOAP 1.1"),
            (
                f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><Read xmlns="urn:other"/></s:Body></s:Envelope>'.encode(),
                "namespace",
            ),
        ],
    )
    def test_malformed_requests_are_client_faults(self, session, body: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
        response = raw(session, body)
        code, text = fault_of(response)
        assert response.status_code == 500 and code == "s:Client" and message in text

    def test_entity_expansion_is_refused(self, session) -> None:  # type: ignore[no-untyped-def]
        laughs = (
            '<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY l0 "ha">'
            + "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
            + f']><s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><Read xmlns="urn:microsoft-dynamics-schemas/page/customer">'
            "<No>&l9;</No></Read></s:Body></s:Envelope>"
        )
        started = time.monotonic()
        response = raw(session, laughs.encode())
        assert time.monotonic() - started < 2
        code, text = fault_of(response)
        assert (response.status_code, code) == (500, "s:Client") and b"hahaha" not in response.content
        assert "DOCTYPE" in text or "amplification" in text
        one_entity = (
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "ha">]>'
            f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><Read xmlns="urn:microsoft-dynamics-schemas/page/customer">'
            "<No>&e;</No></Read></s:Body></s:Envelope>"
        )
        assert fault_of(raw(session, one_entity.encode())) == (
            "s:Client",
            "A DOCTYPE is not allowed in a SOAP message.",
        )

    def test_external_entities_are_not_fetched(self, session, tmp_path) -> None:  # type: ignore[no-untyped-def]
        secret = tmp_path / "secret.txt"
        secret.write_text("TOP-SECRET")
        body = (
            f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file://{secret}">]>'
            f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><Read xmlns="urn:microsoft-dynamics-schemas/page/customer">'
            "<No>&e;</No></Read></s:Body></s:Envelope>"
        )
        response = raw(session, body.encode())
        assert b"TOP-SECRET" not in response.content
        assert fault_of(response)[0] == "s:Client"

    def test_huge_trees_are_refused(self, session) -> None:  # type: ignore[no-untyped-def]
        deep = "<a>" * 5000 + "</a>" * 5000
        body = (
            f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><Read xmlns="urn:microsoft-dynamics-schemas/page/customer">'
            f"<No>{deep}</No></Read></s:Body></s:Envelope>"
        )
        response = raw(session, body.encode())
        code, text = fault_of(response)
        assert (code, response.status_code) == ("s:Client", 500) and "not well-formed" in text

    def test_oversized_requests_are_413(self, session, admin) -> None:  # type: ignore[no-untyped-def]
        admin("PATCH", "limits", json={"max_request_bytes": 2048})
        response = soap_post(session, "Customer", "Read", "<No>" + "X" * 4096 + "</No>")
        assert response.status_code == 413


class TestSoapAction:
    def test_a_mismatching_soap_action_is_a_client_fault(self, session) -> None:  # type: ignore[no-untyped-def]
        response = soap_post(
            session, "Customer", "Read", "<No>C-DE</No>", action="urn:microsoft-dynamics-schemas/page/customer:Delete"
        )
        assert response.status_code == 500
        code, text = fault_of(response)
        assert code == "s:Client" and "does not match the operation Read" in text

    def test_a_missing_soap_action_is_a_client_fault(self, session) -> None:  # type: ignore[no-untyped-def]
        response = soap_post(session, "Customer", "Read", "<No>C-DE</No>", action="")
        assert fault_of(response)[0] == "s:Client"

    def test_unknown_operations_and_fields_are_client_faults(self, session) -> None:  # type: ignore[no-untyped-def]
        assert fault_of(soap_post(session, "Customer", "Explode", ""))[0] == "s:Client"
        response = soap_post(session, "Customer", "Create", "<Customer><No>N</No><Nope>1</Nope></Customer>")
        assert fault_of(response) == ("s:Client", "The element Nope is not a field of Customer.")
        response = soap_post(
            session, "Customer", "Create", "<Customer><No>N</No><Blocked>Sometimes</Blocked></Customer>"
        )
        assert fault_of(response)[0] == "s:Client" and "Blocked" in fault_of(response)[1]


def test_the_in_process_adapter_opens_no_socket(sim, erp, session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket

    def refuse(*args: object) -> None:
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    created = erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"})
    assert erp("SalesInvoice").Read(No=created.No).Key == created.Key
    assert session.get(f"{BASE}/services").status_code == 200


def test_an_internal_error_is_a_server_fault_and_rolls_back(sim, session, admin, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from billing.erp_sim.documents import SalesDocuments

    def broken(self, ctx, document, existing, changes):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(SalesDocuments, "_finish", broken)
    response = soap_post(
        session,
        "SalesInvoice",
        "Create",
        "<SalesInvoice><Sell_to_Customer_No>C-DE</Sell_to_Customer_No></SalesInvoice>",
    )
    assert response.status_code == 500
    assert fault_of(response) == ("s:Server", "Internal error: disk on fire")
    assert admin("GET", "documents")["documents"] == []
    assert admin("GET", "requests", params={"limit": 1})["requests"][0]["fault_code"] == "Server"


class TestRealSocket:
    @pytest.fixture
    def served(self, tmp_path):  # type: ignore[no-untyped-def]
        sim = ErpSimulator(settings_for(tmp_path / "socket.sqlite"))
        sim.put_customers([{"No": "C-DE", "Name": "Contoso", "Country_Region_Code": "DE"}])
        server = sim.serve_in_thread(port=0)
        yield sim, server
        server.stop()
        sim.close()

    def test_zeep_over_http_with_keep_alive(self, served) -> None:  # type: ignore[no-untyped-def]
        _, server = served
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/BC/WS/CRONUS")
        session = requests.Session()
        client = zeep.Client(
            f"{server.base_url}/Page/SalesInvoice", transport=Transport(session=session), settings=ZEEP
        )
        created = client.service.Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"})
        assert created.No == "SI-000001" and created.Bill_to_Name == "Contoso"
        assert client.service.Read(No="SI-000001").Key == created.Key
        assert session.get(f"{server.root_url}/_sim/stats").json()["documents"]["SalesInvoice"] == 1

    def test_reset_after_commit_resets_the_socket(self, served) -> None:  # type: ignore[no-untyped-def]
        _, server = served
        requests.patch(f"{server.root_url}/_sim/faults", json={"reset_after_commit": 1}, timeout=5)
        client = zeep.Client(f"{server.base_url}/Page/SalesInvoice", settings=ZEEP)
        with pytest.raises(requests.ConnectionError):
            client.service.Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"})
        assert len(requests.get(f"{server.root_url}/_sim/documents", timeout=5).json()["documents"]) == 1

    def test_timeout_after_commit_hangs_then_drops(self, served) -> None:  # type: ignore[no-untyped-def]
        sim, server = served
        requests.patch(f"{server.root_url}/_sim/faults", json={"timeout_after_commit": 1, "hang_s": 0.5}, timeout=5)
        body = (
            f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><Create xmlns="urn:microsoft-dynamics-schemas/page/salesinvoice">'
            "<SalesInvoice><Sell_to_Customer_No>C-DE</Sell_to_Customer_No></SalesInvoice></Create></s:Body></s:Envelope>"
        )
        headers = {"SOAPAction": '"urn:microsoft-dynamics-schemas/page/salesinvoice:Create"'}
        url = f"{server.base_url}/Page/SalesInvoice"
        with pytest.raises(requests.ReadTimeout):
            requests.post(url, data=body, headers=headers, timeout=(2, 0.2))
        started = time.monotonic()
        with pytest.raises(requests.ConnectionError):
            requests.post(url, data=body, headers=headers, timeout=(2, 5))
        assert 0.4 <= time.monotonic() - started < 4
        documents = requests.get(f"{server.root_url}/_sim/documents", timeout=5).json()["documents"]
        assert [d["No"] for d in documents] == ["SI-000001", "SI-000002"]
        assert sim.limiter.stats()["in_flight"] == 0  # a hanging request freed its slot at commit

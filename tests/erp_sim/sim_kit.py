"""Helpers of the ERP simulator tests: settings, master data, hand-written SOAP requests, a two-line invoice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from lxml import etree

from billing.erp.pages import soap_action
from billing.erp_sim.app import ErpSimulator
from billing.erp_sim.settings import ErpSimSettings
from billing.erp_sim.soap import SOAP_ENV

START = "2025-05-01T00:00:00Z"
CUSTOMERS = [
    {"No": "C-DE", "Name": "Contoso GmbH", "Address": "Hauptstr. 1", "City": "Berlin", "Post_Code": "10115",
     "Country_Region_Code": "DE", "Contact": "Anna", "Primary_Contact_No": "CT-1", "Phone_No": "+49 30 1",
     "E_Mail": "billing@contoso.example", "Payment_Terms_Code": "30DAYS", "Payment_Method_Code": "BANK"},
    {"No": "C-US", "Name": "Fabrikam Inc", "City": "Springfield", "Country_Region_Code": "US",
     "Payment_Terms_Code": "COD", "Currency_Code": "USD"},
    {"No": "C-AR", "Name": "Tailspin SA", "City": "Buenos Aires", "Country_Region_Code": "AR"},
    {"No": "C-BLOCKED", "Name": "Blocked Ltd", "Blocked": "Invoice"},
    {"No": "C-SHIP", "Name": "Ship-blocked Ltd", "Blocked": "Ship", "Country_Region_Code": "GB"},
]  # fmt: skip
ITEMS = [
    {"No": "SKU-1", "Description": "Standard seat", "Unit_Price": "12.5", "Base_Unit_of_Measure": "PCS"},
    {"No": "SKU-2", "Description": "Premium seat", "Unit_Price": "30"},
    {"No": "SKU-OLD", "Description": "Retired", "Blocked": True},
]


def settings_for(path: Path, **overrides: Any) -> ErpSimSettings:
    data: dict[str, Any] = {"db": path, "clock": {"rate": 0, "start": START}, "payments": {"share_paid": 0}}
    data.update(overrides)
    return ErpSimSettings.model_validate(data)


def seed(sim: ErpSimulator) -> None:
    sim.put_customers(CUSTOMERS)
    sim.put_items(ITEMS)


def soap_post(
    session: requests.Session, service: str, operation: str, inner: str, *, action: str | None = None, **headers: str
) -> requests.Response:
    """A hand-written SOAP request (for what zeep would never send)."""
    namespace = f"urn:microsoft-dynamics-schemas/page/{service.lower()}"
    body = (
        f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Body><{operation} xmlns="{namespace}">{inner}</{operation}>'
        "</s:Body></s:Envelope>"
    )
    return session.post(
        f"http://erp-sim.test/BC/WS/CRONUS/Page/{service}",
        data=body.encode(),
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{action if action is not None else soap_action(service, operation)}"',
            **headers,
        },
    )


def fault_of(response: requests.Response) -> tuple[str, str]:
    """(faultcode text, faultstring) of a SOAP fault answer."""
    tree = etree.fromstring(response.content)
    return tree.findtext(".//faultcode"), tree.findtext(".//faultstring")


def invoice_with_lines(
    erp: Callable[[str], Any], customer: str = "C-DE", external: str = "SOM-1", **header: Any
) -> Any:
    """Create a sales invoice and add two lines (SKU-1 × 3 at its item price, G/L line 9.99)."""
    created = erp("SalesInvoice").Create(
        SalesInvoice={"Sell_to_Customer_No": customer, "External_Document_No": external, **header}
    )
    lines = [
        {"Line_No": 10000, "Type": "Item", "No": "SKU-1", "Quantity": 3},
        {"Line_No": 20000, "Type": "G_L_Account", "No": "6110", "Description": "Fee", "Quantity": 1,
         "Unit_Price": "9.99"},
    ]  # fmt: skip
    return erp("SalesInvoice").Update(SalesInvoice={"Key": created.Key, "SalesLines": {"Sales_Invoice_Line": lines}})

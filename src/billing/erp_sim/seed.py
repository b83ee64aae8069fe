"""Master data for the simulator from a reference-data document (``billing.reference.demo.build_demo_dataset()``
or an import file): one ERP customer per ``erpCustomers[].customerNo`` of buyers and licensees, one item per
``items[].externalIds.operations`` (the number the service writes on lines, §1.7).

Customers get the buyer's or licensee's name, address and contact, payment terms ``30DAYS`` and a made-up VAT
registration number; without an address country, the seller company's country (``erp.countryCode``) is used.
The Bill-to country decides the VAT rate (§2.3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from billing.erp_sim.app import ErpSimulator


def customers_from_reference(dataset: dict[str, Any], payment_terms: str = "30DAYS") -> list[dict[str, Any]]:
    """Customer records (Customer page field names) for every ERP customer number the dataset names."""
    seller_country = {
        seller["id"]: (seller.get("erp") or {}).get("countryCode") or (seller.get("address") or {}).get("country", "")
        for seller in dataset.get("sellers", [])
    }
    records: dict[str, dict[str, Any]] = {}
    for party in [*dataset.get("buyers", []), *dataset.get("licensees", [])]:
        address = party.get("address") or {}
        contact = party.get("contact") or {}
        for link in party.get("erpCustomers") or []:
            number = str(link["customerNo"]).upper()
            country = address.get("country") or seller_country.get(link.get("seller"), "")
            records[number] = {
                "No": number,
                "Name": party["name"][:100],
                "Address": (address.get("addressLine1") or "")[:100],
                "Address_2": (address.get("addressLine2") or "")[:50],
                "City": (address.get("city") or "")[:30],
                "Post_Code": (address.get("postCode") or "")[:20],
                "County": (address.get("state") or address.get("county") or "")[:30],
                "Country_Region_Code": country[:10],
                "Contact": (contact.get("name") or "")[:100],
                "Primary_Contact_No": (link.get("contactNo") or "")[:20],
                "Phone_No": (contact.get("phone") or "")[:30],
                "E_Mail": (contact.get("email") or "")[:80],
                "Payment_Terms_Code": payment_terms,
                "VAT_Registration_No": f"{country}{sum(map(ord, number)) * 7919 % 10**9:09d}"[:20],
            }
    return list(records.values())


def items_from_reference(dataset: dict[str, Any]) -> list[dict[str, Any]]:
    """Item records for every item with an operations (ERP) number."""
    records: dict[str, dict[str, Any]] = {}
    for item in dataset.get("items", []):
        number = ((item.get("externalIds") or {}).get("operations") or "").upper()
        if number:
            records[number[:20]] = {"No": number[:20], "Description": item.get("name", "")[:100]}
    return list(records.values())


def seed_from_reference(simulator: ErpSimulator, dataset: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Create or update the dataset's customers and items in the simulator; counts per kind."""
    return {
        "customers": simulator.put_customers(customers_from_reference(dataset)),
        "items": simulator.put_items(items_from_reference(dataset)),
    }

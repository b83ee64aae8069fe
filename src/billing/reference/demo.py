"""A deterministic demo reference set (import format) for `billing demo`, development and benchmarks.

`build_demo_dataset` returns the same document for the same arguments (everything random comes from
``random.Random(seed)``), and the document passes ``validate_import(..., {}, "replace")`` at any scale.
The token holders have fixed ids (`DEMO_ACCOUNTS`) and fixed secrets (`DEMO_TOKENS`) so that scripts and
documentation can call the API without reading the data set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from billing.reference.entities import ENTITIES

#: Bearer secrets of the demo api-tokens, by role key.
DEMO_TOKENS: dict[str, str] = {
    "operations": "demo-operations-token",
    "vendor": "demo-vendor-token",
    "client": "demo-client-token",
    "vendor2": "demo-vendor2-token",
    "client2": "demo-client2-token",
}
#: The account each demo token acts as.
DEMO_ACCOUNTS: dict[str, str] = {
    "operations": "ACC-0000-0001",
    "vendor": "ACC-3102-8586",
    "client": "ACC-8119-0187",
    "vendor2": "ACC-3102-8590",
    "client2": "ACC-8119-0203",
}
_SECOND_OPERATIONS = "ACC-0000-0002"
_DISABLED_TOKEN_SECRET = "demo-revoked-token"

#: Seller countries in order: (country, currency, name). Sellers beyond the list reuse it with a suffix.
_COUNTRIES = (
    ("US", "USD", "United States"),
    ("DE", "EUR", "Germany"),
    ("AR", "ARS", "Argentina"),
    ("GB", "GBP", "United Kingdom"),
    ("FR", "EUR", "France"),
    ("ES", "EUR", "Spain"),
    ("IT", "EUR", "Italy"),
    ("NL", "EUR", "Netherlands"),
    ("CA", "CAD", "Canada"),
    ("AU", "AUD", "Australia"),
    ("BR", "BRL", "Brazil"),
    ("MX", "MXN", "Mexico"),
    ("JP", "JPY", "Japan"),
    ("IN", "INR", "India"),
    ("SE", "SEK", "Sweden"),
    ("CH", "CHF", "Switzerland"),
    ("PL", "PLN", "Poland"),
    ("DK", "DKK", "Denmark"),
    ("NO", "NOK", "Norway"),
    ("ZA", "ZAR", "South Africa"),
)
#: Vendor role key → (name, products as (name, ERP code)).
_VENDORS = (
    ("vendor", "Vendor Co", (("Cloud Suite", "CS01"), ("Backup Pro", "BP02"))),
    ("vendor2", "Northwind Software", (("Secure Mail", "SM03"), ("Dev Platform", "DP04"))),
)
_ITEMS = (("Standard seat", "STD"), ("Premium seat", "PRM"), ("Storage 100 GB", "STO"))
_CLIENT_NAMES = (
    "Contoso",
    "Fabrikam",
    "Northwind Traders",
    "Adventure Works",
    "Tailspin Toys",
    "Wide World Importers",
    "Litware",
    "Proseware",
    "Woodgrove Bank",
    "Coho Winery",
    "Alpine Ski House",
    "Blue Yonder Airlines",
)
_MARKUPS = (None, None, Decimal("10"), Decimal("12.5"), Decimal("15"))
_PRICE_MARKUPS = (None, None, None, Decimal("5"), Decimal("8.5"))


@dataclass
class _Seller:
    id: str
    code: str  # externalId, also the customer-number prefix
    currency: str


@dataclass
class _Product:
    id: str
    vendor: str
    name: str
    items: list[str] = field(default_factory=list)


@dataclass
class _Client:
    id: str
    name: str
    buyer: str
    licensee: str


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.used: set[str] = set(DEMO_ACCOUNTS.values()) | {_SECOND_OPERATIONS}
        self.doc: dict[str, list[dict[str, Any]]] = {}
        self.customer_no = 100000

    def draw(self, prefix: str, groups: int) -> str:
        """A fresh random id (never all zeros) from the seeded generator."""
        while True:
            digits = f"{self.rng.randrange(1, 10 ** (4 * groups)):0{4 * groups}d}"
            candidate = "-".join([prefix, *(digits[i : i + 4] for i in range(0, 4 * groups, 4))])
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate

    def add(self, entity: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.doc.setdefault(entity, []).append(obj)
        return obj

    def account(self, account_id: str, account_type: str, name: str) -> None:
        self.add("accounts", {"id": account_id, "type": account_type, "name": name})

    def sellers(self, count: int) -> list[_Seller]:
        sellers = []
        for index in range(count):
            country, currency, country_name = _COUNTRIES[index % len(_COUNTRIES)]
            round_ = index // len(_COUNTRIES)
            code = country if round_ == 0 else f"{country}{round_ + 1}"
            name = f"Marketplace Operator {country_name}" + (f" {round_ + 1}" if round_ else "")
            seller = _Seller(self.draw("SEL", 2), code, currency)
            self.add(
                "sellers",
                {
                    "id": seller.id,
                    "name": name,
                    "externalId": code,
                    "address": {"country": country},
                    "currencies": [currency],
                    "erpLink": {"id": f"ERP-{code}", "name": f"{name} (NAV {code})", "status": "Active"},
                    "erp": {"company": f"CRONUS {code}", "countryCode": country},
                },
            )
            sellers.append(seller)
        return sellers

    def products(self) -> list[_Product]:
        products = []
        for role, vendor_name, catalogue in _VENDORS:
            self.account(DEMO_ACCOUNTS[role], "Vendor", vendor_name)
            for name, code in catalogue:
                product = _Product(self.draw("PRD", 2), DEMO_ACCOUNTS[role], name)
                self.add(
                    "products",
                    {
                        "id": product.id,
                        "name": name,
                        "vendor": product.vendor,
                        "status": "Published",
                        "externalIds": {"operations": code},
                    },
                )
                for ordinal, (item_name, sku) in enumerate(_ITEMS, start=1):
                    item_id = f"ITM-{product.id[4:]}-{ordinal:04d}"
                    product.items.append(item_id)
                    self.add(
                        "items",
                        {
                            "id": item_id,
                            "name": item_name,
                            "product": product.id,
                            "externalIds": {
                                "vendor": f"SKU-{sku}-{ordinal:02d}",
                                "operations": f"{code}.{ordinal:05d}.MP",
                            },
                        },
                    )
                products.append(product)
        return products

    def erp_customers(self, sellers: list[_Seller], *, with_contact: bool) -> list[dict[str, Any]]:
        """One ERP customer number per seller, e.g. ``US-SCU-100064``."""
        self.customer_no += 1
        entries = []
        for seller in sellers:
            entry = {"seller": seller.id, "customerNo": f"{seller.code}-SCU-{self.customer_no}"}
            if with_contact:
                entry["contactNo"] = f"{seller.code}-CT-{self.customer_no}"
            entries.append(entry)
        return entries

    def client(self, account_id: str, index: int, sellers: list[_Seller]) -> _Client:
        base = _CLIENT_NAMES[index % len(_CLIENT_NAMES)]
        name = base if index < len(_CLIENT_NAMES) else f"{base} {index // len(_CLIENT_NAMES) + 1}"
        client = _Client(account_id, name, self.draw("BUY", 2), self.draw("LCE", 3))
        self.account(account_id, "Client", name)
        address = {
            "addressLine1": f"{100 + index} Main Street",
            "city": "Springfield",
            "postCode": f"{10000 + index}",
            "country": self.rng.choice(_COUNTRIES[:3])[0],
        }
        contact = {"name": f"{name} Billing", "email": f"billing@client{index + 1}.example", "phone": None}
        self.add(
            "buyers",
            {
                "id": client.buyer,
                "name": f"{name} Ltd",
                "client": account_id,
                "address": address,
                "contact": contact,
                "erpCustomers": self.erp_customers(sellers, with_contact=index % 2 == 0),
            },
        )
        self.add(
            "licensees",
            {
                "id": client.licensee,
                "name": f"{name} Operations",
                "client": account_id,
                "buyer": client.buyer,
                "externalId": f"LIC-{index + 1:05d}",
                "address": address,
                "erpCustomers": self.erp_customers(sellers, with_contact=False),
            },
        )
        return client

    def agreement(self, client: _Client, seller: _Seller, product: _Product, number: int) -> dict[str, Any]:
        agreement = self.add(
            "agreements",
            {
                "id": self.draw("AGR", 3),
                "name": f"{client.name} {product.name} ({seller.code})",
                "client": client.id,
                "buyer": client.buyer,
                "seller": seller.id,
                "product": product.id,
                "vendor": product.vendor,
                "licensee": client.licensee,
                "currency": seller.currency,
                "defaultMarkup": self.rng.choice(_MARKUPS),
                "externalIds": {"vendor": f"VA-{number:06d}", "operations": f"CON-{number:06d}"},
            },
        )
        self.add(
            "subscriptions",
            {
                "id": self.draw("SUB", 3),
                "name": f"{product.name} seats",
                "agreement": agreement["id"],
                "items": sorted(self.rng.sample(product.items, self.rng.randint(1, 2))),
                "price": {"markup": self.rng.choice(_PRICE_MARKUPS)},
                "externalIds": {"vendor": f"tenant-{number}-seats"},
            },
        )
        if number % 10 == 1:
            self.add(
                "assets",
                {
                    "id": self.draw("AST", 3),
                    "name": f"{product.name} appliance",
                    "agreement": agreement["id"],
                    "items": [product.items[-1]],
                    "price": {"markup": None if number % 20 == 1 else Decimal("3")},
                    "externalIds": {"vendor": f"appliance-{number}"},
                },
            )
        return agreement

    def authorizations(self, products: list[_Product], sellers: list[_Seller]) -> None:
        """One per (product, owner seller), in the seller's currency."""
        for product in products:
            for seller in sellers:
                self.add(
                    "authorizations",
                    {
                        "id": self.draw("AUT", 2),
                        "name": f"{product.name} {seller.code}",
                        "vendor": product.vendor,
                        "product": product.id,
                        "owner": seller.id,
                        "currency": seller.currency,
                    },
                )

    def agreements(
        self, clients: list[_Client], sellers: list[_Seller], products: list[_Product], per_client: int
    ) -> None:
        """Agreements spread over sellers and products; the first two clients' first ones share a split."""
        number = 0
        firsts = []
        for client in clients:
            for position in range(per_client):
                number += 1
                # Every client's first agreement is on the first product and seller, so any two can split.
                seller = sellers[0] if position == 0 else self.rng.choice(sellers)
                product = products[0] if position == 0 else self.rng.choice(products)
                agreement = self.agreement(client, seller, product, number)
                if position == 0:
                    firsts.append(agreement)
        payer, partner = firsts[0], firsts[1]
        payer["split"] = [
            {"agreement": payer["id"], "percentage": Decimal("60")},
            {"agreement": partner["id"], "percentage": Decimal("40")},
        ]

    def pricing_policies(self, first: _Client, second: _Client, product: _Product) -> None:
        """One naming a product, one for all products, one with a margin only."""
        for name, client, product_ids, pricing in (
            (f"{first.name} {product.name}", first, [product.id], {"markup": Decimal("8")}),
            (f"{first.name} default", first, [], {"markup": Decimal("10")}),
            (f"{second.name} margin", second, [], {"margin": Decimal("20")}),
        ):
            self.add(
                "pricing-policies",
                {
                    "id": self.draw("PRP", 2),
                    "name": name,
                    "client": client.id,
                    "products": product_ids,
                    **pricing,
                },
            )

    def tokens(self) -> None:
        for ordinal, role in enumerate(DEMO_TOKENS, start=1):
            self.add(
                "api-tokens",
                {
                    "id": f"TKN-0000-{ordinal:04d}",
                    "name": f"demo {role}",
                    "account": DEMO_ACCOUNTS[role],
                    "secret": DEMO_TOKENS[role],
                },
            )
        self.add(
            "api-tokens",
            {
                "id": f"TKN-0000-{len(DEMO_TOKENS) + 1:04d}",
                "name": "demo revoked",
                "account": DEMO_ACCOUNTS["operations"],
                "secret": _DISABLED_TOKEN_SECRET,
                "status": "Disabled",
            },
        )


def build_demo_dataset(
    *, sellers: int = 3, clients: int = 4, agreements_per_client: int = 3, seed: int = 20250601
) -> dict[str, Any]:
    """An import document: operations, two vendors with products and items, sellers in several countries,
    clients with buyers and licensees (a customer number for every seller), authorizations, agreements with
    subscriptions and a few assets, one split agreement, pricing policies and the demo api-tokens.
    """
    if sellers < 2 or clients < 2 or agreements_per_client < 1:
        raise ValueError("the demo needs at least 2 sellers, 2 clients and 1 agreement per client")
    builder = _Builder(seed)
    builder.account(DEMO_ACCOUNTS["operations"], "Operations", "Marketplace Operations")
    builder.account(_SECOND_OPERATIONS, "Operations", "Marketplace Finance")
    for name, account in (
        ("Olivia Operator", DEMO_ACCOUNTS["operations"]),
        ("Frank Finance", _SECOND_OPERATIONS),
    ):
        builder.add("users", {"id": builder.draw("USR", 2), "name": name, "account": account})
    seller_list = builder.sellers(sellers)
    products = builder.products()
    builder.authorizations(products, seller_list)
    client_ids = [DEMO_ACCOUNTS["client"], DEMO_ACCOUNTS["client2"]]
    client_ids += [builder.draw("ACC", 2) for _ in range(clients - 2)]
    client_list = [builder.client(account_id, index, seller_list) for index, account_id in enumerate(client_ids)]
    builder.agreements(client_list, seller_list, products, agreements_per_client)
    builder.pricing_policies(client_list[0], client_list[1], products[0])
    builder.tokens()
    return {entity: builder.doc[entity] for entity in ENTITIES if entity in builder.doc}

"""The capability matrix (billing-api.md §2.2–2.3), declared once, as data.

Every route of the API is registered from a row of this table (`api.routing.add`), so a route cannot exist
without its roles; `tests/auth/test_capability_matrix.py` walks every row × every role. ``resource`` names
the scoping rule of `SCOPES` (§2.4) applied to the object the route addresses (or to its parent).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from billing.auth.principal import Role

C, V, O = Role.CLIENT, Role.VENDOR, Role.OPERATIONS


class Scope(StrEnum):
    """What a role sees of a resource: everything, only objects linked to its own account, or nothing."""

    ALL = "all"
    OWN_VENDOR = "own-vendor"  # vendor.id = caller's account
    OWN_CLIENT = "own-client"  # client.id = caller's account


#: §2.4 — resource → role → scope. A role missing for a resource sees nothing (its capabilities are ❌).
SCOPES: dict[str, dict[Role, Scope]] = {
    "journal": {V: Scope.OWN_VENDOR, O: Scope.ALL},
    "ledger": {O: Scope.ALL},
    "custom_ledger": {O: Scope.ALL},
    "override": {O: Scope.ALL},
    "statement": {C: Scope.OWN_CLIENT, O: Scope.ALL},
    "invoice": {C: Scope.OWN_CLIENT, O: Scope.ALL},
    "credit_memo": {C: Scope.OWN_CLIENT, O: Scope.ALL},
    "reference": {O: Scope.ALL},
    "report": {O: Scope.ALL},
}


@dataclass(frozen=True)
class Capability:
    name: str
    method: str
    path: str  # relative to /public/v1/billing
    roles: frozenset[Role]
    resource: str
    aliases: tuple[str, ...] = ()

    def allows(self, role: Role) -> bool:
        return role in self.roles

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.path, *self.aliases)


def _cap(name: str, method: str, path: str, roles: set[Role], resource: str, *aliases: str) -> Capability:
    return Capability(name, method, path, frozenset(roles), resource, tuple(aliases))


def _attachments(prefix: str, param: str, resource: str, read: set[Role], write: set[Role]) -> list[Capability]:
    base = f"/{prefix}/{{{param}}}/attachments"
    one = f"{base}/{{attachmentId}}"
    key = resource.replace("_", "-")
    return [
        _cap(f"{key}.attachments.list", "GET", base, read, resource),
        _cap(f"{key}.attachments.get", "GET", one, read, resource),
        _cap(f"{key}.attachments.create", "POST", base, write, resource),
        _cap(f"{key}.attachments.update", "PUT", one, write, resource),
        _cap(f"{key}.attachments.delete", "DELETE", one, write, resource),
    ]


def _charges(prefix: str, param: str, resource: str, roles: set[Role]) -> list[Capability]:
    base = f"/{prefix}/{{{param}}}/charges"
    key = resource.replace("_", "-")
    return [
        _cap(f"{key}.charges.list", "GET", base, roles, resource),  # JSON, text/csv and JSONL by Accept
        _cap(f"{key}.charges.get", "GET", f"{base}/{{chargeId}}", roles, resource),
    ]


def _documents(prefix: str, param: str, resource: str) -> list[Capability]:
    """Invoices and credit memos share one shape (§5.5, §5.6)."""
    one = f"/{prefix}/{{{param}}}"
    key = resource.replace("_", "-")
    return [
        _cap(f"{key}.list", "GET", f"/{prefix}", {C, O}, resource),
        _cap(f"{key}.get", "GET", one, {C, O}, resource),
        _cap(f"{key}.create", "POST", f"/{prefix}", {O}, resource),
        _cap(f"{key}.update", "PUT", one, {C, O} if resource == "invoice" else {O}, resource),
        _cap(f"{key}.lines.list", "GET", f"{one}/lines", {C, O}, resource),
        _cap(f"{key}.lines.get", "GET", f"{one}/lines/{{lineId}}", {C, O}, resource),
        *_attachments(prefix, param, resource, read={C, O}, write={O}),
    ]


J = "/journals/{journalId}"
L = "/ledgers/{ledgerId}"
CL = "/custom-ledgers/{customLedgerId}"
S = "/statements/{statementId}"
MO = "/manual-overrides"

CAPABILITIES: tuple[Capability, ...] = (
    # Journals (§2.2 "Journal", "Journal charges", "Journal attachments"; §2.3)
    _cap("journal.list", "GET", "/journals", {V, O}, "journal"),
    _cap("journal.get", "GET", J, {V, O}, "journal"),
    _cap("journal.create", "POST", "/journals", {V}, "journal"),
    _cap("journal.delete", "DELETE", J, {V}, "journal"),
    _cap("journal.update", "PUT", J, {V, O}, "journal"),
    _cap("journal.upload", "POST", f"{J}/upload", {V}, "journal"),
    _cap("journal.submit", "POST", f"{J}/submit", {V}, "journal"),
    _cap("journal.regenerate", "POST", f"{J}/regenerate", {O}, "journal"),
    _cap("journal.enquiry", "POST", f"{J}/enquiry", {O}, "journal", f"{J}/inquire"),
    _cap("journal.accept", "POST", f"{J}/accept", {O}, "journal"),
    _cap("journal.complete", "POST", f"{J}/complete", {O}, "journal"),
    _cap("journal.sellers.list", "GET", f"{J}/sellers", {V, O}, "journal"),
    _cap("journal.sellers.get", "GET", f"{J}/sellers/{{sellerId}}", {V, O}, "journal"),
    *_charges("journals", "journalId", "journal", {V, O}),
    *_attachments("journals", "journalId", "journal", read={V, O}, write={V}),
    # Ledgers (POST /ledgers has no row: the path exists for GET only, so it answers 405 to everyone)
    _cap("ledger.list", "GET", "/ledgers", {O}, "ledger"),
    _cap("ledger.get", "GET", L, {O}, "ledger"),
    _cap("ledger.update", "PUT", L, {O}, "ledger"),
    _cap("ledger.recalculate", "POST", f"{L}/recalculate", {O}, "ledger", f"{L}/regenerate"),
    _cap("ledger.accept", "POST", f"{L}/accept", {O}, "ledger"),
    _cap("ledger.queue", "POST", f"{L}/queue", {O}, "ledger"),
    *_charges("ledgers", "ledgerId", "ledger", {O}),
    *_attachments("ledgers", "ledgerId", "ledger", read={O}, write={O}),
    # Custom ledgers
    _cap("custom-ledger.list", "GET", "/custom-ledgers", {O}, "custom_ledger"),
    _cap("custom-ledger.get", "GET", CL, {O}, "custom_ledger"),
    _cap("custom-ledger.create", "POST", "/custom-ledgers", {O}, "custom_ledger"),
    _cap("custom-ledger.update", "PUT", CL, {O}, "custom_ledger"),
    _cap("custom-ledger.delete", "DELETE", CL, {O}, "custom_ledger"),
    _cap("custom-ledger.upload", "POST", f"{CL}/upload", {O}, "custom_ledger"),
    _cap("custom-ledger.accept", "POST", f"{CL}/accept", {O}, "custom_ledger", f"{CL}/submit"),
    _cap("custom-ledger.queue", "POST", f"{CL}/queue", {O}, "custom_ledger"),
    *_charges("custom-ledgers", "customLedgerId", "custom_ledger", {O}),
    *_attachments("custom-ledgers", "customLedgerId", "custom_ledger", read={O}, write={O}),
    # Statements
    _cap("statement.list", "GET", "/statements", {C, O}, "statement"),
    _cap("statement.get", "GET", S, {C, O}, "statement"),
    _cap("statement.update", "PUT", S, {O}, "statement"),
    _cap("statement.queue", "POST", f"{S}/queue", {O}, "statement"),
    _cap("statement.pending", "POST", f"{S}/pending", {O}, "statement"),
    _cap("statement.issue", "POST", f"{S}/issue", {O}, "statement"),
    _cap("statement.error", "POST", f"{S}/error", {O}, "statement"),
    _cap("statement.retry", "POST", f"{S}/retry", {O}, "statement"),
    _cap("statement.cancel", "POST", f"{S}/cancel", {O}, "statement"),
    _cap("statement.recalculate", "POST", f"{S}/recalculate", {O}, "statement", f"{S}/regenerate"),
    _cap("statement.erp-attempts", "GET", f"{S}/erp-attempts", {O}, "statement"),
    *_charges("statements", "statementId", "statement", {C, O}),
    *_attachments("statements", "statementId", "statement", read={C, O}, write={O}),
    # Invoices and credit memos
    *_documents("invoices", "invoiceId", "invoice"),
    *_documents("credit-memos", "creditMemoId", "credit_memo"),
    # Manual overrides (alias collection /overrides)
    _cap("override.list", "GET", MO, {O}, "override", "/overrides"),
    _cap("override.get", "GET", f"{MO}/{{overrideId}}", {O}, "override", "/overrides/{overrideId}"),
    _cap("override.create", "POST", MO, {O}, "override", "/overrides"),
    _cap("override.update", "PUT", f"{MO}/{{overrideId}}", {O}, "override", "/overrides/{overrideId}"),
    _cap(
        "override.disable",
        "POST",
        f"{MO}/{{overrideId}}/disable",
        {O},
        "override",
        "/overrides/{overrideId}/disable",
    ),
    _cap(
        "override.enable",
        "POST",
        f"{MO}/{{overrideId}}/enable",
        {O},
        "override",
        "/overrides/{overrideId}/enable",
    ),
    # Reference data (service extension, §11)
    _cap("reference.import", "POST", "/reference/import", {O}, "reference"),
    _cap("reference.export", "GET", "/reference/export", {O}, "reference"),
    _cap("reference.list", "GET", "/reference/{entity}", {O}, "reference"),
    _cap("reference.create", "POST", "/reference/{entity}", {O}, "reference"),
    _cap("reference.get", "GET", "/reference/{entity}/{referenceId}", {O}, "reference"),
    _cap("reference.update", "PUT", "/reference/{entity}/{referenceId}", {O}, "reference"),
    _cap("reference.delete", "DELETE", "/reference/{entity}/{referenceId}", {O}, "reference"),
    # Reports (service extension): statements against posted ERP documents
    _cap("report.reconciliation", "GET", "/reports/reconciliation", {O}, "report"),
)

BY_NAME: dict[str, Capability] = {cap.name: cap for cap in CAPABILITIES}

#: Routes that need no authentication (§2.1, §2.3).
PUBLIC_PATHS: frozenset[str] = frozenset({"/openapi.json", "/health"})


def capability(name: str) -> Capability:
    return BY_NAME[name]


def scope_for(resource: str, role: Role) -> Scope | None:
    return SCOPES.get(resource, {}).get(role)

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    CLIENT = "Client"
    VENDOR = "Vendor"
    OPERATIONS = "Operations"


#: Background work (validation, rating, ERP synchronisation) is audited as this actor (billing-api.md §2.1).
SYSTEM_ACTOR: dict[str, str] = {"id": "USR-0000-0000", "name": "System", "icon": ""}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: an account acting in the role of its type."""

    account_id: str
    role: Role
    actor: dict[str, Any] = field(default_factory=dict)

    @property
    def is_operations(self) -> bool:
        return self.role is Role.OPERATIONS


def system_principal(account_id: str = "ACC-0000-0000") -> Principal:
    return Principal(account_id=account_id, role=Role.OPERATIONS, actor=dict(SYSTEM_ACTOR))

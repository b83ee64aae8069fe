from __future__ import annotations

from billing.errors import ValidationFailed

#: Journal processing errors (billing-api.md §6.2), stored on the journal as ``error``.
CHARGES_FAILED = "BJO:0001"
FILE_UNREADABLE = "BJO:0002"
VALIDATION_STOPPED = "BJO:0003"
RATING_FAILED = "BJO:0004"


def billing_error(code: str, message: str) -> dict[str, str]:
    return {"id": code, "message": message}


class NoCharges(ValidationFailed):
    def __init__(self) -> None:
        super().__init__({"file": ["The file contains no charges."]})

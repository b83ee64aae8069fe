from __future__ import annotations

from billing.errors import AppError, Conflict, InvalidStatus


class ParentReadOnly(InvalidStatus):
    """The parent's status freezes its attachments (a `Deleted` journal or custom ledger, §5.11)."""

    def __init__(self, label: str, parent_id: str, status: str | None) -> None:
        message = f"{label} {parent_id} is in status {status}; its attachments are read-only."
        AppError.__init__(self, message, errors={"status": [message]})  # InvalidStatus's text needs an action


class AttachmentNotDeletable(Conflict):
    def __init__(self, attachment_id: str, attachment_type: str) -> None:
        super().__init__(
            f"Attachment {attachment_id} is of type {attachment_type}; only attachments of type Attachment "
            "can be deleted.",
            path="type",
        )

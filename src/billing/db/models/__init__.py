"""Table models, one file per table. Importing this package registers every table on `Base.metadata`."""

from billing.db.models.attachment import Attachment
from billing.db.models.base import Base
from billing.db.models.charge import Charge
from billing.db.models.credit_memo import CreditMemo, CreditMemoLine
from billing.db.models.custom_ledger import CustomLedger
from billing.db.models.daemon_replica import DaemonReplica
from billing.db.models.document_output import (
    DeliveryTarget,
    DocumentDelivery,
    DocumentDeliveryAttempt,
    DocumentOutput,
    DocumentTask,
)
from billing.db.models.erp_attempt import ErpAttempt
from billing.db.models.erp_balance import ErpBalance
from billing.db.models.erp_control import ErpControl
from billing.db.models.erp_cursor import ErpCursor
from billing.db.models.erp_outbox import ErpOutbox
from billing.db.models.invoice import Invoice, InvoiceLine
from billing.db.models.job_lease import JobLease
from billing.db.models.journal import Journal
from billing.db.models.journal_number import JournalNumber
from billing.db.models.ledger import Ledger
from billing.db.models.manual_override import ManualOverride
from billing.db.models.rated_agreement import RatedAgreement
from billing.db.models.reference import ReferenceLink, ReferenceObject
from billing.db.models.statement import Statement
from billing.db.models.work_item import WorkItem

__all__ = [
    "Attachment",
    "Base",
    "Charge",
    "CreditMemo",
    "CreditMemoLine",
    "CustomLedger",
    "DaemonReplica",
    "DeliveryTarget",
    "DocumentDelivery",
    "DocumentDeliveryAttempt",
    "DocumentOutput",
    "DocumentTask",
    "ErpAttempt",
    "ErpBalance",
    "ErpControl",
    "ErpCursor",
    "ErpOutbox",
    "Invoice",
    "InvoiceLine",
    "JobLease",
    "Journal",
    "JournalNumber",
    "Ledger",
    "ManualOverride",
    "RatedAgreement",
    "ReferenceLink",
    "ReferenceObject",
    "Statement",
    "WorkItem",
]

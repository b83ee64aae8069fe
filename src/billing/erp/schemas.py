"""The ERP attempt log as the API shows it (``GET /statements/{id}/erp-attempts``, erp-integration.md §3.6)."""

from __future__ import annotations

from typing import Any

from billing.api.views import ResourceView
from billing.db.models import ErpAttempt

ATTEMPT_VIEW = ResourceView(
    fields=(
        "id",
        "statement",
        "claimNo",
        "seq",
        "replica",
        "correlationId",
        "operation",
        "startedAt",
        "durationMs",
        "httpStatus",
        "outcome",
        "faultCode",
        "faultMessage",
        "requestExcerpt",
        "responseExcerpt",
    ),
    non_core=frozenset({"requestExcerpt", "responseExcerpt"}),
    label="ERP attempt",
)


def render_attempt(attempt: ErpAttempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "statement": {"id": attempt.statement_id},
        "claimNo": attempt.claim_no,
        "seq": attempt.seq,
        "replica": attempt.replica,
        "correlationId": attempt.correlation_id,
        "operation": attempt.operation,
        "startedAt": attempt.started_at,
        "durationMs": attempt.duration_ms,
        "httpStatus": attempt.http_status,
        "outcome": attempt.outcome,
        "faultCode": attempt.fault_code,
        "faultMessage": attempt.fault_message,
        "requestExcerpt": attempt.request_excerpt,
        "responseExcerpt": attempt.response_excerpt,
    }

"""ERP failures, sorted at the boundary (erp-integration.md §1.4, §3.4).

::

    ErpError
    ├── ErpRetryableError      try again later; ``certain_not_applied`` says whether the ERP surely did nothing,
    │                          ``retry_after`` keeps the ERP's hint, ``throttled`` (429) is not counted as a failure
    ├── ErpRejectedError       permanent: the ERP refused the request (validation, unknown customer/item, malformed)
    ├── ErpResyncError         the record vanished or already exists: look the document up again
    ├── ErpAuthError           credentials refused: pause the queue
    └── ErpConfigError         wrong URL, service or company: pause the queue

`classify_fault` maps a NAV fault (code and message) to one of them; the transports map HTTP and connection
failures with the table of §3.4.
"""

from __future__ import annotations

#: Billing error ids of statements failed by the ERP push (§3.5).
ERP_VALIDATION = "ERP:0001"
ERP_CUSTOMER = "ERP:0002"
ERP_RETRIES_EXHAUSTED = "ERP:0003"
ERP_DIVERGED = "ERP:0004"
ERP_DUPLICATE = "ERP:0005"
ERP_MAPPING = "ERP:0006"

_PERMANENT_FAULTS = frozenset(
    {
        "NavNCLDialogException",
        "NavTestFieldException",
        "NavCSideValidateTableRelationException",
        "NavNCLStringLengthExceededException",
        "NavNCLEvaluateException",
        "NavNCLCallbackNotAllowedException",
        "NavFilterException",
        "Client",
    }
)
_RESYNC_FAULTS = frozenset({"NavCSideRecordNotFoundException", "NavCSideDuplicateKeyException"})
_AUTH_FAULTS = frozenset({"NavInvalidCredentialException"})
_CONFIG_FAULTS = frozenset({"NavCompanyNotFoundException"})
_STALE = ("Other user has modified", "Another user has")
_LOCKED = ("locked by another user", "deadlock", "being updated in a transaction")
_CUSTOMER_WORDS = ("Customer", "customer")


class ErpError(Exception):
    """Base of every ERP failure; ``fault_code`` and ``http_status`` are kept for the attempt log."""

    def __init__(self, message: str, *, fault_code: str | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fault_code = fault_code
        self.http_status = http_status


class ErpRetryableError(ErpError):
    def __init__(
        self,
        message: str,
        *,
        certain_not_applied: bool,
        retry_after: float | None = None,
        throttled: bool = False,
        fault_code: str | None = None,
        http_status: int | None = None,
    ) -> None:
        super().__init__(message, fault_code=fault_code, http_status=http_status)
        self.certain_not_applied = certain_not_applied
        self.retry_after = retry_after
        self.throttled = throttled

    @property
    def outcome(self) -> str:
        """The attempt-log outcome (§3.6)."""
        if self.throttled:
            return "throttled"
        return "retryable" if self.certain_not_applied else "uncertain"


class ErpRejectedError(ErpError):
    """Permanent: the statement goes to Error with ``error_id`` (ERP:0001 validation, ERP:0002 customer)."""

    @property
    def error_id(self) -> str:
        customer = any(word in self.message for word in _CUSTOMER_WORDS) and (
            "cannot be found" in self.message or "Blocked" in self.message or "blocked" in self.message
        )
        return ERP_CUSTOMER if customer else ERP_VALIDATION


class ErpResyncError(ErpError):
    """Record not found / duplicate key: the document must be looked up again before the next step."""


class ErpAuthError(ErpError):
    pass


class ErpConfigError(ErpError):
    pass


def fault_name(code: str | None) -> str:
    """``a:Microsoft.Dynamics.Nav.Types.Exceptions.NavTestFieldException`` → ``NavTestFieldException``;
    ``s:Client`` → ``Client``."""
    text = (code or "").rsplit(":", 1)[-1]
    return text.rsplit(".", 1)[-1]


def classify_fault(code: str | None, message: str, http_status: int | None = 500) -> ErpError:
    """The error class of a SOAP fault (§1.4): by the fault type, then by words of the message."""
    name = fault_name(code)
    if any(marker in message for marker in (*_STALE, *_LOCKED)):
        return ErpRetryableError(message, certain_not_applied=True, fault_code=code, http_status=http_status)
    kinds: tuple[tuple[frozenset[str], type[ErpError]], ...] = (
        (_AUTH_FAULTS, ErpAuthError),
        (_CONFIG_FAULTS, ErpConfigError),
        (_RESYNC_FAULTS, ErpResyncError),
        (_PERMANENT_FAULTS, ErpRejectedError),
    )
    for names, kind in kinds:
        if name in names:
            return kind(message, fault_code=code, http_status=http_status)
    # other NavCSideException, NavTenantNotAccessibleException and anything unknown: ERP infrastructure
    return ErpRetryableError(message, certain_not_applied=True, fault_code=code, http_status=http_status)


def classify_http(status: int, message: str, retry_after: float | None = None) -> ErpError:
    """An HTTP answer without a SOAP fault (§3.4)."""
    if status == 429:
        return ErpRetryableError(
            message, certain_not_applied=True, retry_after=retry_after, throttled=True, http_status=status
        )
    if status == 503:
        return ErpRetryableError(message, certain_not_applied=True, retry_after=retry_after, http_status=status)
    if status in (401, 403):
        return ErpAuthError(message, http_status=status)
    if status in (404, 405):
        return ErpConfigError(message, http_status=status)
    if status == 413:
        return ErpRejectedError(message, http_status=status)
    # 500 without a fault, 502, 504, 408 and the rest: the request may have been applied
    return ErpRetryableError(message, certain_not_applied=False, retry_after=retry_after, http_status=status)

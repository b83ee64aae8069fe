"""``[erp]`` settings (erp-integration.md §5.6); every default is also written in config/default.toml."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr


class ErpServices(BaseModel):
    """Page service names by role (§1.5); customer-published page copies just get other names."""

    sales_invoice: str = "SalesInvoice"
    sales_credit_memo: str = "SalesCreditMemo"
    posted_sales_invoice: str = "PostedSalesInvoice"
    posted_sales_credit_memo: str = "PostedSalesCreditMemo"
    customer_ledger_entries: str = "CustomerLedgerEntries"
    customer: str = "Customer"


class ErpAuth(BaseModel):
    mode: Literal["none", "basic", "ntlm", "oauth2"] = "none"
    user: str | None = None
    password: SecretStr | None = None  # environment only: BILLING_ERP__AUTH__PASSWORD
    allow_insecure_http: bool = False
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None  # environment only
    scope: str = "https://api.businesscentral.dynamics.com/.default"


class ErpTimeouts(BaseModel):
    connect_s: float = 5.0
    operation_s: float = 60.0


class InCallRetry(BaseModel):
    max_tries: int = 3
    budget_s: float = 20.0
    wait_multiplier_s: float = 0.5  # random exponential waits: U(0, min(wait_max_s, multiplier × 2^n))
    wait_max_s: float = 5.0


class Backoff(BaseModel):
    base_s: float = 30.0
    cap_s: float = 1800.0
    max_failures: int = 10


class PushSettings(BaseModel):
    lease_s: float = 600.0
    uncertain_settle_s: float = 480.0
    detailed_max_charges: int = 100
    max_lines_per_update: int = 500
    line_type: str = "Item"
    your_reference: str = "{statement_id}"
    document_date: Literal["queued", "none"] = "queued"
    batch: int = 50  # rows claimed per tick at most (never more than the free slots)
    in_call: InCallRetry = InCallRetry()
    backoff: Backoff = Backoff()


class PullSettings(BaseModel):
    """Pull of posted documents and ledger entries (§4)."""

    page_size: int = Field(default=500, ge=1, le=5000)
    #: SystemModifiedAt (time window with overlap) or Row_Version (only where the ERP assigns versions in commit
    #: order, as the simulator does: each run reads versions above the watermark, no overlap needed)
    watermark_field: Literal["SystemModifiedAt", "Row_Version"] = "SystemModifiedAt"
    overlap_s: float = 300.0  # each run re-reads this far behind the watermark (clock skew, late commits)
    settle_s: float = 10.0  # and stops this far behind the database's now
    start_from: datetime = datetime(2000, 1, 1)  # the first run's lower bound (UTC)
    import_unlinked: bool = False  # import documents that link to no statement (Operations-only, Manual)
    customer_cache_ttl_s: float = 3600.0  # licenseTo addresses come from Customer records, cached this long
    open_refresh_interval_s: float = 3600.0  # erp.refresh_open re-reads the entries of unpaid invoices
    #: an Issued statement without a posted document this long after it was queued is reported (§4.5):
    #: the billing_erp_issued_unlinked gauge, `billing erp status`, the reconciliation report
    unposted_alert_days: float = Field(default=7.0, ge=0)

    @property
    def unposted_alert(self) -> timedelta:
        return timedelta(days=self.unposted_alert_days)


class BreakerSettings(BaseModel):
    """The per-process circuit breaker (§3.5)."""

    open_after: int = 5  # consecutive connect/timeout/reset/5xx/429 failures
    cool_down_s: float = 15.0  # then one claimed row probes; doubles on each failed probe …
    max_cool_down_s: float = 120.0  # … up to this


class ErpLog(BaseModel):
    retention_days: int = 90
    redact_fields: list[str] = Field(default_factory=lambda: ["*_E_Mail", "*_Phone_No"])


class ErpSettings(BaseModel):
    enabled: bool = True
    base_url: str = "http://127.0.0.1:7047/BC/WS/CRONUS"
    wsdl_dir: Path | None = None  # vendored WSDLs (billing erp fetch-wsdl); else the shipped ones
    local_currency: str = "USD"
    country_code: str = "US"
    max_in_flight: int = 5
    rate_limit_per_minute: int = 600
    pause_probe_s: float = 60.0
    field_map: dict[str, str] = Field(default_factory=dict)
    services: ErpServices = ErpServices()
    auth: ErpAuth = ErpAuth()
    timeouts: ErpTimeouts = ErpTimeouts()
    push: PushSettings = PushSettings()
    pull: PullSettings = PullSettings()
    breaker: BreakerSettings = BreakerSettings()
    log: ErpLog = ErpLog()

"""``[erp_sim]`` settings (erp-integration.md §2); every default is also written in config/default.toml.

The run-time knob sections (`KNOB_SECTIONS`: faults, limits, posting, payments, validation) can be changed
while the simulator runs through ``PATCH /_sim/{section}`` (a JSON merge patch over the configured values,
kept in the state file). Fault knobs may be scoped with ``faults.ops."{Service}.{Operation}"`` (``*``
wildcards); the most specific scope wins per knob.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

KNOB_SECTIONS = ("faults", "limits", "posting", "payments", "validation")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Latency(_Section):
    """Processing delay, spent inside the in-flight slot."""

    dist: Literal["fixed", "uniform", "lognormal"] = "fixed"
    median_ms: float = Field(default=0.0, ge=0)
    p99_ms: float = Field(default=0.0, ge=0)


class FaultKnobs(_Section):
    """Probabilities per request (0–1) and their parameters."""

    latency: Latency = Latency()
    http_500: float = Field(default=0.0, ge=0, le=1)
    http_503: float = Field(default=0.0, ge=0, le=1)
    http_429: float = Field(default=0.0, ge=0, le=1)
    retry_after_s: int = Field(default=1, ge=0)  # Retry-After of injected 503/429
    reset_before: float = Field(default=0.0, ge=0, le=1)
    soap_validation: float = Field(default=0.0, ge=0, le=1)
    soap_locked: float = Field(default=0.0, ge=0, le=1)
    soap_deadlock: float = Field(default=0.0, ge=0, le=1)
    soap_conflict: float = Field(default=0.0, ge=0, le=1)
    reset_after_commit: float = Field(default=0.0, ge=0, le=1)
    timeout_after_commit: float = Field(default=0.0, ge=0, le=1)
    hang_s: float = Field(default=30.0, ge=0)  # silence after a timeout_after_commit, then the connection drops


class FaultSettings(FaultKnobs):
    seed: int = 0  # of the fault and latency RNG
    reject_credentials: bool = False  # 401 to every request (expired credentials)
    ops: dict[str, dict[str, object]] = Field(default_factory=dict)  # "{Service}.{Operation}" → knob overrides

    @model_validator(mode="after")
    def _scoped_knobs_are_knobs(self) -> FaultSettings:
        for scope, knobs in self.ops.items():
            if scope.count(".") != 1:
                raise ValueError(f"faults.ops scope {scope!r} must be '{{Service}}.{{Operation}}' (* allowed)")
            FaultKnobs.model_validate({**self.model_dump(include=set(FaultKnobs.model_fields)), **knobs})
        return self


class Limits(_Section):
    max_in_flight: int = Field(default=5, ge=1)  # requests processed at once
    queue: int = Field(default=0, ge=0)  # requests waiting for a slot (BC online: 95); beyond both → 429
    rate_per_minute: int = Field(default=0, ge=0)  # 0 = off (BC production: 600)
    retry_after_s: int = Field(default=1, ge=0)  # Retry-After of a limit 429
    max_request_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)  # larger bodies → 413


class Posting(_Section):
    enabled: bool = True
    interval_s: float = Field(default=5.0, gt=0)  # real seconds between posting runs of a serving simulator
    delay_s: float = Field(default=60.0, ge=0)  # simulated seconds a document stays unchanged before it is posted
    failure_probability: float = Field(default=0.0, ge=0, le=1)  # the document stays unposted this run


class Payments(_Section):
    share_paid: float = Field(default=0.9, ge=0, le=1)  # posted invoices that get paid
    days_to_pay: tuple[float, float] = (0.0, 45.0)  # uniform, simulated days after posting
    partial_share: float = Field(default=0.2, ge=0, le=1)  # paid in two instalments

    @model_validator(mode="after")
    def _ordered(self) -> Payments:
        if not 0 <= self.days_to_pay[0] <= self.days_to_pay[1]:
            raise ValueError("payments.days_to_pay must be [min, max] with 0 <= min <= max")
        return self


class Validation(_Section):
    require_known_items: bool = False  # an unknown item on a line is a table-relation fault
    unique_external_document_no: bool = False  # a second document with the same External_Document_No is refused


class Vat(_Section):
    default: Decimal = Decimal(20)
    rates: dict[str, Decimal] = Field(
        default_factory=lambda: {"DE": Decimal(19), "AR": Decimal(21), "US": Decimal(0), "GB": Decimal(20)}
    )


class NumberSeries(_Section):
    sales_invoice: str = "SI-"
    sales_credit_memo: str = "SCM-"
    posted_sales_invoice: str = "PSI-"
    posted_sales_credit_memo: str = "PSCM-"
    payment: str = "PAY-"
    digits: int = Field(default=6, ge=1, le=12)

    def number(self, prefix: str, n: int) -> str:
        """Number ``n`` of the series ``prefix`` as a document number, e.g. ``PSI-000042``."""
        return f"{prefix}{n:0{self.digits}d}"


class Clock(_Section):
    rate: float = Field(default=1.0, ge=0)  # simulated seconds per real second (demo: 86400; 0 = frozen)
    start: datetime | None = None  # simulated time when the state file is first used (default: real now)


class SimAuth(_Section):
    mode: Literal["none", "basic", "bearer"] = "none"
    user: str = "erp"
    password: SecretStr | None = None  # environment only: BILLING_ERP_SIM__AUTH__PASSWORD
    token: SecretStr | None = None  # environment only: BILLING_ERP_SIM__AUTH__TOKEN
    admin_token: SecretStr | None = None  # bearer token for /_sim/ (environment only); none = open

    @model_validator(mode="after")
    def _secret_for_the_mode(self) -> SimAuth:
        if self.mode == "basic" and self.password is None:
            raise ValueError("erp_sim.auth.mode = basic needs BILLING_ERP_SIM__AUTH__PASSWORD")
        if self.mode == "bearer" and self.token is None:
            raise ValueError("erp_sim.auth.mode = bearer needs BILLING_ERP_SIM__AUTH__TOKEN")
        return self


class ErpSimSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 7047
    db: Path = Path("erp-sim.sqlite")
    instance: str = "BC"
    company: str = "CRONUS"
    request_log_max_rows: int = Field(default=100_000, ge=100)
    payment_terms: dict[str, int] = Field(
        default_factory=lambda: {"COD": 0, "7DAYS": 7, "14DAYS": 14, "30DAYS": 30, "60DAYS": 60}
    )
    currency_factors: dict[str, Decimal] = Field(
        default_factory=lambda: {"EUR": Decimal("0.92"), "GBP": Decimal("0.79"), "ARS": Decimal("870")}
    )  # units of the currency per unit of the local currency; an unlisted currency gets 1
    limits: Limits = Limits()
    faults: FaultSettings = FaultSettings()
    posting: Posting = Posting()
    payments: Payments = Payments()
    vat: Vat = Vat()
    validation: Validation = Validation()
    number_series: NumberSeries = NumberSeries()
    clock: Clock = Clock()
    auth: SimAuth = SimAuth()

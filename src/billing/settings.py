"""Settings: ``config/default.toml`` → the TOML file named by ``BILLING_CONFIG`` → ``BILLING_*`` environment.

Nested settings use ``__`` in the environment (``BILLING_AUTH__JWT_SECRET``). Secrets are read from the
environment only: a TOML file that sets one is refused, and production refuses the development JWT secret.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from billing.erp.settings import ErpSettings
from billing.erp_sim.settings import ErpSimSettings

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: In a source checkout next to src/; in an installed image, under the working directory.
DEFAULT_CONFIG = next(
    (
        path
        for path in (PROJECT_ROOT / "config" / "default.toml", Path("config/default.toml").resolve())
        if path.is_file()
    ),
    PROJECT_ROOT / "config" / "default.toml",
)
#: Used when BILLING_AUTH__JWT_SECRET is unset; refused when BILLING_ENV=production.
DEVELOPMENT_JWT_SECRET = "billing-development-secret-change-me-0123456789"
SECRET_PATHS = (
    ("auth", "jwt_secret"),
    ("erp", "auth", "password"),
    ("erp", "auth", "client_secret"),
    *(("erp_sim", "auth", key) for key in ("password", "token", "admin_token")),
)


class ConfigurationError(RuntimeError):
    """The configuration is unusable; the process refuses to start."""


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_json_body_bytes: int = 1024 * 1024
    max_charge_file_bytes: int = 100 * 1024 * 1024
    max_attachment_bytes: int = 50 * 1024 * 1024
    export_max_records: int = 1_000_000


class AuthSettings(BaseModel):
    jwt_secret: SecretStr = SecretStr(DEVELOPMENT_JWT_SECRET)
    jwt_algorithms: list[str] = ["HS256"]
    jwt_public_key_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    leeway_s: int = 30


class StorageSettings(BaseModel):
    attachments_dir: Path = Path("./var/attachments")


class WorkerSettings(BaseModel):
    """The in-process worker of ``billing serve`` (the daemon runs the same handlers on its schedule)."""

    enabled: bool = True
    poll_s: float = 1.0
    lease_s: int = 300
    batch_size: int = 5000
    max_attempts: int = 3
    retry_backoff_s: float = 5.0  # a failed attempt is retried after this, doubling per attempt
    rating_connections: int = Field(default=2, ge=1)  # PostgreSQL: journal ranges rated at once (SQLite: 1)


class DaemonSettings(BaseModel):
    """``billing daemon`` (erp-integration.md §5): job intervals, the health/metrics port, shutdown grace."""

    http_host: str = "127.0.0.1"
    http_port: int | None = 9464  # /healthz /readyz /status /metrics; 0 = any free port, unset = none
    heartbeat_s: float = 10.0
    push_interval_s: float = 2.0
    reap_interval_s: float = 30.0
    housekeeping_interval_s: float = 3600.0
    pull_interval_s: float = 60.0  # erp.pull.invoices, erp.pull.credit_memos, erp.pull.ledger
    mark_overdue_interval_s: float = 300.0  # invoices.mark_overdue
    shutdown_grace_s: float = 20.0


class DeliveryTargetSettings(BaseModel):
    """Where finance receives documents: an SMTP mailbox or a drop folder. The SMTP password is read from the
    environment variable named by ``password_env`` (never from a file)."""

    name: str
    type: Literal["smtp", "folder"]
    # folder
    path: Path | None = None
    # smtp
    host: str = "127.0.0.1"
    port: int = 25
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password_env: str | None = None
    sender: str = "billing@localhost"
    recipients: list[str] = []
    timeout_s: float = 30.0


class DeliveryRuleSettings(BaseModel):
    """Which documents go to a target; an empty list matches everything."""

    target: str
    document_types: list[Literal["statement", "invoice", "credit_memo"]] = []
    formats: list[Literal["pdf", "csv"]] = []
    sellers: list[str] = []
    clients: list[str] = []


class DeliverySettings(BaseModel):
    backoff_base_s: float = 30.0  # retry n waits min(cap, base × 2^(n−1))
    backoff_cap_s: float = 3600.0
    max_attempts: int = 10  # then the delivery is Failed
    pause_after_failures: int = 5  # consecutive failures of a target pause it until `billing documents resume`
    lease_s: int = 120
    batch_size: int = 50


class DocumentsSettings(BaseModel):
    """Rendering (PDF/CSV from templates) and delivery to finance (erp-integration.md §5.2)."""

    enabled: bool = True
    templates_dir: Path | None = None  # None = the bundled ``templates/``
    locale: str = "en_US"  # number, money and date formats (CLDR locale)
    render_interval_s: float = 10.0
    deliver_interval_s: float = 10.0
    render_batch_size: int = 20
    render_lease_s: int = 300
    discovery_overlap_s: float = 300.0  # parents updated this long before the newest known one are looked at again
    #: outputs per parent type: invoice_pdf, credit_memo_pdf, statement_pdf, statement_charges_csv, invoice_lines_csv
    outputs: dict[str, list[str]] = {
        "statement": ["statement_pdf", "statement_charges_csv"],
        "invoice": ["invoice_pdf", "invoice_lines_csv"],
        "credit_memo": ["credit_memo_pdf"],
    }
    delivery: DeliverySettings = DeliverySettings()
    targets: list[DeliveryTargetSettings] = []
    rules: list[DeliveryRuleSettings] = []


class LogSettings(BaseModel):
    level: str = "INFO"
    format: Literal["console", "json"] = "console"


class _TomlFile(PydanticBaseSettingsSource):
    """One TOML file as a settings source; refuses secrets."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        if not self.path.is_file():
            raise ConfigurationError(f"Configuration file {self.path} does not exist.")
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"Configuration file {self.path} is not valid TOML: {exc}") from exc
        for path in SECRET_PATHS:
            node: Any = data
            for part in path:
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None:
                raise ConfigurationError(
                    f"{self.path}: '{'.'.join(path)}' is a secret; set it in the environment "
                    f"(BILLING_{'__'.join(part.upper() for part in path)}), not in a file."
                )
        return data


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", env_nested_delimiter="__", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./var/billing.db"
    reference_file: Path | None = None
    api: ApiSettings = ApiSettings()
    auth: AuthSettings = AuthSettings()
    storage: StorageSettings = StorageSettings()
    worker: WorkerSettings = WorkerSettings()
    log: LogSettings = LogSettings()
    erp: ErpSettings = ErpSettings()
    daemon: DaemonSettings = DaemonSettings()
    documents: DocumentsSettings = DocumentsSettings()
    erp_sim: ErpSimSettings = ErpSimSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        override = os.environ.get("BILLING_CONFIG")
        return (
            init_settings,
            env_settings,
            _TomlFile(settings_cls, Path(override) if override else None),
            _TomlFile(settings_cls, DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None),
        )

    @model_validator(mode="after")
    def _refuse_development_secret_in_production(self) -> Settings:
        if self.env == "production" and self.auth.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET:
            raise ConfigurationError(
                "BILLING_ENV=production with the development JWT secret: set BILLING_AUTH__JWT_SECRET."
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

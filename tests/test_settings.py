"""Settings precedence: config/default.toml → BILLING_CONFIG file → BILLING_* environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from billing.settings import ConfigurationError, Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BILLING_CONFIG", "BILLING_DATABASE_URL", "BILLING_API__PORT", "BILLING_ENV", "BILLING_LOG__LEVEL"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_come_from_config_default_toml() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite:///./var/billing.db"
    assert settings.api.port == 8080 and settings.api.max_json_body_bytes == 1024 * 1024
    assert settings.log.format == "console"


def test_file_overrides_defaults_and_environment_overrides_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "site.toml"
    config.write_text('database_url = "sqlite:///site.db"\n[api]\nport = 9000\nworkers = 3\n[log]\nlevel = "DEBUG"\n')
    monkeypatch.setenv("BILLING_CONFIG", str(config))
    monkeypatch.setenv("BILLING_API__PORT", "9100")
    settings = Settings()
    assert settings.database_url == "sqlite:///site.db"
    assert (settings.api.port, settings.api.workers, settings.log.level) == (9100, 3, "DEBUG")
    assert settings.api.max_charge_file_bytes == 100 * 1024 * 1024  # untouched defaults survive the merge


def test_missing_or_broken_config_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigurationError, match="does not exist"):
        Settings()
    broken = tmp_path / "broken.toml"
    broken.write_text("[api\nport = ")
    monkeypatch.setenv("BILLING_CONFIG", str(broken))
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        Settings()


def test_production_with_a_real_secret_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_ENV", "production")
    monkeypatch.setenv("BILLING_AUTH__JWT_SECRET", "a-long-random-production-secret")
    assert Settings().auth.jwt_secret.get_secret_value() == "a-long-random-production-secret"

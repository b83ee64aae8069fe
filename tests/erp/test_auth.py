"""ERP authentication modes (erp-integration.md §1.9) against the simulator's basic and bearer auth on a real
socket; OAuth2 token caching/renewal with a stand-in for msal (no Entra ID here)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from billing.erp.auth import OAuth2ClientCredentials, session_auth
from billing.erp.errors import ErpAuthError, ErpConfigError
from billing.erp.settings import ErpAuth, ErpSettings
from billing.erp.soap import SoapGateway
from billing.erp_sim.app import ErpSimulator
from billing.erp_sim.settings import ErpSimSettings


def simulator_with(tmp_path: Path, auth: dict) -> ErpSimulator:
    return ErpSimulator(ErpSimSettings.model_validate({"auth": auth}), db=tmp_path / "erp.sqlite")


def test_basic_auth_is_accepted_and_a_wrong_password_is_an_auth_error(tmp_path: Path) -> None:
    simulator = simulator_with(tmp_path, {"mode": "basic", "user": "erp", "password": "s3cret"})
    server = simulator.serve_in_thread()
    try:
        good = ErpSettings.model_validate(
            {
                "base_url": server.base_url,
                "auth": {"mode": "basic", "user": "erp", "password": "s3cret", "allow_insecure_http": True},
            }
        )
        SoapGateway(good).probe()
        bad = good.model_copy(update={"auth": good.auth.model_copy(update={"password": SecretStr("nope")})})
        with pytest.raises(ErpAuthError):
            SoapGateway(bad).probe()
    finally:
        server.stop()
        simulator.close()


def test_basic_over_plain_http_is_refused_unless_allowed() -> None:
    with pytest.raises(ErpConfigError, match="plain HTTP"):
        session_auth(ErpAuth(mode="basic", user="u", password=SecretStr("p")), "http://erp.example/WS/C")
    assert session_auth(ErpAuth(mode="basic", user="u", password=SecretStr("p")), "https://erp.example/WS/C")


def test_missing_extras_say_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "requests_ntlm", None)  # as if the extra were not installed
    with pytest.raises(ErpConfigError, match=r"billing\[ntlm\]"):
        session_auth(ErpAuth(mode="ntlm", user="u", password=SecretStr("p")), "https://erp.example/WS/C")


class FakeMsal:
    def __init__(self) -> None:
        self.calls = 0

    def ConfidentialClientApplication(self, *_args, **_kwargs):
        def acquire_token_for_client(scopes):
            self.calls += 1
            return {"access_token": f"token-{self.calls}", "expires_in": 3600}

        return SimpleNamespace(acquire_token_for_client=acquire_token_for_client)


def test_oauth2_token_is_cached_and_renewed_before_expiry() -> None:
    now = [1000.0]
    msal = FakeMsal()
    settings = ErpAuth(mode="oauth2", tenant_id="t", client_id="c", client_secret=SecretStr("s"))
    auth = OAuth2ClientCredentials(settings, msal, clock=lambda: now[0])
    assert auth.token() == "token-1"
    now[0] += 3000  # 10 minutes before expiry: still good
    assert auth.token() == "token-1"
    now[0] += 400  # within 5 minutes of expiry: renewed
    assert auth.token() == "token-2"
    assert auth.token(renew=True) == "token-3"  # after a 401


def test_oauth2_bearer_against_the_simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("billing.erp.auth._extra", lambda module, extra: FakeMsal())
    simulator = simulator_with(tmp_path, {"mode": "bearer", "token": "token-1"})
    server = simulator.serve_in_thread()
    try:
        settings = ErpSettings.model_validate(
            {
                "base_url": server.base_url,
                "auth": {
                    "mode": "oauth2",
                    "tenant_id": "t",
                    "client_id": "c",
                    "client_secret": "s",
                    "allow_insecure_http": True,
                },
            }
        )
        SoapGateway(settings).probe()  # the bearer token from the (stand-in) identity provider is accepted
    finally:
        server.stop()
        simulator.close()


@pytest.mark.parametrize("accepted", ["token-2", "token-9"])
def test_oauth2_renews_once_on_a_401(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, accepted: str) -> None:
    msal = FakeMsal()
    monkeypatch.setattr("billing.erp.auth._extra", lambda module, extra: msal)
    simulator = simulator_with(tmp_path, {"mode": "bearer", "token": accepted})  # the first token is stale
    server = simulator.serve_in_thread()
    try:
        settings = ErpSettings.model_validate(
            {
                "base_url": server.base_url,
                "auth": {
                    "mode": "oauth2",
                    "tenant_id": "t",
                    "client_id": "c",
                    "client_secret": "s",
                    "allow_insecure_http": True,
                },
            }
        )
        if accepted == "token-2":
            SoapGateway(settings).probe()  # 401 with token-1, renewed to token-2, accepted
        else:
            with pytest.raises(ErpAuthError):  # the renewed token is refused too: an auth error, no third token
                SoapGateway(settings).probe()
        assert msal.calls == 2
    finally:
        server.stop()
        simulator.close()

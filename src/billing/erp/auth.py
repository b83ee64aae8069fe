"""ERP authentication for `requests` sessions (erp-integration.md §1.9): none, basic, ntlm, oauth2.

``ntlm`` needs the optional extra ``billing[ntlm]`` (requests-ntlm); ``oauth2`` (client credentials for Business
Central online) needs ``billing[oauth2]`` (msal): the bearer token is renewed 5 minutes before it expires and
once on a 401; a second 401 is an authentication failure. Secrets come from the environment and are never logged.
"""

from __future__ import annotations

import importlib
import threading
import time
from typing import Any

import requests
from requests.auth import AuthBase

from billing.erp.errors import ErpConfigError
from billing.erp.settings import ErpAuth

RENEW_BEFORE_S = 300


def session_auth(settings: ErpAuth, base_url: str) -> Any:
    """The ``requests`` auth object for the configured mode (None for ``none``)."""
    password = settings.password.get_secret_value() if settings.password else ""
    if settings.mode == "none":
        return None
    if base_url.startswith("http://") and not settings.allow_insecure_http:
        raise ErpConfigError(
            f"erp.auth.mode = {settings.mode} over plain HTTP is refused (erp.auth.allow_insecure_http)."
        )
    if settings.mode == "basic":
        return (settings.user or "", password)
    if settings.mode == "ntlm":
        return _extra("requests_ntlm", "ntlm").HttpNtlmAuth(settings.user or "", password)
    return OAuth2ClientCredentials(settings, _extra("msal", "oauth2"))


def _extra(module: str, extra: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ErpConfigError(
            f"erp.auth.mode = {extra} needs the optional extra: pip install 'billing[{extra}]'."
        ) from exc


class OAuth2ClientCredentials(AuthBase):
    """Bearer tokens from Microsoft Entra ID (client credentials), cached and renewed before expiry."""

    def __init__(self, settings: ErpAuth, msal: Any, clock: Any = time.time) -> None:
        if not (settings.tenant_id and settings.client_id and settings.client_secret):
            raise ErpConfigError(
                "erp.auth.mode = oauth2 needs tenant_id, client_id and BILLING_ERP__AUTH__CLIENT_SECRET."
            )
        self._app = msal.ConfidentialClientApplication(
            settings.client_id,
            authority=f"https://login.microsoftonline.com/{settings.tenant_id}",
            client_credential=settings.client_secret.get_secret_value(),
        )
        self._scope = settings.scope
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def token(self, *, renew: bool = False) -> str:
        with self._lock:
            if renew or self._token is None or self._clock() > self._expires_at - RENEW_BEFORE_S:
                result = self._app.acquire_token_for_client(scopes=[self._scope])
                if "access_token" not in result:
                    reason = result.get("error_description") or result.get("error") or "no token"
                    raise ErpConfigError(f"The ERP token could not be obtained: {reason}")
                self._token = str(result["access_token"])
                self._expires_at = self._clock() + float(result.get("expires_in", 3600))
            return self._token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token()}"
        request.register_hook("response", self._retry_once_on_401)
        return request

    def _retry_once_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401 or getattr(response.request, "_billing_retried", False):
            return response
        retry = response.request.copy()
        retry.headers["Authorization"] = f"Bearer {self.token(renew=True)}"
        retry._billing_retried = True  # type: ignore[attr-defined]
        response.content  # noqa: B018 - drain before reusing the connection
        response.raw.release_conn()
        again = response.connection.send(retry, **kwargs)
        again.history.append(response)
        again.request = retry
        return again  # a second 401 stays a 401: the gateway reports an authentication failure

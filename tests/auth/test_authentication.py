"""Authentication (billing-api.md §2.1): API tokens and JWTs (HS256, RS256, ES256), and the settings that
protect the JWT secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from billing.api import middleware, problems
from billing.api.app import create_app
from billing.auth.tokens import Authenticator
from billing.reference.demo import DEMO_ACCOUNTS
from billing.reference.service import ReferenceService
from billing.settings import DEVELOPMENT_JWT_SECRET, ConfigurationError, Settings

PROBLEM = "application/problem+json"
TRACE = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-00$")
ACCOUNT_ID = "https://claims.softwareone.com/accountId"
ACCOUNT_TYPE = "https://claims.softwareone.com/accountType"
USER_ID = "https://claims.softwareone.com/userId"
OPS = DEMO_ACCOUNTS["operations"]
PROTECTED = "/manual-overrides"


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_unauthorized(response: Any) -> dict[str, Any]:
    """Every 401: problem+json, `WWW-Authenticate: Bearer`, and a traceId equal to the traceparent header."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["type"] == "urn:billing:problem:unauthorized"
    assert body["title"] == "Unauthorized"
    assert body["status"] == 401
    assert body["detail"]
    assert TRACE.match(body["traceId"])
    assert body["traceId"] == response.headers["traceparent"]
    return body


def claims(account: str = OPS, account_type: str = "Operations", **extra: Any) -> dict[str, Any]:
    return {ACCOUNT_ID: account, ACCOUNT_TYPE: account_type, "exp": int(time.time()) + 600, **extra}


def hs256(settings: Settings, payload: dict[str, Any], **kwargs: Any) -> str:
    return jwt.encode(payload, settings.auth.jwt_secret.get_secret_value(), algorithm="HS256", **kwargs)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def handmade(header: dict[str, Any], payload: Any, key: bytes | None) -> str:
    """A JWT assembled by hand (for headers and keys PyJWT refuses to produce)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest() if key is not None else b""
    return f"{signing_input}.{_b64(signature)}"


def create_override(api: TestClient, headers: dict[str, str], pair: str = "") -> Any:
    body = {
        "client": {"id": DEMO_ACCOUNTS["client" + pair]},
        "vendor": {"id": DEMO_ACCOUNTS["vendor" + pair]},
    }
    return api.post("/manual-overrides", headers=headers, json=body)


# --- API tokens ---------------------------------------------------------------------------------------------


class TestApiTokens:
    def test_active_token_of_an_active_account_is_accepted(self, api, ops):
        assert api.get(PROTECTED, headers=ops).status_code == 200

    def test_audit_actor_is_the_token(self, api, ops):
        response = create_override(api, ops)
        assert response.status_code == 201, response.text
        actor = {"id": "TKN-0000-0001", "name": "demo operations", "icon": ""}
        assert response.json()["audit"]["created"]["by"] == actor

    @pytest.mark.parametrize(
        "authorization",
        [
            "Bearer no-such-token",
            "Bearer demo-operations-token-but-longer",
            "Bearer DEMO-OPERATIONS-TOKEN",
            "Basic ZGVtbzpkZW1v",
            "Basic demo-operations-token",
            "demo-operations-token",
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "Token demo-operations-token",
            "",
        ],
    )
    def test_unknown_token_or_malformed_header(self, api, demo_world, authorization):
        assert_unauthorized(api.get(PROTECTED, headers={"Authorization": authorization}))

    def test_missing_header(self, api, demo_world):
        body = assert_unauthorized(api.get(PROTECTED))
        assert "missing" in body["detail"]

    def test_scheme_is_case_insensitive(self, api, demo_world):
        assert api.get(PROTECTED, headers={"Authorization": "bearer demo-operations-token"}).status_code == 200

    def test_disabled_token(self, api, ops):
        token = {"id": "TKN-4242-0001", "name": "revoked", "account": OPS, "secret": "revoked-secret"}
        token["status"] = "Disabled"
        assert api.post("/reference/api-tokens", headers=ops, json=token).status_code == 201
        body = assert_unauthorized(api.get(PROTECTED, headers=_bearer("revoked-secret")))
        assert "revoked-secret" not in body["detail"]

    def test_token_disabled_after_use_stops_working(self, api, ops):
        token = {"id": "TKN-4242-0002", "name": "soon revoked", "account": OPS, "secret": "soon-revoked"}
        assert api.post("/reference/api-tokens", headers=ops, json=token).status_code == 201
        assert api.get(PROTECTED, headers=_bearer("soon-revoked")).status_code == 200
        response = api.put("/reference/api-tokens/TKN-4242-0002", headers=ops, json={"status": "Disabled"})
        assert response.status_code == 200, response.text
        assert_unauthorized(api.get(PROTECTED, headers=_bearer("soon-revoked")))

    def test_token_of_a_disabled_account(self, api, ops):
        account = {"id": "ACC-4242-4242", "type": "Operations", "name": "Dormant", "status": "Disabled"}
        assert api.post("/reference/accounts", headers=ops, json=account).status_code == 201
        token = {
            "id": "TKN-4242-0003",
            "name": "dormant",
            "account": "ACC-4242-4242",
            "secret": "dormant-secret",
        }
        assert api.post("/reference/api-tokens", headers=ops, json=token).status_code == 201
        assert_unauthorized(api.get(PROTECTED, headers=_bearer("dormant-secret")))

    def test_secret_with_two_dots_is_an_api_token_not_a_jwt(self, api, ops):
        token = {"id": "TKN-4242-0004", "name": "dotted", "account": OPS, "secret": "part.two.three"}
        assert api.post("/reference/api-tokens", headers=ops, json=token).status_code == 201
        assert api.get(PROTECTED, headers=_bearer("part.two.three")).status_code == 200

    def test_token_secret_is_never_returned(self, api, ops):
        response = api.get("/reference/api-tokens/TKN-0000-0001", headers=ops)
        assert response.status_code == 200
        assert "secret" not in response.text.lower()

    @pytest.mark.parametrize("path", ["/no-such-path", "/ledgers", "/reference/accounts"])
    def test_401_precedes_routing_and_role(self, api, demo_world, path):
        assert_unauthorized(api.post(path, headers=_bearer("no-such-token"), json={}))

    def test_public_paths_ignore_a_bad_token(self, api, demo_world):
        assert api.get("/openapi.json", headers=_bearer("no-such-token")).status_code == 200
        assert api.get("/health", headers=_bearer("no-such-token")).status_code == 200


# --- JWT HS256 ----------------------------------------------------------------------------------------------


class TestJwtHs256:
    def test_valid_token(self, api, settings, demo_world):
        response = api.get(PROTECTED, headers=_bearer(hs256(settings, claims())))
        assert response.status_code == 200, response.text

    def test_valid_token_for_each_role(self, api, settings, demo_world):
        for key, account_type, path in (
            ("client", "Client", "/statements"),
            ("vendor", "Vendor", "/journals"),
        ):
            token = hs256(settings, claims(DEMO_ACCOUNTS[key], account_type))
            response = api.get(path, headers=_bearer(token))
            assert response.status_code not in (401, 403), response.text
            token = hs256(settings, claims(DEMO_ACCOUNTS[key], account_type))
            assert api.get(PROTECTED, headers=_bearer(token)).status_code == 403

    def test_audit_actor_is_the_user_id_claim(self, api, settings, demo_world):
        token = hs256(settings, claims(sub="auth0|abc", name="Olivia Operator", **{USER_ID: "USR-1234-5678"}))
        response = create_override(api, _bearer(token))
        assert response.status_code == 201, response.text
        actor = {"id": "USR-1234-5678", "name": "Olivia Operator", "icon": ""}
        assert response.json()["audit"]["created"]["by"] == actor

    def test_audit_actor_falls_back_to_sub(self, api, settings, demo_world):
        token = hs256(settings, claims(sub="auth0|abc", name="Frank Finance"))
        response = create_override(api, _bearer(token), "2")
        assert response.status_code == 201, response.text
        assert response.json()["audit"]["created"]["by"] == {
            "id": "auth0|abc",
            "name": "Frank Finance",
            "icon": "",
        }

    def test_account_id_claim_is_case_insensitive(self, api, settings, demo_world):
        token = hs256(settings, claims(OPS.lower()))
        assert api.get(PROTECTED, headers=_bearer(token)).status_code == 200

    def test_expired(self, api, settings, demo_world):
        token = hs256(settings, {**claims(), "exp": int(time.time()) - 3600})
        body = assert_unauthorized(api.get(PROTECTED, headers=_bearer(token)))
        assert "expired" in body["detail"]

    def test_not_yet_valid(self, api, settings, demo_world):
        token = hs256(settings, claims(nbf=int(time.time()) + 3600))
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(token)))

    def test_missing_exp(self, api, settings, demo_world):
        payload = claims()
        del payload["exp"]
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(hs256(settings, payload))))

    def test_bad_signature(self, api, settings, demo_world):
        forged = jwt.encode(claims(), "another-secret-of-sufficient-length-0123456789", algorithm="HS256")
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(forged)))

    def test_tampered_payload(self, api, settings, demo_world):
        header, _, signature = hs256(settings, claims(DEMO_ACCOUNTS["vendor"], "Vendor")).split(".")
        payload = _b64(json.dumps(claims()).encode())
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(f"{header}.{payload}.{signature}")))

    @pytest.mark.parametrize("alg", ["none", "None", "NONE"])
    def test_alg_none(self, api, demo_world, alg):
        token = handmade({"alg": alg, "typ": "JWT"}, claims(), None)
        body = assert_unauthorized(api.get(PROTECTED, headers=_bearer(token)))
        assert "algorithm" in body["detail"]

    def test_algorithm_not_configured(self, api, settings, demo_world):
        token = jwt.encode(claims(), settings.auth.jwt_secret.get_secret_value() + "x" * 32, algorithm="HS512")
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(token)))

    @pytest.mark.parametrize(
        "payload",
        [
            {ACCOUNT_TYPE: "Operations"},
            {ACCOUNT_ID: OPS},
            {ACCOUNT_ID: OPS, ACCOUNT_TYPE: "Admin"},
            {ACCOUNT_ID: OPS, ACCOUNT_TYPE: "operations"},
            {ACCOUNT_ID: OPS, ACCOUNT_TYPE: None},
            {ACCOUNT_ID: 42, ACCOUNT_TYPE: "Operations"},
            {ACCOUNT_ID: [OPS], ACCOUNT_TYPE: "Operations"},
            {ACCOUNT_ID: OPS, ACCOUNT_TYPE: ["Operations"]},
            {ACCOUNT_ID: OPS, ACCOUNT_TYPE: {"type": "Operations"}},
            {"accountId": OPS, "accountType": "Operations"},
        ],
        ids=[
            "no-account-id",
            "no-account-type",
            "unknown-type",
            "lower-case-type",
            "null-type",
            "numeric-account-id",
            "list-account-id",
            "list-type",
            "object-type",
            "unqualified-claim-names",
        ],
    )
    def test_missing_or_invalid_claims(self, api, settings, demo_world, payload):
        token = hs256(settings, {**payload, "exp": int(time.time()) + 600})
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(token)))

    @pytest.mark.parametrize(
        ("account", "claimed"),
        [
            (OPS, "Vendor"),
            (OPS, "Client"),
            (DEMO_ACCOUNTS["vendor"], "Operations"),
            (DEMO_ACCOUNTS["client"], "Vendor"),
        ],
    )
    def test_account_type_must_match_the_account(self, api, settings, demo_world, account, claimed):
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(hs256(settings, claims(account, claimed)))))

    @pytest.mark.parametrize(
        "account",
        ["ACC-9999-9999", "not-an-account", "", "ACC-0000-0001\u0000", "ACC-0000-0001-0001", "x" * 300],
    )
    def test_unknown_account(self, api, settings, demo_world, account):
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(hs256(settings, claims(account)))))

    def test_disabled_account(self, api, settings, ops):
        response = api.put("/reference/accounts/ACC-0000-0002", headers=ops, json={"status": "Disabled"})
        assert response.status_code == 200, response.text
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(hs256(settings, claims("ACC-0000-0002")))))

    @pytest.mark.parametrize("token", ["a.b.c", "...", "eyJhbGciOiJIUzI1NiJ9.e30.", "x.y.z"])
    def test_malformed_jwt(self, api, demo_world, token):
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(token)))

    def test_payload_that_is_not_an_object(self, api, settings, demo_world):
        secret = settings.auth.jwt_secret.get_secret_value().encode()
        token = handmade({"alg": "HS256", "typ": "JWT"}, [1, 2], secret)
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(token)))


class RecordingLog:
    """Stands in for the structlog logger (rendering a traceback with locals is slow); records events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def exception(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


def test_unexpected_failure_while_authenticating_is_a_500_problem(api, demo_world, monkeypatch):
    """Not a bare text 500: problem details with the traceId, and nothing internal in the detail."""

    def broken(*args: Any) -> Any:
        raise RuntimeError("database password is hunter2")

    log = RecordingLog()
    monkeypatch.setattr(middleware, "log", log)
    monkeypatch.setattr(Authenticator, "authenticate", broken)
    response = api.get(PROTECTED, headers=_bearer("anything"))
    assert response.status_code == 500
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body = response.json()
    assert body["type"] == "urn:billing:problem:internal"
    assert body["traceId"] == response.headers["traceparent"]
    assert "hunter2" not in response.text
    assert [fields["trace_id"] for _, fields in log.events] == [body["traceId"]]


# --- JWT RS256 / ES256 with a public key file ---------------------------------------------------------------


def _pem_public(key: Any) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _pem_private(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _rsa() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _ec() -> Any:
    return ec.generate_private_key(ec.SECP256R1())


KEYS = {"RS256": _rsa, "ES256": _ec}


@pytest.fixture(params=["RS256", "ES256"])
def keyed(request, database_url, db, demo_world, tmp_path: Path) -> Iterator[tuple[str, Any, Any, TestClient]]:
    """(algorithm, private key, settings, client) of an app configured with that key type's public key."""
    algorithm = request.param
    private = KEYS[algorithm]()
    key_file = tmp_path / "jwt-public.pem"
    key_file.write_bytes(_pem_public(private))
    settings = Settings(
        env="test",
        database_url=database_url,
        storage={"attachments_dir": tmp_path / "files"},
        auth={"jwt_algorithms": ["HS256", "RS256", "ES256"], "jwt_public_key_file": key_file},
    )
    with TestClient(create_app(settings, db), base_url="http://testserver/public/v1/billing") as client:
        yield algorithm, private, settings, client


class TestJwtPublicKey:
    def test_valid_token(self, keyed):
        algorithm, private, _, api = keyed
        token = jwt.encode(claims(**{USER_ID: "USR-0000-0042"}), _pem_private(private), algorithm=algorithm)
        assert api.get(PROTECTED, headers=_bearer(token)).status_code == 200
        response = create_override(api, _bearer(token))
        assert response.status_code == 201, response.text
        assert response.json()["audit"]["created"]["by"]["id"] == "USR-0000-0042"

    def test_hs256_still_works_next_to_the_key(self, keyed):
        _, _, settings, api = keyed
        assert api.get(PROTECTED, headers=_bearer(hs256(settings, claims()))).status_code == 200

    def test_signed_with_another_key(self, keyed):
        algorithm, _, _, api = keyed
        token = jwt.encode(claims(), _pem_private(KEYS[algorithm]()), algorithm=algorithm)
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(token)))

    def test_other_key_type_is_refused(self, keyed):
        """A token of the other asymmetric algorithm cannot be verified with this key."""
        algorithm, _, _, api = keyed
        other = "ES256" if algorithm == "RS256" else "RS256"
        token = jwt.encode(claims(), _pem_private(KEYS[other]()), algorithm=other)
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(token)))

    def test_hs256_signed_with_the_public_key_is_refused(self, keyed):
        """Algorithm confusion: the public key is no HMAC secret."""
        _, private, _, api = keyed
        token = handmade({"alg": "HS256", "typ": "JWT"}, claims(), _pem_public(private))
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(token)))

    def test_expired(self, keyed):
        algorithm, private, _, api = keyed
        token = jwt.encode({**claims(), "exp": int(time.time()) - 3600}, _pem_private(private), algorithm=algorithm)
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(token)))

    def test_account_type_mismatch(self, keyed):
        algorithm, private, _, api = keyed
        token = jwt.encode(claims(account_type="Vendor"), _pem_private(private), algorithm=algorithm)
        assert_unauthorized(api.get(PROTECTED, headers=_bearer(token)))


def test_rs256_without_a_key_file_is_refused(api, settings, demo_world):
    """Only HS256 is configured by default: an RS256 token is refused, not verified with the HMAC secret."""
    token = jwt.encode(claims(), _pem_private(_rsa()), algorithm="RS256")
    assert_unauthorized(api.get(PROTECTED, headers=_bearer(token)))


# --- settings -----------------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("BILLING_ENV", "BILLING_CONFIG", "BILLING_AUTH__JWT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


class TestSettings:
    def test_production_refuses_the_development_secret(self, clean_env):
        with pytest.raises(ConfigurationError, match="BILLING_AUTH__JWT_SECRET"):
            Settings(env="production")

    def test_production_refuses_the_development_secret_from_the_environment(self, clean_env):
        clean_env.setenv("BILLING_ENV", "production")
        with pytest.raises(ConfigurationError):
            Settings()
        clean_env.setenv("BILLING_AUTH__JWT_SECRET", DEVELOPMENT_JWT_SECRET)
        with pytest.raises(ConfigurationError):
            Settings()

    def test_production_accepts_a_secret_from_the_environment(self, clean_env):
        clean_env.setenv("BILLING_ENV", "production")
        clean_env.setenv("BILLING_AUTH__JWT_SECRET", "a-real-production-secret-0123456789abcdef")
        settings = Settings()
        assert settings.env == "production"
        assert settings.auth.jwt_secret.get_secret_value() == "a-real-production-secret-0123456789abcdef"

    def test_development_uses_the_development_secret(self, clean_env):
        assert Settings(env="development").auth.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET

    def test_config_file_with_a_secret_is_refused(self, clean_env, tmp_path):
        config = tmp_path / "billing.toml"
        config.write_text('[auth]\njwt_secret = "from-a-file-0123456789abcdef0123456789"\n', encoding="utf-8")
        clean_env.setenv("BILLING_CONFIG", str(config))
        with pytest.raises(ConfigurationError, match="secret"):
            Settings()

    def test_config_file_without_secrets_is_used(self, clean_env, tmp_path):
        config = tmp_path / "billing.toml"
        config.write_text('[auth]\njwt_algorithms = ["HS256", "ES256"]\nleeway_s = 5\n', encoding="utf-8")
        clean_env.setenv("BILLING_CONFIG", str(config))
        settings = Settings()
        assert settings.auth.jwt_algorithms == ["HS256", "ES256"]
        assert settings.auth.leeway_s == 5

    def test_missing_config_file_is_refused(self, clean_env, tmp_path):
        clean_env.setenv("BILLING_CONFIG", str(tmp_path / "absent.toml"))
        with pytest.raises(ConfigurationError):
            Settings()


def test_unexpected_failure_in_an_endpoint_is_a_500_problem(settings, db, ops, monkeypatch):
    def broken(*args: Any) -> Any:
        raise RuntimeError("secret internals")

    log = RecordingLog()
    monkeypatch.setattr(problems, "log", log)
    monkeypatch.setattr(ReferenceService, "export", broken)
    app = create_app(settings, db)
    with TestClient(app, base_url="http://testserver/public/v1/billing", raise_server_exceptions=False) as api:
        response = api.get("/reference/export", headers=ops)
    assert response.status_code == 500
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body = response.json()
    assert body["type"] == "urn:billing:problem:internal"
    assert TRACE.match(body["traceId"]) and body["traceId"] == response.headers["traceparent"]
    assert "secret internals" not in response.text
    assert [fields["trace_id"] for _, fields in log.events] == [body["traceId"]]

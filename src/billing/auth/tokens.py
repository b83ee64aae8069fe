"""Bearer authentication (billing-api.md §2.1): API tokens from the reference data and JWTs.

Every failure is `Unauthorized` (401 + ``WWW-Authenticate: Bearer``); the detail says what was wrong but
never echoes the token.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from typing import Any

import jwt

from billing.auth.principal import Principal, Role
from billing.db.models import ReferenceObject
from billing.errors import Unauthorized
from billing.kit.ids import is_well_formed
from billing.reference.repository import ReferenceRepository
from billing.settings import AuthSettings

CLAIM_ACCOUNT_ID = "https://claims.softwareone.com/accountId"
CLAIM_ACCOUNT_TYPE = "https://claims.softwareone.com/accountType"
CLAIM_USER_ID = "https://claims.softwareone.com/userId"
_ROLES = frozenset(role.value for role in Role)


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Authenticator:
    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings

    @cached_property
    def _public_key(self) -> str | None:
        path = self.settings.jwt_public_key_file
        return path.read_text(encoding="utf-8") if path else None

    def authenticate(self, authorization: str | None, references: ReferenceRepository) -> Principal:
        if not authorization:
            raise Unauthorized("The Authorization header is missing.")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
        # A registered api-token wins: its secret is an arbitrary string and may contain two dots.
        row = references.token_by_hash(sha256_hex(token))
        if row is None and token.count(".") == 2:
            return self._from_jwt(token, references)
        return self._from_api_token(row, references)

    def _from_api_token(self, row: ReferenceObject | None, references: ReferenceRepository) -> Principal:
        if row is None or row.status != "Active":
            raise Unauthorized("The token is unknown or disabled.")
        account = references.get_doc("accounts", row.doc["account"])
        if account is None or account.get("status") != "Active":
            raise Unauthorized("The token's account is unknown or disabled.")
        actor = {"id": row.id, "name": row.name, "icon": ""}
        return Principal(account_id=account["id"], role=Role(account["type"]), actor=actor)

    def _from_jwt(self, token: str, references: ReferenceRepository) -> Principal:
        claims = self._decode(token)
        account_id = claims.get(CLAIM_ACCOUNT_ID)
        account_type = claims.get(CLAIM_ACCOUNT_TYPE)
        # Claims are arbitrary JSON: check the types before using them (a list or object is no role).
        if not isinstance(account_id, str) or not isinstance(account_type, str) or account_type not in _ROLES:
            raise Unauthorized("The token lacks the accountId or accountType claim.")
        account_id = account_id.strip().upper()
        account = references.get_doc("accounts", account_id) if is_well_formed(account_id, "ACC", 2) else None
        if account is None or account.get("status") != "Active":
            raise Unauthorized("The token's account is unknown or disabled.")
        if account["type"] != account_type:
            raise Unauthorized("The token's accountType does not match the account.")
        actor_id = claims.get(CLAIM_USER_ID) or claims.get("sub") or account["id"]
        actor = {"id": str(actor_id), "name": str(claims.get("name") or ""), "icon": ""}
        return Principal(account_id=account["id"], role=Role(account_type), actor=actor)

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("The token is not a valid JWT.") from None
        algorithm = header.get("alg")
        if algorithm not in self.settings.jwt_algorithms:
            raise Unauthorized("The token's signing algorithm is not accepted.")
        key = self.settings.jwt_secret.get_secret_value() if algorithm.startswith("HS") else self._public_key
        if not key:
            raise Unauthorized("The token's signing algorithm is not configured.")
        options = {"require": ["exp"], "verify_aud": self.settings.jwt_audience is not None}
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                leeway=self.settings.leeway_s,
                options=options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"The token is invalid: {exc}.") from None

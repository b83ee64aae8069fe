"""Request dependencies, defined once as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from billing.auth.capabilities import Capability, Scope, scope_for
from billing.auth.principal import Principal
from billing.db.engine import Database
from billing.errors import Forbidden, NotFound
from billing.kit.ids import normalise_path_id
from billing.kit.rql import ParsedQuery, parse_query_string
from billing.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_database(request: Request) -> Database:
    return request.app.state.database


def get_principal(request: Request) -> Principal:
    return request.state.principal


def get_session(request: Request) -> Iterator[Session]:
    """Reads run in a read-only transaction; everything else commits when the endpoint returns."""
    database: Database = request.app.state.database
    scope = database.read_scope if request.method in ("GET", "HEAD") else database.session_scope
    with scope() as session:
        yield session


def get_query(request: Request) -> ParsedQuery:
    return parse_query_string(request.scope.get("query_string", b"").decode("latin-1"))


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
QueryDep = Annotated[ParsedQuery, Depends(get_query)]


@dataclass
class Ctx:
    """What an endpoint needs about the call: who, in which transaction, under which capability."""

    request: Request
    principal: Principal
    session: Session
    settings: Settings
    capability: Capability

    @cached_property
    def query(self) -> ParsedQuery:
        return get_query(self.request)

    def wake_worker_after_commit(self) -> None:
        """The in-process worker looks at the queue as soon as the work item this request queued is committed."""
        worker = getattr(self.request.app.state, "worker", None)
        if worker is not None:
            self.session.info["after_commit"] = worker.wake

    @property
    def scope(self) -> Scope:
        scope = scope_for(self.capability.resource, self.principal.role)
        if scope is None:  # the matrix already refused the role; scoping is a second line of defence
            raise Forbidden("The role may not access this resource.")
        return scope


def authorize(capability: Capability):
    """Dependency factory: the role check of one capability (§2.5 step 3)."""

    def check(request: Request, principal: PrincipalDep) -> Capability:
        if not capability.allows(principal.role):
            raise Forbidden(f"The {principal.role} role may not call {capability.method} {capability.path}.")
        request.state.capability = capability
        return capability

    return check


def get_ctx(request: Request, principal: PrincipalDep, session: SessionDep, settings: SettingsDep) -> Ctx:
    return Ctx(request, principal, session, settings, request.state.capability)


CtxDep = Annotated[Ctx, Depends(get_ctx)]


def path_id(raw: str, label: str) -> str:
    """Ids in paths match case-insensitively; a malformed id answers 404 like an unknown one (§3.1)."""
    value = normalise_path_id(raw)
    if value is None:
        raise NotFound(f"{label} {raw} was not found.")
    return value

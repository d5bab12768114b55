"""Per-request context and per-endpoint metadata, shared by the pipeline and the handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from zproxy.testing.fake_zuora.auth import Principal
from zproxy.testing.fake_zuora.responses import bad_request
from zproxy.testing.fake_zuora.state import TenantState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
AccountOf = Callable[[web.Request, Any, TenantState], "str | None"]

#: Route groups a request belongs to; fault scopes name them.
READS, WRITES, AUTH, ZOQL = "reads", "writes", "auth", "zoql"
_UNSET: Any = object()


class Reply(Exception):
    """Raised by a handler to answer with ``response`` (validation and business errors)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    group: str
    #: Which account a write touches (lock competition, ledger); None when not a write.
    account_of: AccountOf | None = None

    @property
    def pool(self) -> str:
        return "zoql" if self.group == ZOQL else "default"

    @property
    def groups(self) -> frozenset[str]:
        # ZOQL and previews are POST reads: in "reads" (and "zoql") but never in "writes".
        return frozenset({self.group, READS}) if self.group == ZOQL else frozenset({self.group})


@dataclass(slots=True)
class RequestCtx:
    request_id: str
    track_id: str | None
    group: str
    groups: frozenset[str]
    principal: Principal | None = None
    state: TenantState | None = None
    body: bytes = b""
    parsed: Any = _UNSET
    account: str | None = None
    applied: bool = False
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def tenant(self) -> TenantState:
        assert self.state is not None, "handler runs only after authentication"
        return self.state

    def json(self) -> Any:
        """The request body parsed once; ``None`` when empty or not JSON."""
        if self.parsed is _UNSET:
            try:
                self.parsed = orjson.loads(self.body) if self.body else None
            except orjson.JSONDecodeError:
                self.parsed = None
        return self.parsed

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or a 400 reply."""
        data = self.json()
        if not isinstance(data, dict):
            raise Reply(bad_request("The request body must be a JSON object.", self.request_id))
        return data

    def mark_applied(self, account: str | None) -> None:
        """A write changed state: the pipeline records it in the ledger."""
        self.applied = True
        if account is not None:
            self.account = account


CTX = web.RequestKey("fake_zuora_ctx", RequestCtx)


def ctx_of(request: web.Request) -> RequestCtx:
    return request[CTX]

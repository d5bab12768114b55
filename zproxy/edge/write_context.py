"""One write at the edge, read once: the body, the Idempotency-Key (zproxy's own added to a
POST/PATCH that lacks one), the ``Prefer`` header and what the policy asks of the body.

Part of the edge's write path: ``zproxy.edge.writes`` builds a ``WriteContext`` per write and
passes it to the actions (``zproxy.edge.write_enqueue`` for the queued ones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson
from aiohttp import web

from zproxy.edge.exchange import Exchange, read_body
from zproxy.edge.services import Services
from zproxy.errors import ClientError
from zproxy.policy.routes import WritePolicy, render_tags
from zproxy.policy.sensitive import has_card_data
from zproxy.policy.write_body import body_acceptable
from zproxy.queue.model import new_idempotency_key
from zproxy.upstream.gateway import UpstreamCall

KEYED_METHODS = frozenset({"POST", "PATCH"})
_KEY_OK = re.compile(r"^[\x21-\x7e]{1,255}$")


def prefers_async(request: web.BaseRequest) -> bool:
    """RFC 7240: ``Prefer: respond-async`` (among other preferences, any case)."""
    for value in request.headers.getall("Prefer", ()):
        for pref in value.split(","):
            if pref.split(";", 1)[0].strip().lower() == "respond-async":
                return True
    return False


def json_or_none(body: bytes) -> object:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


@dataclass(frozen=True, slots=True)
class WriteContext:
    """One write at the edge: what every action needs, read once."""

    s: Services
    ex: Exchange
    policy: WritePolicy
    group: str
    body: bytes
    #: The headers sent upstream (or stored): with zproxy's Idempotency-Key when it added one.
    headers: tuple[tuple[str, str], ...]
    key: str | None
    prefer: bool
    card: bool
    #: The body is what Zuora accepts for this method (a JSON object for POST/PUT/PATCH).
    body_ok: bool

    def upstream_call(self) -> UpstreamCall:
        assert self.ex.match is not None
        route = self.ex.match.route
        method = self.ex.request.method
        return UpstreamCall(
            route.name,
            self.group,
            route.pool,
            method,
            self.ex.path_qs,
            list(self.headers),
            self.body,
        )


async def build_context(s: Services, ex: Exchange) -> WriteContext:
    assert ex.match is not None
    route, policy = ex.match.route, ex.match.route.write
    assert policy is not None
    request = ex.request
    body = await read_body(
        request, s.settings.server.max_request_body, s.settings.server.body_read_timeout
    )
    ex.body = body
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _KEY_OK.match(key):
        raise ClientError(
            400,
            "ZPROXY_BAD_IDEMPOTENCY_KEY",
            "Idempotency-Key must be 1-255 printable ASCII characters",
        )
    headers = ex.forward_headers(drop_accept_encoding=True)
    if request.method in KEYED_METHODS and key is None:
        key = new_idempotency_key()
        headers.append(("Idempotency-Key", key))
    return WriteContext(
        s,
        ex,
        policy,
        route.breaker_group(request.method),
        body,
        tuple(headers),
        key,
        prefers_async(request),
        has_card_data(body),
        body_acceptable(request.method, body),
    )


def order_key_of(policy: WritePolicy, ex: Exchange, body: bytes) -> str | None:
    """The rendered ``order_key`` of the route, or None (none configured, or a field missing)."""
    if not policy.order_key or ex.match is None:
        return None
    rendered = render_tags([policy.order_key], ex.match.params, json_or_none(body))
    return rendered[0] if rendered else None

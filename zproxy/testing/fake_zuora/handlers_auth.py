"""``POST /oauth/token``: OAuth 2.0 client credentials (form body)."""

from __future__ import annotations

from aiohttp import web

from zproxy.testing.fake_zuora import responses as r
from zproxy.testing.fake_zuora.context import AUTH, Endpoint, ctx_of
from zproxy.testing.fake_zuora.fake import FAKE


async def create_token(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    form = await request.post()
    grant_type, client_id, secret = (
        str(form.get(name, "")) for name in ("grant_type", "client_id", "client_secret")
    )
    if grant_type != "client_credentials":
        return r.v1_error(
            r.AUTH_INVALID_VALUE,
            "grant_type must be client_credentials.",
            ctx.request_id,
            status=400,
        )
    auth = request.app[FAKE].auth
    if not auth.check_client(client_id, secret):
        return r.unauthorized()
    return r.json_response(auth.issue(client_id))


ENDPOINTS = [Endpoint("POST", "/oauth/token", create_token, AUTH)]

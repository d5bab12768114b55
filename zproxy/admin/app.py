"""The admin port: metrics, health, readiness, and the token-guarded operator API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from zproxy.edge.responses import error_response, request_id_of, same_secret
from zproxy.edge.services import Services
from zproxy.errors import StoreUnavailable

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ReadyDetails = Callable[[], Awaitable[dict[str, object]]]
READY_DETAILS: web.AppKey[ReadyDetails] = web.AppKey("ready_details")


def json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


@web.middleware
async def token_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``/admin/*`` needs ``Authorization: Bearer $ZPROXY_ADMIN_TOKEN`` (constant-time compare).

    Without a configured token the operator API is closed (403), never open.
    """
    if not request.path.startswith("/admin/"):
        return await handler(request)
    rid = request_id_of(request)
    token = request.app[SERVICES].settings.admin_token
    if not token:
        return error_response(
            403, "ZPROXY_ADMIN_DISABLED", "Set ZPROXY_ADMIN_TOKEN to enable the admin API", rid
        )
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not same_secret(value, token):
        return error_response(
            401,
            "ZPROXY_ADMIN_UNAUTHORIZED",
            "Missing or wrong admin token",
            rid,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return await handler(request)


@web.middleware
async def store_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Redis down: every operator endpoint answers one truthful, Zuora-shaped 503."""
    try:
        return await handler(request)
    except StoreUnavailable:
        return error_response(
            503,
            "ZPROXY_STORE_UNAVAILABLE",
            "Redis is unavailable",
            request_id_of(request),
            headers={"Retry-After": "5"},
        )


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    for refresh in services.metrics_refreshers:
        await refresh()
    return web.Response(
        body=services.metrics.render(),
        content_type="text/plain",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


async def healthz(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    problems = [p for check in services.readiness_checks if (p := await check())]
    body: dict[str, object] = (
        {"status": "unavailable", "reasons": problems} if problems else {"status": "ready"}
    )
    describe = request.app.get(READY_DETAILS)
    if describe is not None:
        body.update(await describe())
    return json_response(body, status=503 if problems else 200)


def build_admin_app(
    services: Services, routes: web.RouteTableDef, details: ReadyDetails | None = None
) -> web.Application:
    """``details``: extra fields of the ``/readyz`` body (the Redis topology zproxy sees)."""
    app = web.Application(middlewares=[token_guard, store_unavailable], client_max_size=1024 * 1024)
    app[SERVICES] = services
    if details is not None:
        app[READY_DETAILS] = details
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.add_routes(routes)
    return app

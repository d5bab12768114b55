"""Catalog: products (paged), one product, a product's rate plans.

``Zuora-Version`` changes the shape: before 230.0 a product embeds ``productRatePlans``; from
230.0 on (and for date-form versions) it is a URL to ``/v1/rateplan/{id}/productRatePlan``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from zproxy.testing.fake_zuora import render
from zproxy.testing.fake_zuora import responses as r
from zproxy.testing.fake_zuora.context import READS, Endpoint, ctx_of
from zproxy.testing.fake_zuora.handlers_subscriptions import next_page, paging


def _as_url(request: web.Request) -> bool:
    return render.rate_plans_as_url(request.headers.get("Zuora-Version"))


async def list_products(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    page, size = paging(request, ctx, default_size=10)
    products = ctx.tenant.products
    as_url = _as_url(request)
    body: dict[str, Any] = {
        "success": True,
        "products": [render.product(p, as_url) for p in products[(page - 1) * size : page * size]],
    }
    more = next_page(request, page, size, len(products))
    if more:
        body["nextPage"] = more
    return r.json_response(body)


async def get_product(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    key = request.match_info["key"]
    product = ctx.tenant.product(key)
    if product is None:
        return r.not_found(key, ctx.request_id)
    return r.json_response({"success": True, **render.product(product, _as_url(request))})


async def product_rate_plans(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    key = request.match_info["key"]
    product = ctx.tenant.product(key)
    if product is None:
        return r.not_found(key, ctx.request_id)
    page, size = paging(request, ctx)
    plans = product["productRatePlans"]
    body: dict[str, Any] = {
        "success": True,
        "productRatePlans": plans[(page - 1) * size : page * size],
    }
    more = next_page(request, page, size, len(plans))
    if more:
        body["nextPage"] = more
    return r.json_response(body)


ENDPOINTS = [
    Endpoint("GET", "/v1/catalog/products", list_products, READS),
    Endpoint("GET", "/v1/catalog/product/{key}", get_product, READS),
    Endpoint("GET", "/v1/rateplan/{key}/productRatePlan", product_rate_plans, READS),
]

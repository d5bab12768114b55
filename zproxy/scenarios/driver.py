"""Send a request plan at its rate (open loop: a slow answer never delays the next request)
and record what each client saw.

Like Ruby's Net::HTTP, aiohttp retries an idempotent request once when a reused keep-alive
connection is dropped by the server; so a GET or PUT held by the fake's ``timeout`` fault and
dropped when the fault lifts may still succeed within the client timeout, as it would for
CustomersDot.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from typing import Any

import aiohttp
import orjson

from zproxy.scenarios.measure import Outcome
from zproxy.scenarios.traffic import HttpRequest

CLIENT_SECRET = "scenario-client-secret"  # noqa: S105 - the fake accepts any secret


def client_ids(count: int, seed: int) -> list[str]:
    """``count`` deterministic 36-character client ids (the fake accepts any)."""
    rng = random.Random(f"credentials-{seed}")
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(count)]


async def fetch_tokens(session: aiohttp.ClientSession, base: str, ids: Sequence[str]) -> list[str]:
    """One bearer token per client id, obtained from ``base`` (through zproxy, zproxy learns
    which client each token belongs to)."""
    tokens = []
    for client_id in ids:
        form = {
            "client_id": client_id,
            "client_secret": CLIENT_SECRET,
            "grant_type": "client_credentials",
        }
        async with session.post(base + "/oauth/token", data=form) as resp:
            if resp.status != 200:
                raise RuntimeError(f"token request failed with {resp.status}: {await resp.text()}")
            tokens.append(str((await resp.json())["access_token"]))
    return tokens


def _headers(r: HttpRequest, tokens: Sequence[str]) -> dict[str, str]:
    if r.credential < 0:  # recorded without credentials: sent without
        return dict(r.headers)
    return {**r.headers, "Authorization": f"Bearer {tokens[r.credential % len(tokens)]}"}


def _json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


async def send_one(
    session: aiohttp.ClientSession,
    base: str,
    r: HttpRequest,
    tokens: Sequence[str],
    timeout: float,
    start: float,
) -> Outcome:
    loop = asyncio.get_running_loop()
    sent = loop.time()
    common: dict[str, Any] = {
        "n": r.n,
        "t": r.t,
        "kind": r.kind,
        "method": r.method,
        "account": r.account,
        "marker": r.marker,
        "sent_at": round(sent - start, 4),
    }
    try:
        async with session.request(
            r.method,
            base + r.path,
            data=r.body,
            headers=_headers(r, tokens),
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            raw = await resp.read()
            status, cache = resp.status, resp.headers.get("Cache-Status")
    except TimeoutError:
        return Outcome(status=0, latency_ms=_ms(loop.time() - sent), error="timeout", **common)
    except aiohttp.ClientError:
        return Outcome(status=0, latency_ms=_ms(loop.time() - sent), error="connection", **common)
    done = loop.time()
    doc = _json(raw) if 200 <= status < 300 else None
    failed = isinstance(doc, dict) and doc.get("success", doc.get("Success")) is False
    write_id = doc.get("writeId") if status == 202 and isinstance(doc, dict) else None
    return Outcome(
        status=status,
        latency_ms=_ms(done - sent),
        cache_status=cache,
        business_failure=failed,
        write_id=str(write_id) if write_id else None,
        acked_at=round(done - start, 4),
        **common,
    )


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


async def drive(
    session: aiohttp.ClientSession,
    base: str,
    plan: Sequence[HttpRequest],
    tokens: Sequence[str],
    timeout: float,
    start: float,
) -> list[Outcome]:
    """Send each request at ``start + r.t`` (loop time); wait for every answer."""
    loop = asyncio.get_running_loop()
    tasks = []
    for r in plan:
        delay = start + r.t - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send_one(session, base, r, tokens, timeout, start)))
    return list(await asyncio.gather(*tasks))


async def warm(
    session: aiohttp.ClientSession,
    base: str,
    plan: Sequence[HttpRequest],
    tokens: Sequence[str],
    timeout: float,
    concurrency: int = 16,
) -> list[Outcome]:
    """Send ``plan`` as fast as ``concurrency`` allows (not measured)."""
    gate = asyncio.Semaphore(concurrency)
    start = asyncio.get_running_loop().time()

    async def one(r: HttpRequest) -> Outcome:
        async with gate:
            return await send_one(session, base, r, tokens, timeout, start)

    return list(await asyncio.gather(*(one(r) for r in plan)))


async def write_states(
    session: aiohttp.ClientSession,
    base: str,
    outcomes: Sequence[Outcome],
    plan: Sequence[HttpRequest],
    tokens: Sequence[str],
) -> dict[str, str]:
    """zproxy's state of every 202'd write (``GET /_zproxy/writes/{id}`` as its caller);
    ``missing`` when zproxy no longer knows it."""
    by_n = {r.n: r for r in plan}
    gate = asyncio.Semaphore(16)

    async def one(o: Outcome) -> tuple[str, str]:
        r = by_n[o.n]
        async with (
            gate,
            session.get(f"{base}/_zproxy/writes/{o.write_id}", headers=_headers(r, tokens)) as resp,
        ):
            doc = _json(await resp.read())
        state = doc.get("state") if resp.status == 200 and isinstance(doc, dict) else None
        return o.marker or "", str(state or "missing")

    queued = [o for o in outcomes if o.status == 202 and o.write_id and o.marker]
    return dict(await asyncio.gather(*(one(o) for o in queued)))

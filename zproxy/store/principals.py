"""Which principal a bearer token belongs to, learned from ``/oauth/token`` answers.

``remember(token_hash(token), grant.principal, grant.expires_in)`` when zproxy forwards a
token grant (``zproxy.policy.credentials.principal_from_token_response``); ``lookup`` on every
request with a bearer token. Unknown tokens return None and the caller keys on
``fallback_principal`` (a hash of the token).

The mapping lives in Redis under ``zc:k:{token_hash}`` with the token's lifetime, so every
worker shares it; a small in-process LRU in front answers most lookups without a round trip.
The LRU holds a mapping at most ``local_ttl`` seconds (and never past the token's expiry), and
remembers "unknown" for ``negative_ttl`` seconds, so a ``forget`` in another worker takes effect
here within ``local_ttl``. Redis errors raise ``StoreUnavailable``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

import redis.asyncio as aioredis

from zproxy.clock import Clock
from zproxy.policy.keys import KEY_PREFIX
from zproxy.store._errors import mapped

TOKEN_PREFIX: Final = KEY_PREFIX + "k:"


class PrincipalStore:
    def __init__(
        self,
        redis: aioredis.Redis,
        clock: Clock,
        *,
        max_local: int = 10_000,
        local_ttl: float = 60.0,
        negative_ttl: float = 5.0,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._max = max_local
        self._local_ttl = local_ttl
        self._negative_ttl = negative_ttl
        #: token hash -> (principal or None for "unknown", monotonic expiry)
        self._lru: OrderedDict[str, tuple[str | None, float]] = OrderedDict()

    async def remember(self, token_hash: str, principal: str, ttl: float) -> None:
        if ttl <= 0:
            return
        ttl_ms = max(1, int(ttl * 1000))
        with mapped("principal remember"):
            await self._redis.set(TOKEN_PREFIX + token_hash, principal.encode(), px=ttl_ms)
        self._keep(token_hash, principal, ttl)

    async def lookup(self, token_hash: str) -> str | None:
        now = self._clock.monotonic()
        cached = self._lru.get(token_hash)
        if cached is not None and cached[1] > now:
            self._lru.move_to_end(token_hash)
            return cached[0]
        with mapped("principal lookup"):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(TOKEN_PREFIX + token_hash)
                pipe.pttl(TOKEN_PREFIX + token_hash)
                raw, pttl = await pipe.execute()
        if raw is None:
            self._keep(token_hash, None, self._negative_ttl)
            return None
        principal = raw.decode() if isinstance(raw, bytes) else str(raw)
        self._keep(token_hash, principal, pttl / 1000 if pttl > 0 else self._local_ttl)
        return principal

    async def forget(self, token_hash: str) -> None:
        self._lru.pop(token_hash, None)
        with mapped("principal forget"):
            await self._redis.delete(TOKEN_PREFIX + token_hash)

    def _keep(self, token_hash: str, principal: str | None, ttl: float) -> None:
        expires = self._clock.monotonic() + min(ttl, self._local_ttl)
        self._lru[token_hash] = (principal, expires)
        self._lru.move_to_end(token_hash)
        while len(self._lru) > self._max:
            self._lru.popitem(last=False)

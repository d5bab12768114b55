"""The newest bearer token each principal was granted, so a write replayed after a long outage
goes out with a token that is still valid (the one it was queued with may have expired).

``remember`` is told of every ``/oauth/token`` grant zproxy forwards (``Identities.on_grant``);
the token is stored encrypted under ``zq:tok:{principal}`` until it expires. ``headers_for``
swaps a queued write's bearer token for the newest one. Redis errors leave ``remember`` as
``StoreUnavailable`` (``zproxy.store._errors.mapped``); ``headers_for`` keeps the queued token
when Redis or the stored value fails.
"""

from __future__ import annotations

from typing import Final

from redis.asyncio import Redis

from zproxy.errors import StoreUnavailable
from zproxy.queue.crypto import Cipher, DecryptError
from zproxy.queue.model import QueuedWrite
from zproxy.store._errors import mapped

TOKEN_PREFIX: Final = "zq:tok:"  # noqa: S105 - a Redis key prefix

Headers = list[tuple[str, str]]


def _has_bearer(headers: Headers) -> bool:
    return any(n.lower() == "authorization" and v[:7].lower() == "bearer " for n, v in headers)


class GrantStore:
    def __init__(self, redis: Redis, cipher: Cipher) -> None:
        self._redis = redis
        self._cipher = cipher

    async def remember(self, principal: str, token: str, expires_in: float) -> None:
        """Keep the newest bearer token of a principal (encrypted, until it expires)."""
        with mapped("grant remember"):
            await self._redis.set(
                TOKEN_PREFIX + principal,
                self._cipher.encrypt(token.encode()),
                px=max(1, int(expires_in * 1000)),
            )

    async def newest(self, principal: str) -> str | None:
        try:
            with mapped("grant lookup"):
                stored = await self._redis.get(TOKEN_PREFIX + principal)
            raw = stored.encode() if isinstance(stored, str) else stored
            return self._cipher.decrypt(raw).decode() if raw else None
        except (StoreUnavailable, DecryptError):
            return None

    async def headers_for(self, write: QueuedWrite) -> Headers:
        """The write's headers, its bearer token replaced by its principal's newest."""
        headers = list(write.headers)
        if not _has_bearer(headers):
            return headers
        token = await self.newest(write.identity)
        if token is None:
            return headers
        return [
            (n, f"Bearer {token}") if n.lower() == "authorization" else (n, v) for n, v in headers
        ]

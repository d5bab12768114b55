"""Who is calling: the edge's side of identity scoping (the pure part is policy.keys).

Bearer tokens resolve to the principal learned from ``/oauth/token`` (so rotated tokens of one
client share cache entries); anything else, or a token never seen, hashes to its own principal.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from urllib.parse import parse_qs

import orjson
import structlog

from zproxy.errors import StoreUnavailable
from zproxy.policy.credentials import (
    Credential,
    credential_of,
    fallback_principal,
    principal_from_token_response,
    token_hash,
)
from zproxy.policy.headers import connection_named, safe_value
from zproxy.policy.keys import SCOPING_HEADERS, Hasher, Identity, identity_of
from zproxy.store.cache import CacheStore
from zproxy.store.principals import PrincipalStore

log = structlog.get_logger("zproxy.edge.identity")
#: Headers an identity is made of: when ``Connection`` names one, Zuora never receives it.
_IDENTITY_HEADERS = frozenset(
    {"authorization", "apiaccesskeyid", "apisecretaccesskey", "cookie"}
    | {name.lower() for name in SCOPING_HEADERS}
)
#: What a caller is computed from: the identity headers and ``Connection`` (exact pairs).
_MEMO_HEADERS = _IDENTITY_HEADERS | {"connection"}
#: How many distinct header sets ``Identities`` remembers the hashing of (LRU).
MEMO_SIZE = 4096
_MemoKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Caller:
    identity: Identity
    credential: Credential
    token_hash: str | None


def _identity_reaches_zuora(headers: Mapping[str, str]) -> bool:
    items = list(headers.items())
    if connection_named(items) & _IDENTITY_HEADERS:
        return False
    return all(safe_value(v) for k, v in items if k.lower() in _IDENTITY_HEADERS)


class Identities:
    def __init__(self, hasher: Hasher, principals: PrincipalStore, cache: CacheStore) -> None:
        self.hasher = hasher
        self.principals = principals
        self.cache = cache
        #: Told of every token grant (the write queue keeps the newest token per principal
        #: so replays after a long outage do not go out with an expired one).
        self.on_grant: Callable[[str, str, float], Awaitable[None]] | None = None
        #: The pure part of ``caller`` (parsing, HMACs), keyed by the exact header pairs it
        #: reads; None = no cacheable caller. The principal a token resolves to is not in it:
        #: ``PrincipalStore.lookup`` answers that on every request (grants, ``forget``).
        self._memo: OrderedDict[_MemoKey, Caller | None] = OrderedDict()
        #: id(base caller) -> (base, the caller with the principal its token resolved to).
        self._resolved: dict[int, tuple[Caller, Caller]] = {}

    async def caller(self, headers: Mapping[str, str]) -> Caller | None:
        """The request's identity, or None without credentials (never served from cache).

        None too when a header the identity is made of does not reach Zuora as it is: named
        by ``Connection``, or dropped as unsafe text (``safe_value``). Zuora's answer would
        not be the one this identity gets.
        """
        key = _memo_key(headers)
        memo = self._memo
        if key in memo:
            memo.move_to_end(key)
            base = memo[key]
        else:
            base = self._compute(headers)
            memo[key] = base
            if len(memo) > MEMO_SIZE:
                memo.popitem(last=False)
        if base is None or base.token_hash is None:
            return base
        try:
            principal = await self.principals.lookup(base.token_hash)
        except StoreUnavailable:
            principal = None
        if principal is None or principal == base.identity.principal:
            return base
        # One Caller per (headers, principal), not a new one per request. Keyed by the base
        # object's id: the entry holds the base itself, so that id cannot be reused meanwhile.
        held = self._resolved.get(id(base))
        if held is not None and held[0] is base and held[1].identity.principal == principal:
            return held[1]
        if len(self._resolved) >= MEMO_SIZE:
            self._resolved.clear()
        resolved = Caller(
            replace(base.identity, principal=principal), base.credential, base.token_hash
        )
        self._resolved[id(base)] = (base, resolved)
        return resolved

    def _compute(self, headers: Mapping[str, str]) -> Caller | None:
        """The caller as if its token were unknown (principal = ``fallback_principal``)."""
        if not _identity_reaches_zuora(headers):
            return None
        credential = credential_of(headers)
        if credential is None:
            return None
        th = token_hash(self.hasher, credential.value) if credential.kind == "token" else None
        principal = fallback_principal(self.hasher, credential)
        return Caller(identity_of(headers, principal), credential, th)

    def forget_headers(self, headers: Mapping[str, str]) -> None:
        """Drop the memo entry of these headers (a credential Zuora refused)."""
        self._memo.pop(_memo_key(headers), None)

    async def learn_token(self, request_body: bytes, response_body: bytes) -> None:
        """A ``/oauth/token`` 200 passed through: remember which principal the token is."""
        try:
            form = parse_qs(request_body.decode("ascii", "replace"))
            doc = orjson.loads(response_body)
        except (ValueError, orjson.JSONDecodeError):
            return
        if not isinstance(doc, dict):
            return
        client_ids = form.get("client_id") or []
        client_id = client_ids[0] if client_ids else None
        grant = principal_from_token_response(client_id, doc, self.hasher)
        if grant is None:
            return
        try:
            await self.principals.remember(
                token_hash(self.hasher, grant.access_token), grant.principal, grant.expires_in
            )
        except StoreUnavailable:
            log.warning("token_not_learned", reason="redis unavailable")
        if self.on_grant is None:
            return
        try:  # its own try: Zuora granted the token, so the client gets its 200 regardless
            await self.on_grant(grant.principal, grant.access_token, grant.expires_in)
        except StoreUnavailable:
            log.warning("grant_not_remembered", reason="redis unavailable")

    async def refused(self, headers: Mapping[str, str]) -> None:
        """Zuora answered 401/403: that credential's mapping and cached entries go."""
        caller = await self.caller(headers)
        self.forget_headers(headers)
        if caller is None:
            return
        try:
            if caller.token_hash is not None:
                await self.principals.forget(caller.token_hash)
            await self.cache.purge_principal(caller.identity.principal)
        except StoreUnavailable:
            log.warning("purge_after_401_failed", reason="redis unavailable")


def _memo_key(headers: Mapping[str, str]) -> _MemoKey:
    return tuple((k, v) for k, v in headers.items() if k.lower() in _MEMO_HEADERS)

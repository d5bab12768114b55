"""Identity scoping: who is asking, and the cache key an answer is stored under.

A cached Zuora answer is an authenticated answer (RFC 9111 §3.5), so zproxy acts as a private
cache per identity: the key covers the credential's principal, every header that selects the
tenant slice or the response shape, the method, the path and the canonical query (CONTRACT §2,
reliability-security §3.3). Raw tokens and secrets never appear in a key: everything identity
related is folded into an HMAC under a server secret.

Credentials and principals (who is asking) are ``policy.credentials``'; this module is the
key an answer is stored under.

Key layout (``cache_key``)::

    zc:e:{principal}:{digest}     digest = HMAC(identity, method, path, sorted query, body hash)

The store keeps its indexes beside it (``zc:t:`` tags, ``zc:p:`` principals, see
``zproxy.store.redis``); ``principal_of_key`` reads the principal back for the per-principal
index. Principals are short hex strings with a one-letter kind prefix and never contain ``:``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

KEY_PREFIX = "zc:"
ENTRY_PREFIX = "zc:e:"

#: Request headers that scope an entry besides the credential (normalized into ``Identity``).
SCOPING_HEADERS = (
    "Zuora-Entity-Ids",
    "Zuora-Org-Ids",
    "Zuora-Version",
    "X-Zuora-WSDL-Version",
    "Accept",
)

_DIGEST_CHARS = 32  # 128 bits of HMAC-SHA256 is plenty for a key


@dataclass(frozen=True, slots=True)
class Identity:
    """Everything that decides which cached answers a request may see.

    ``principal`` is opaque (already a keyed hash, never a raw token); the header values are
    normalized by ``identity_of``.
    """

    principal: str
    entity_ids: str = ""
    org_ids: str = ""
    version: str = ""
    wsdl_version: str = ""
    accept: str = ""
    #: Computed once: identities key in-process memos on every request.
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.principal or ":" in self.principal:
            raise ValueError("principal must be a non-empty opaque id without ':'")
        fields = (self.principal, self.entity_ids, self.org_ids, self.version)
        object.__setattr__(self, "_hash", hash((*fields, self.wsdl_version, self.accept)))

    def __hash__(self) -> int:
        return self._hash


class Hasher:
    """Keyed hashing (HMAC-SHA256) with the key schedule computed once."""

    __slots__ = ("_base",)

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the hashing secret must be at least 16 bytes")
        self._base = hmac.new(secret, digestmod=hashlib.sha256)

    def hash(self, *parts: str | bytes) -> str:
        """Hex digest (32 chars) of ``parts``; each part is length-prefixed, so
        ``("ab", "c")`` and ``("a", "bc")`` differ."""
        message = bytearray()  # one update() of the whole message: same digest, fewer calls
        for part in parts:
            raw = part.encode() if isinstance(part, str) else part
            message += len(raw).to_bytes(4, "big")
            message += raw
        h = self._base.copy()
        h.update(message)
        return h.hexdigest()[:_DIGEST_CHARS]


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive lookup that works for aiohttp's CIMultiDict and for plain dicts."""
    value = headers.get(name)
    if value is not None or isinstance(headers, CIMultiDictProxy | CIMultiDict):
        return value  # a case-insensitive mapping already looked everywhere
    lname = name.lower()
    for key, val in headers.items():
        if key.lower() == lname:
            return val
    return None


def identity_of(headers: Mapping[str, str], principal: str) -> Identity:
    """The identity of a request whose credential resolved to ``principal``."""
    return Identity(
        principal=principal,
        entity_ids=_id_list(header(headers, "Zuora-Entity-Ids")),
        org_ids=_id_list(header(headers, "Zuora-Org-Ids")),
        version=(header(headers, "Zuora-Version") or "").strip(),
        wsdl_version=(header(headers, "X-Zuora-WSDL-Version") or "").strip(),
        accept=(header(headers, "Accept") or "").strip().lower(),
    )


def _id_list(raw: str | None) -> str:
    if not raw:
        return ""
    return ",".join(sorted(part.strip() for part in raw.split(",") if part.strip()))


def canonical_query(raw_query: str) -> str:
    """The raw ``&``-separated parameters, stably sorted by their raw name.

    Nothing is decoded or re-encoded, so two keys only meet when Zuora receives the same
    parameters: ``b=2&a=1`` and ``a=1&b=2`` share an entry, while the order of repeated
    names (``a=2&a=1``) and spellings (``+`` vs ``%20``) are kept as sent.
    """
    if "&" not in raw_query:
        return raw_query
    return "&".join(sorted(raw_query.split("&"), key=_param_name))


def _param_name(segment: str) -> str:
    return segment.partition("=")[0]


def cache_key(
    hasher: Hasher,
    identity: Identity,
    method: str,
    path: str,
    raw_query: str,
    body_hash: str | None = None,
) -> str:
    """The store key of a cacheable request: ``zc:e:{principal}:{digest}``."""
    digest = hasher.hash(
        identity.principal,
        identity.entity_ids,
        identity.org_ids,
        identity.version,
        identity.wsdl_version,
        identity.accept,
        method.upper(),
        path,
        canonical_query(raw_query),
        body_hash or "",
    )
    return f"{ENTRY_PREFIX}{identity.principal}:{digest}"


def body_hash(hasher: Hasher, body: bytes) -> str:
    """Hash of a POST-read body (ZOQL, previews); the caller canonicalizes JSON first if it
    wants ``{"a":1,"b":2}`` and ``{"b":2,"a":1}`` to share an entry."""
    return hasher.hash("body", body)


def principal_of_key(key: str) -> str:
    """The principal a ``cache_key`` belongs to (for the per-principal index)."""
    if not key.startswith(ENTRY_PREFIX):
        raise ValueError("not a zproxy cache key")
    principal, sep, _ = key[len(ENTRY_PREFIX) :].partition(":")
    if not sep or not principal:
        raise ValueError("not a zproxy cache key")
    return principal


def request_body_digest(body: bytes) -> str:
    """The body part of a POST read's key: JSON that means the same shares a digest whatever
    its key order; anything else (not JSON, not UTF-8, nested deeper than the encoder goes,
    duplicate keys, numbers a float cannot hold exactly) is digested as the bytes sent, so it
    is still cached but only shared with the very same bytes. Never raises."""
    return hashlib.sha256(_canonical_json(body) or body).hexdigest()


def _canonical_json(body: bytes) -> bytes | None:
    try:
        doc = json.loads(
            body.decode("utf-8"),
            object_pairs_hook=_unique_keys,
            parse_float=_exact_float,
            parse_constant=_no_constant,
        )
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError, _NotCanonical):
        return None


class _NotCanonical(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        raise _NotCanonical  # which duplicate wins is the server's choice, not ours
    return doc


def _exact_float(text: str) -> float:
    value = float(text)
    if repr(value) != text:
        raise _NotCanonical  # 0.10000000000000001 and 0.1 must not share an entry
    return value


def _no_constant(text: str) -> float:
    raise _NotCanonical

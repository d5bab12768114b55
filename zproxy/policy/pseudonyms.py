"""Pseudonyms for traffic recordings (pure): identifiers in paths, identities, body shapes.

A recording must let a replay send "the same mix to the same accounts as the same callers"
without holding any of them. Every identifier becomes ``@kind.HASH``: an HMAC-SHA256 of the
value under a key drawn per recording, so one account is one pseudonym within a recording and
another in the next, and nobody without the key (discarded with the recorder) can test a guess.

Which path segments are identifiers comes from the route table: every ``{param}`` of the
matched template is one (except ``VOCABULARY`` params such as ``{object}`` whose values are
Zuora's own words); segments of ``{rest*}`` tails and of unmatched paths are judged by
``looks_like_id``. Query keys stay, their values never do. Bodies keep their keys and the JSON
types of their values, never a value, except fields naming an account or subscription, whose
value becomes that object's pseudonym (so a replay writes to the account the path names).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

#: ``@kind.HASH`` as written into recorded paths and shapes.
PSEUDONYM = re.compile(r"@([a-z_][a-z0-9_]*)\.([0-9a-f]{16})")
HASH_CHARS = 16
#: Route params whose values are Zuora vocabulary (object names, actions), not identifiers.
VOCABULARY = frozenset({"object", "action"})
#: Body fields whose value names an object: recorded as that object's pseudonym.
ID_FIELDS: Mapping[str, str] = {
    "accountNumber": "account",
    "existingAccountNumber": "account",
    "accountKey": "account",
    "accountId": "account",
    "subscriptionNumber": "subscription",
    "subscriptionKey": "subscription",
}
_WORD = re.compile(r"[A-Za-z][A-Za-z_-]{0,39}")
_VERSION = re.compile(r"v\d{1,2}")
_PARAM = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)(\*?)\}")
_KIND = re.compile(r"[^a-z0-9_]")
MAX_DEPTH = 12
MAX_KEYS = 200


def looks_like_id(segment: str) -> bool:
    """A path segment that may identify someone or something: anything but a plain word
    (``summary``, ``productRatePlan``) or an API version (``v1``)."""
    return not (_WORD.fullmatch(segment) or _VERSION.fullmatch(segment))


def kind_of(param: str) -> str:
    """``{account}`` -> ``account``; a name that is not a plain lowercase word -> ``id``."""
    kind = param.lower()
    return "id" if _KIND.search(kind) or not kind or kind[0].isdigit() else kind


class Pseudonyms:
    """Keyed pseudonyms for one recording. ``key`` is secret: keep it out of the recording."""

    __slots__ = ("_key", "_memo")

    #: Values remembered (the hot path sees the same accounts and tokens again and again).
    MEMO = 4096

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a pseudonym key needs at least 16 bytes")
        self._key = key
        self._memo: dict[str, str] = {}

    def __repr__(self) -> str:
        return "Pseudonyms(key=<secret>)"

    def of(self, kind: str, value: str) -> str:
        """``@kind.HASH`` of ``value`` (the hash ignores ``kind``: one value, one hash)."""
        hashed = self._memo.get(value)
        if hashed is None:
            raw = value.encode("utf-8", "surrogateescape")
            hashed = hmac.digest(self._key, raw, hashlib.sha256).hex()[:HASH_CHARS]
            if len(self._memo) >= self.MEMO:
                self._memo.clear()
            self._memo[value] = hashed
        return f"@{kind}.{hashed}"

    def segment(self, segment: str) -> str:
        return self.of("id", segment) if looks_like_id(segment) else segment

    def tail(self, tail: str) -> str:
        """A ``{rest*}`` value (``""`` or ``/a/b``): each segment judged on its own."""
        return "/".join(self.segment(s) if s else s for s in tail.split("/"))

    def path(self, path: str, template: str | None, params: Mapping[str, str] | None) -> str:
        """``path`` with its identifiers replaced; ``template``/``params`` from the route
        match (None for an unmatched path)."""
        if template is None or params is None:
            return self.tail(path)

        def one(m: re.Match[str]) -> str:
            name, star = m.group(1), m.group(2)
            value = params.get(name, "")
            if star:
                return self.tail(value)
            if name in VOCABULARY and not looks_like_id(value):
                return value
            return self.of(kind_of(name), value)

        return _PARAM.sub(one, template)

    def query(self, query: str) -> str:
        """Keys kept (unless they look like values), every value replaced by ``_``."""
        if not query:
            return ""
        out = []
        for part in query.split("&"):
            key, eq, _ = part.partition("=")
            key = self.segment(key) if key else key
            out.append(f"{key}=_" if eq else key)
        return "&".join(out)

    def shape(self, doc: Any, depth: int = 0) -> Any:
        """A JSON document's shape: keys kept, values replaced by their type names (``str``,
        ``num``, ``bool``, ``null``); a list by the merged shape of its items; id fields by
        pseudonyms. Bounded in depth and keys."""
        if depth >= MAX_DEPTH:
            return "deep"
        if isinstance(doc, dict):
            out: dict[str, Any] = {}
            for key, value in list(doc.items())[:MAX_KEYS]:
                name = str(key) if not looks_like_id(str(key)) else self.of("key", str(key))
                kind = ID_FIELDS.get(name)
                if kind is not None and isinstance(value, str | int) and str(value):
                    out[name] = self.of(kind, str(value))
                else:
                    out[name] = self.shape(value, depth + 1)
            return out
        if isinstance(doc, list):
            merged: Any = None
            for item in doc[:MAX_KEYS]:
                merged = _merge(merged, self.shape(item, depth + 1))
            return [] if merged is None else [merged]
        if isinstance(doc, bool):
            return "bool"
        if isinstance(doc, int | float):
            return "num"
        if isinstance(doc, str):
            return "str"
        return "null"


def _merge(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for key, value in b.items():
            out[key] = _merge(out.get(key), value)
        return out
    return a

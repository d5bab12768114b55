"""Who is asking: the request's credential, and the principal it resolves to.

Part of the policy core beside ``policy.keys`` (the identity and the cache key built from the
principal, whose ``Hasher`` and ``header`` this uses). Raw tokens and secrets never leave as
they are: a principal is a keyed hash (``fallback_principal``) or the hash of an OAuth grant
(``principal_from_token_response``); ``Credential.value`` is not in the repr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from zproxy.policy.keys import Hasher, header

CredentialKind = Literal["token", "basic", "session", "mixed"]


@dataclass(frozen=True, slots=True)
class Credential:
    """What the request authenticates with. ``value`` is secret: it is not in the repr."""

    kind: CredentialKind
    value: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What ``POST /oauth/token`` taught us: ``remember(hash(access_token), principal, ttl)``."""

    principal: str
    access_token: str = field(repr=False)
    expires_in: float


def credential_of(headers: Mapping[str, str]) -> Credential | None:
    """The request's credential, or None when it has no complete one (the caller bypasses).

    Bearer token -> ``token``; ``apiAccessKeyId`` + ``apiSecretAccessKey`` or HTTP Basic ->
    ``basic``; a ``ZSession`` cookie -> ``session``. A request carrying more than one gets
    kind ``mixed`` over all of them, so we never guess which one Zuora will honour.
    """
    found: list[tuple[CredentialKind, str]] = []
    auth = (header(headers, "Authorization") or "").strip()
    scheme, _, rest = auth.partition(" ")
    rest = rest.strip()
    if rest and scheme.lower() == "bearer":
        found.append(("token", rest))
    elif rest and scheme.lower() == "basic":
        found.append(("basic", "http-basic\x00" + rest))
    elif auth:
        return None  # an authorization scheme we do not understand: never cache
    key_id = (header(headers, "apiAccessKeyId") or "").strip()
    secret = (header(headers, "apiSecretAccessKey") or "").strip()
    if key_id and secret:
        found.append(("basic", key_id + "\x00" + secret))
    elif key_id or secret:
        return None  # half a legacy credential: Zuora will refuse it
    session = _cookie(header(headers, "Cookie"), "ZSession")
    if session:
        found.append(("session", session))
    if not found:
        return None
    if len(found) == 1:
        return Credential(*found[0])
    return Credential("mixed", "\x01".join(f"{kind}\x00{value}" for kind, value in found))


def _cookie(raw: str | None, name: str) -> str | None:
    if not raw:
        return None
    for pair in raw.split(";"):
        key, sep, value = pair.strip().partition("=")
        if sep and key == name and value:
            return value.strip().strip('"')
    return None


def token_hash(hasher: Hasher, token: str) -> str:
    """The id under which a bearer token's principal is remembered (never the raw token)."""
    return hasher.hash("token", token)


def fallback_principal(hasher: Hasher, credential: Credential) -> str:
    """The principal of a credential nobody told us about: a keyed hash of the credential.

    For a bearer token this is ``"t" + token_hash``: entries are per token until the token's
    grant is learned from ``/oauth/token``.
    """
    if credential.kind == "token":
        return "t" + token_hash(hasher, credential.value)
    return credential.kind[0] + hasher.hash(credential.kind, credential.value)


def principal_from_token_response(
    client_id: str | None, body: Mapping[str, Any], hasher: Hasher
) -> TokenGrant | None:
    """Derive a stable principal from a ``/oauth/token`` 200 body, or None when unusable.

    The principal hashes the client id and the sorted ``scope`` words (``user.X entity.Y
    tenant.N ...``), so two tokens of one client share entries while a client whose grant
    changed gets a fresh scope. ``expires_in`` defaults to 3600 s (as IronBank assumes).
    """
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        return None
    scope = body.get("scope")
    words = sorted(scope.split()) if isinstance(scope, str) else []
    if not words and not client_id:
        return None
    expires = body.get("expires_in", 3600)
    if isinstance(expires, bool) or not isinstance(expires, int | float) or expires <= 0:
        expires = 3600
    principal = "o" + hasher.hash("oauth", client_id or "", " ".join(words))
    return TokenGrant(principal=principal, access_token=token, expires_in=float(expires))

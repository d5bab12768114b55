"""OAuth client credentials, bearer tokens and the legacy key headers.

Default: any 36-character ``client_id`` with a non-empty secret of at most 42 characters is
accepted, and every client belongs to tenant 1. A clients file restricts credentials and may
put clients in other tenants (each tenant has its own seeded data)::

    # clients.yaml: client_id -> secret, or -> {secret, tenant}
    0b3f8f0e-1111-4c6e-9a55-3f1d2c4b5a60: s3cret
    7c4d5433-2222-4c36-9a01-b9719ecd059f: {secret: other, tenant: 2}
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from zproxy.clock import Clock

TOKEN_LIFETIME = 3599
CLIENT_ID_LENGTH = 36
MAX_SECRET_LENGTH = 42
DEFAULT_TENANT = 1


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    tenant: int


def _read_mapping(path: Path) -> Mapping[str, Any]:
    text = path.read_text(encoding="utf-8")
    data = orjson.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a mapping of client_id -> secret")
    return data


def _entry(path: Path, client_id: Any, value: Any) -> tuple[str, str, int]:
    if isinstance(value, Mapping):
        secret, tenant = value.get("secret"), value.get("tenant", DEFAULT_TENANT)
    else:
        secret, tenant = value, DEFAULT_TENANT
    if not isinstance(client_id, str) or not isinstance(secret, str) or not secret:
        raise ValueError(f"{path}: client {client_id!r} needs a non-empty string secret")
    if isinstance(tenant, bool) or not isinstance(tenant, int) or tenant < 1:
        raise ValueError(f"{path}: client {client_id!r}: tenant must be a positive integer")
    return client_id, secret, tenant


def load_clients(path: Path | str) -> dict[str, str]:
    """A YAML or JSON file mapping client_id -> client_secret (or -> {secret, tenant})."""
    path = Path(path)
    return {
        cid: secret
        for cid, secret, _ in (_entry(path, k, v) for k, v in _read_mapping(path).items())
    }


def load_tenants(path: Path | str) -> dict[str, int]:
    """The tenant of each client in a clients file (1 unless the entry names one)."""
    path = Path(path)
    return {
        cid: tenant
        for cid, _, tenant in (_entry(path, k, v) for k, v in _read_mapping(path).items())
    }


def entity_id(tenant: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-zuora/entity/{tenant}"))


@dataclass(slots=True)
class AuthService:
    clock: Clock
    clients: dict[str, str] | None = None
    tenants: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, tuple[Principal, float]] = field(default_factory=dict)

    def tenant_of(self, client_id: str) -> int:
        return self.tenants.get(client_id, DEFAULT_TENANT)

    def check_client(self, client_id: str, secret: str) -> bool:
        if self.clients is None:
            return len(client_id) == CLIENT_ID_LENGTH and 0 < len(secret) <= MAX_SECRET_LENGTH
        expected = self.clients.get(client_id)
        return expected is not None and hmac.compare_digest(expected.encode(), secret.encode())

    def check_legacy(self, key_id: str, secret: str) -> Principal | None:
        """``apiAccessKeyId``/``apiSecretAccessKey``: any non-empty pair, or a listed client."""
        if self.clients is None:
            ok = bool(key_id) and bool(secret)
        else:
            ok = self.check_client(key_id, secret)
        return Principal(key_id, self.tenant_of(key_id)) if ok else None

    def issue(self, client_id: str) -> dict[str, Any]:
        """A token response; the scope depends only on the client, so it is stable."""
        now = self.clock.time()
        if len(self.tokens) >= 10_000:
            self.tokens = {t: v for t, v in self.tokens.items() if v[1] > now}
        token = secrets.token_hex(16)
        principal = Principal(client_id, self.tenant_of(client_id))
        self.tokens[token] = (principal, now + TOKEN_LIFETIME)
        user = hashlib.sha256(client_id.encode()).hexdigest()[:32]
        return {
            "access_token": token,
            "expires_in": TOKEN_LIFETIME,
            "jti": secrets.token_hex(16),
            "scope": f"user.{user} entity.{entity_id(principal.tenant)} tenant.{principal.tenant}",
            "token_type": "bearer",
        }

    def resolve_bearer(self, token: str) -> Principal | None:
        found = self.tokens.get(token)
        if found is None:
            return None
        principal, expires_at = found
        if expires_at <= self.clock.time():
            del self.tokens[token]
            return None
        return principal

    def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        auth = headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            return self.resolve_bearer(auth[7:].strip())
        key_id = headers.get("apiAccessKeyId")
        if key_id is not None:
            return self.check_legacy(key_id, headers.get("apiSecretAccessKey", ""))
        return None

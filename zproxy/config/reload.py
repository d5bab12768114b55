"""What a config reload may change: the pure part of ``POST /admin/config/reload`` and SIGHUP.

``restart_only_changes`` names the settings whose new value cannot take effect in a running
process (its sockets, its Redis, its queue, its keys); a reload that changes any of them is
refused whole, naming each. ``config_hash`` identifies the settings in force
(``zproxy_config_info{hash}``) without exposing a secret.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from zproxy.config.model import HostPort, Settings
from zproxy.policy.routes import RouteTable

#: Setting -> how an operator sets it (the environment variable or flag, else the file key).
RESTART_ONLY: tuple[tuple[str, Callable[[Settings], Any]], ...] = (
    ("server.listen (ZPROXY_LISTEN, --listen)", lambda s: s.server.listen),
    ("server.admin_listen (ZPROXY_ADMIN_LISTEN, --admin-listen)", lambda s: s.server.admin_listen),
    ("server.workers (ZPROXY_WORKERS, --workers)", lambda s: s.server.workers),
    ("server.tls_cert (ZPROXY_TLS_CERT, --tls-cert)", lambda s: s.server.tls_cert),
    ("server.tls_key (ZPROXY_TLS_KEY, --tls-key)", lambda s: s.server.tls_key),
    ("server.keepalive_timeout", lambda s: s.server.keepalive_timeout),
    ("redis.url (ZPROXY_REDIS_URL, --redis)", lambda s: s.redis.url),
    ("redis.socket_timeout", lambda s: s.redis.socket_timeout),
    ("data_dir (ZPROXY_DATA_DIR, --data-dir)", lambda s: s.data_dir),
    ("upstream.url (ZPROXY_UPSTREAM_URL, --upstream)", lambda s: s.upstream.url),
    ("upstream.pools", lambda s: dict(s.upstream.pools)),
    ("upstream.pool_wait", lambda s: s.upstream.pool_wait),
    ("breakers", lambda s: dict(s.breakers)),
    ("queue", lambda s: s.queue),
    ("cache.secret (ZPROXY_CACHE_SECRET)", lambda s: s.cache.secret),
    ("admin_token (ZPROXY_ADMIN_TOKEN)", lambda s: s.admin_token),
    ("log", lambda s: s.log),
)

_NOWHERE = HostPort("", 0)


def restart_only_changes(old: Settings, new: Settings) -> list[str]:
    """The restart-only settings ``new`` changes, by name (never their values: some are
    secrets)."""
    return [name for name, get in RESTART_ONLY if get(old) != get(new)]


def refusal(changed: list[str]) -> list[str]:
    return [f"{name}: cannot change without a restart" for name in changed]


def config_hash(settings: Settings) -> str:
    """12 hex digits of SHA-256 over the settings in a canonical form (sets sorted), secrets
    left out (they are restart-only, or only authenticate callouts), and so are what differs
    from process to process of one fleet (addresses, data dir, the Redis URL): processes in
    force of one config show one hash."""
    public = replace(
        settings,
        server=replace(settings.server, listen=_NOWHERE, admin_listen=_NOWHERE, workers=0),
        redis=replace(settings.redis, url=""),
        data_dir=Path(),
        admin_token=None,
        cache=replace(settings.cache, secret=None, callout_secret=None),
        queue=replace(settings.queue, encryption_key=None),
    )
    text = json.dumps(_canonical(public), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _canonical(value: Any) -> Any:
    if isinstance(value, RouteTable):
        return [_canonical(route) for route in value.routes]
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in fields(value) if f.repr}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def journeys_of(settings: Settings) -> dict[str, str]:
    """Route name -> journey."""
    return {route.name: route.journey for route in settings.routes.routes}

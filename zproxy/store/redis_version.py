"""Which Redis zproxy will use, for the start-up line; an external one older than 7.2 is refused.

Embedded: the binary ``find_redis_server`` picks and its ``--version``. External: one ``INFO
server`` with a short timeout; a server that cannot be reached yet is not an error (zproxy
starts unready and ``/readyz`` says why), one that answers with an old version is.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import redis

from zproxy.config.redis_url import parse_redis_url
from zproxy.errors import ConfigError
from zproxy.store.embedded import MIN_REDIS_VERSION, find_redis_server, server_version


def _numbers(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def _where(url: str) -> str:
    """scheme://host:port, never the password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"


def describe_redis(url: str, timeout: float = 2.0) -> dict[str, str]:
    """Fields for the start-up line: ``redis`` (embedded or where), ``redis_server`` (binary or
    server name) and ``redis_version``."""
    minimum = ".".join(map(str, MIN_REDIS_VERSION))
    if url == "embedded":
        binary = find_redis_server()
        version = server_version(binary)
        return {
            "redis": "embedded",
            "redis_server": binary,
            "redis_version": ".".join(map(str, version)) if version else "unknown",
        }
    target = parse_redis_url(url)
    if target.mode in ("sentinel", "cluster"):
        # A fleet's topology: /readyz and the topology metric report what zproxy sees.
        return {"redis": target.display, "redis_server": target.mode, "redis_version": "unknown"}
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        info = client.info("server")
    except redis.RedisError:
        return {"redis": _where(url), "redis_server": "unreachable", "redis_version": "unknown"}
    finally:
        client.close()
    name = str(info.get("server_name") or "redis")
    compatible = str(info.get("redis_version", "0"))
    actual = str(info.get(f"{name}_version") or compatible)
    if _numbers(compatible)[:2] < MIN_REDIS_VERSION:
        raise ConfigError(
            [
                f"ZPROXY_REDIS_URL: {_where(url)} is Redis {compatible}; zproxy needs "
                f">= {minimum} (WAITAOF, XAUTOCLAIM reporting deleted entries)"
            ]
        )
    return {"redis": _where(url), "redis_server": name, "redis_version": actual}

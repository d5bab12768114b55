"""What a ``ZPROXY_REDIS_URL`` names: one Redis, a Sentinel-monitored primary, or a Cluster.

Pure parsing (no redis import): ``parse_redis_url`` returns a ``RedisTarget`` or raises
``ValueError`` with a message fit for a one-line start-up error (never echoing a password).

Accepted: ``embedded``; ``redis://``, ``rediss://``, ``unix://`` (redis-py's own syntax);
``redis+sentinel://[user:pass@]HOST:PORT,HOST:PORT,.../MASTER_NAME[/DB]`` (``rediss+sentinel``:
TLS to the data nodes and the sentinels); ``redis+cluster://[user:pass@]HOST:PORT,...``
(``rediss+cluster``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import unquote

Mode = Literal["embedded", "standalone", "sentinel", "cluster"]
Address = tuple[str, int]

SCHEMES: Final = (
    "redis://",
    "rediss://",
    "unix://",
    "redis+sentinel://",
    "rediss+sentinel://",
    "redis+cluster://",
    "rediss+cluster://",
)
_FLEET: Final = re.compile(r"^(rediss?)\+(sentinel|cluster)://(?:([^@/]*)@)?([^/?#]*)(/[^?#]*)?$")
_HOST: Final = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})$")


@dataclass(frozen=True, slots=True)
class RedisTarget:
    mode: Mode
    #: The URL as configured (``standalone``: handed to redis-py as is).
    url: str
    hosts: tuple[Address, ...] = ()
    master_name: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @property
    def display(self) -> str:
        """The URL without credentials (for logs and start-up lines)."""
        if self.mode in ("embedded", "standalone"):
            return re.sub(r"//[^@/]*@", "//", self.url)
        scheme = ("rediss+" if self.tls else "redis+") + self.mode
        hosts = ",".join(f"{h}:{p}" for h, p in self.hosts)
        tail = f"/{self.master_name}" if self.mode == "sentinel" else ""
        return f"{scheme}://{hosts}{tail}"


def parse_redis_url(url: str) -> RedisTarget:
    if url == "embedded":
        return RedisTarget("embedded", url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisTarget("standalone", url)
    match = _FLEET.match(url)
    if match is None:
        raise ValueError(
            "must be 'embedded' or a redis://, rediss://, unix://, redis+sentinel://HOST:PORT,"
            ".../MASTER or redis+cluster://HOST:PORT,... URL"
        )
    scheme, mode, userinfo, hostlist, path = match.groups()
    hosts = tuple(_address(part) for part in hostlist.split(","))
    username, password = _credentials(userinfo)
    segments = [s for s in (path or "").split("/") if s]
    if mode == "cluster":
        if segments:
            raise ValueError("a redis+cluster:// URL takes no path (Cluster has one database)")
        return RedisTarget(
            "cluster", url, hosts, username=username, password=password, tls=scheme == "rediss"
        )
    if not segments or len(segments) > 2:
        raise ValueError("a redis+sentinel:// URL ends in /MASTER_NAME (optionally /DB)")
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise ValueError("the database after the master name must be a number")
        db = int(segments[1])
    return RedisTarget(
        "sentinel",
        url,
        hosts,
        master_name=unquote(segments[0]),
        db=db,
        username=username,
        password=password,
        tls=scheme == "rediss",
    )


def _address(part: str) -> Address:
    match = _HOST.match(part.strip())
    if match is None:
        raise ValueError(f"{part.strip()!r} is not HOST:PORT")
    port = int(match.group(2))
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is out of range")
    return match.group(1).strip("[]"), port


def _credentials(userinfo: str | None) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, sep, password = userinfo.partition(":")
    if not sep:
        return None, unquote(user)  # redis://secret@host: a password alone
    return (unquote(user) or None), unquote(password)

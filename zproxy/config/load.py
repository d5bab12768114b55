"""Loading settings: the one entry (``load_settings``).

Precedence: the YAML file (``config/zproxy.yaml``), then ``ZPROXY_*`` environment variables,
then command-line flags. Every problem is reported with its location; any problem stops
start-up (exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from zproxy.config.model import Settings
from zproxy.config.parse import parse_settings
from zproxy.errors import ConfigError

#: Environment variable -> dotted setting.
ENV_VARS: Mapping[str, str] = {
    "ZPROXY_UPSTREAM_URL": "upstream.url",
    "ZPROXY_LISTEN": "server.listen",
    "ZPROXY_ADMIN_LISTEN": "server.admin_listen",
    "ZPROXY_REDIS_URL": "redis.url",
    "ZPROXY_DATA_DIR": "data_dir",
    "ZPROXY_ADMIN_TOKEN": "admin_token",
    "ZPROXY_LOG_FORMAT": "log.format",
    "ZPROXY_LOG_LEVEL": "log.level",
    "ZPROXY_CACHE_SECRET": "cache.secret",
    "ZPROXY_CALLOUT_SECRET": "cache.callout_secret",
    "ZPROXY_QUEUE_KEY": "queue.encryption_key",
    "ZPROXY_CA_BUNDLE": "upstream.ca_bundle",
    "ZPROXY_TLS_CERT": "server.tls_cert",
    "ZPROXY_TLS_KEY": "server.tls_key",
    "ZPROXY_WORKERS": "server.workers",
}


def default_config_path() -> Path | None:
    """``$ZPROXY_CONFIG``, else ``./config/zproxy.yaml``, else the one beside the package."""
    env = os.environ.get("ZPROXY_CONFIG")
    if env:
        return Path(env)
    for candidate in (
        Path("config/zproxy.yaml"),
        Path(__file__).resolve().parent.parent.parent / "config" / "zproxy.yaml",
    ):
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load file -> env -> overrides (dotted keys); raise ConfigError listing every problem."""
    raw, origin = _read_file(path if path is not None else default_config_path())
    origins: dict[str, str] = {}
    for name, dotted in ENV_VARS.items():
        value = (os.environ if env is None else env).get(name)
        if value is not None and value != "":
            _set_dotted(raw, dotted, value)
            origins[dotted] = name
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, dotted, value)
            origins[dotted] = "--" + dotted.rsplit(".", 1)[-1].replace("_", "-")
    return parse_settings(raw, origin, origins)


def _read_file(path: Path | None) -> tuple[dict[str, Any], str]:
    if path is None:
        return {}, "defaults"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError([f"{where}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from None
    if data is None:
        return {}, str(path)
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: top level must be a mapping"])
    return data, str(path)


def _set_dotted(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[leaf] = value

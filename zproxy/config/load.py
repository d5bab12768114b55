"""Loading settings: the one entry (``load_settings``).

Precedence: the YAML file (``default_config_path``), then ``ZPROXY_*`` environment variables,
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
    "ZPROXY_QUEUE_DURABILITY": "queue.durability",
    "ZPROXY_CA_BUNDLE": "upstream.ca_bundle",
    "ZPROXY_TLS_CERT": "server.tls_cert",
    "ZPROXY_TLS_KEY": "server.tls_key",
    "ZPROXY_WORKERS": "server.workers",
    "ZPROXY_RECORD": "server.record",
    "ZPROXY_ROLLBACK_WINDOW": "rollback.window",
    "ZPROXY_ROLLBACK_ERROR_RATE": "rollback.error_rate",
}

#: ``zproxy serve`` flag -> dotted setting: problems name the flag the operator typed.
FLAGS: Mapping[str, str] = {
    "--upstream": "upstream.url",
    "--listen": "server.listen",
    "--admin-listen": "server.admin_listen",
    "--redis": "redis.url",
    "--data-dir": "data_dir",
    "--workers": "server.workers",
    "--record": "server.record",
    "--tls-cert": "server.tls_cert",
    "--tls-key": "server.tls_key",
}
_FLAG_OF = {dotted: flag for flag, dotted in FLAGS.items()}


def shipped_file(name: str) -> Path | None:
    """A file of the top-level ``config/`` directory (``zproxy.yaml``, ``scenarios``): the
    checkout's, else the copy shipped inside the installed package (``zproxy/_data``)."""
    package = Path(__file__).resolve().parent.parent
    for base in (package.parent / "config", package / "_data"):
        if (base / name).exists():
            return base / name
    return None


def default_config_path() -> Path | None:
    """``$ZPROXY_CONFIG``, else ``./config/zproxy.yaml``, else the shipped route table."""
    env = os.environ.get("ZPROXY_CONFIG")
    if env:
        return Path(env)
    local = Path("config/zproxy.yaml")
    if local.is_file():
        return local
    return shipped_file("zproxy.yaml")


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
            origins[dotted] = _FLAG_OF.get(dotted) or "--" + dotted.rsplit(".", 1)[-1]
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

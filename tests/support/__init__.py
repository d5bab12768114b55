"""Helpers shared by every test folder, each defined once: launching zproxy (``stack``), HTTP
(``http``), metrics, the fake Zuora (``fake``), the echo upstream, polling, time fakes and
fixtures (``fakes``), queued writes (``queue``) and the store contract harness (``harness``).

The names most tests need are importable from ``tests.support`` directly."""

from tests.support.polling import eventually
from tests.support.stack import (
    CACHE_SECRET,
    FAST,
    QUEUE_KEY,
    ROOT,
    SHIPPED_CONFIG,
    StartZproxy,
    launch,
    restart,
    write_config,
    zproxy_stack,
)

__all__ = [
    "CACHE_SECRET",
    "FAST",
    "QUEUE_KEY",
    "ROOT",
    "SHIPPED_CONFIG",
    "StartZproxy",
    "eventually",
    "launch",
    "restart",
    "write_config",
    "zproxy_stack",
]

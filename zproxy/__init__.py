"""zproxy: an async reverse proxy between CustomersDot and Zuora.

Request flow: ``proxy`` (HTTP edge) -> ``policy`` (pure decisions) -> ``store`` (cached reads)
or ``upstream`` (Zuora, guarded by breaker, retry and limits) -> on outage, writes go to
``queue`` -> ``queue.replayer`` drains once Zuora is back. ``app`` wires it all together.
"""

__version__ = "0.1.0"

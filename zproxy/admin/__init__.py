"""The operator's side, on the admin port: ``app`` (``/metrics``, ``/healthz``, ``/readyz``),
``api`` (``/admin/...``: queued writes, cache purge, breaker modes; token-guarded) and
``queue_cli`` (``zproxy queue ls|show|retry|drop``, a client of ``api``). Sits beside ``edge``:
it reads the same services, it never serves CustomersDot."""

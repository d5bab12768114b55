"""The durable write queue: where writes go when Zuora is down, and how they come back.

Place in the request flow: ``edge.writes`` asks ``policy.writes.decide_write`` (or, after a failed
forward, ``on_forward_failure``); on ``Queue`` it builds a ``QueuedWrite`` and awaits
``WriteQueue.enqueue``, answering 202 only when that returns (the write is fsynced), 503 on
``NotDurable`` / ``StoreUnavailable`` and 422 on ``IdempotencyMismatch``. The ``Replayer``
(started by ``service``) drains the queue through the upstream client once the write breaker lets
requests through, per order key in the order accepted, and reports each outcome to a listener
(cache purge, metrics). The admin API reads ``list``/``get`` through ``redacted_view``.

Modules: ``model`` (the write, its record, JSON codec), ``store`` (protocol + in-memory),
``redis_queue`` + ``redis_scripts`` + ``redis_support`` (Redis streams, Lua, the client),
``durability`` (is Redis safe to promise a 202 with), ``crypto`` (encryption at rest),
``redact`` (operator views), ``replayer`` (the drain loop), ``service`` (one process's queue:
enqueue, replay through the gateway, outcomes), ``pending`` (which order keys have
writes waiting: reads' ``detail=pending-writes``, live writes that must not overtake).
"""

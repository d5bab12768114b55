"""Storage of cached reads: the step after ``zproxy.policy.reads`` decided to serve or to store.

Flow: ``edge.reads`` builds an ``Identity`` and a key (``zproxy.policy.keys``), asks the
``CacheStore`` for the entry (one Redis round trip), lets ``decide_read`` choose, and stores
storable answers back with their tags. ``principals`` maps bearer tokens to the principal
learned from ``/oauth/token``; ``coalesce`` makes concurrent misses of one key cost one
upstream call.

Modules: ``cache`` (``CacheEntry``, the ``CacheStore`` protocol), ``codec`` (bytes in Redis;
``zdict`` its zstd dictionary of Zuora-shaped JSON),
``memory`` (dict store for tests), ``redis`` (the real store), ``principals``, ``coalesce``,
``embedded`` (the redis-server zproxy starts for itself), ``connect`` (every Redis client zproxy
builds: one retry on a fresh connection). Redis exceptions become ``zproxy.errors``
errors in ``_errors.mapped`` (the write queue uses it too) and go no further.
"""

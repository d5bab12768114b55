"""Pure decisions, no I/O: which route a request is, how its identity scopes the cache,
whether a read is served from cache, and whether a write is forwarded, queued or refused.

Nothing in this package imports aiohttp, redis or asyncio; the HTTP edge (``zproxy.edge``)
executes the actions these functions return.
"""

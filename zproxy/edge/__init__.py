"""The HTTP edge: where a CustomersDot request enters and its answer leaves.

Flow: ``server`` (aiohttp's low-level server, parser limits) -> ``handler`` (validate the target,
match the route, one log event and one metrics report per request; pass-through streaming)
-> ``reads`` (``policy.reads.decide_read``, then the cache store or the gateway), ``writes``
(``policy.writes.decide_write``, then the gateway or ``queue.service``) or ``internal``
(``/_zproxy/...``). ``exchange`` is the one request's state and body reading; ``identity`` turns
headers into the caller whose cache scope a read uses; ``responses`` renders Zuora-shaped
errors; ``services`` holds the collaborators ``app`` wired.
"""

"""Everything between a policy decision to call Zuora and the bytes on the wire.

Where it sits in the flow: ``edge`` (HTTP edge) -> ``policy`` (pure decisions) -> here, for
requests that must reach Zuora -> Zuora. One upstream call, outside in:

1. ``retry.RetryPolicy.run(attempt, is_retryable=...)``: retry-safe requests only (others
   call ``attempt`` once); backoff with full jitter, bounded by a deadline, an attempt limit
   and a shared ``RetryBudget``. ``BreakerOpen`` and ``LimiterRejected`` are not retryable.
2. Each attempt: ``breaker.BreakerSet[group].acquire()`` (per route group, "reads" and
   "writes" by default); a ``Rejected`` means the circuit is open: the edge serves stale,
   queues the write, or answers 503 with ``Retry-After``. ``breaker_sync.BreakerSync`` shares
   transitions and forced modes between processes through Redis.
3. ``limiter.ConcurrencyLimiter.slot(pool)``: keeps zproxy under Zuora's concurrency limits
   and holds a pool back while a 429's ``Retry-After`` cooldown runs.
4. The client sends the request; ``zproxy.policy.outcomes.classify_outcome(status, error)``
   gives the ``Outcome`` for ``breaker.record(permit, outcome)`` (always recorded, also on
   cancellation); a 429 feeds ``limiter.note_retry_after`` via
   ``zproxy.policy.retry_after.parse_retry_after``.

Listeners (``TransitionListener``, ``BudgetListener``, ``LimiterListener``) are how these
components report to ``zproxy.observability``; none of them imports prometheus.
"""

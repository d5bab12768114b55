"""A stateful fake of the Zuora REST API that fails on command.

Where it sits in the request flow: it *is* the upstream. CustomersDot (or a test, benchmark or
scenario driver) -> zproxy -> ``upstream`` -> **fake Zuora**. Run it with
``zproxy fake-zuora [--listen HOST:PORT] [--seed N] [--clients FILE]`` or import it::

    app = create_app(seed=0, clients=None, clock=None)      # aiohttp Application
    await serve("127.0.0.1", 18080, seed=0, clients_file=None)   # until cancelled
    async with running_fake_zuora(clock=FakeClock()) as fz:       # tests: free port
        fz.url, fz.fake.ledger.entries, await fz.token(session)

Zuora behaviour (zuora-api.md §1-§4, §7)
  * ``POST /oauth/token`` (form: client_id, client_secret, grant_type=client_credentials).
    Default: any 36-char client_id and a secret of 1-42 chars; ``clients`` restricts. Token:
    32 hex, ``expires_in`` 3599 (on the injected clock), scope ``user.<hex> entity.<uuid>
    tenant.<n>`` derived from the client only. Legacy ``apiAccessKeyId``/``apiSecretAccessKey``
    headers work too. 401 ``{"message": "Authentication error"}`` otherwise.
  * Tenants: every client is in tenant 1 unless the clients file says ``{secret, tenant}``;
    each tenant has its own data seeded from (seed, tenant), so identity leaks are visible.
  * Errors: v1 ``{"success": false, "processId", "requestId", "reasons": [{"code", "message"}]}``
    with HTTP 200 for business errors (not found = 200 + 50000040, our pick) and 400 for
    validation; CRUD ``{"Success": false, "Errors": [{"Code", "Message"}]}``; Actions 400
    ``{"FaultCode", "FaultMessage"}``; unknown routes 404 in the v1 shape.
  * Every answer carries ``Zuora-Request-Id``, echoes ``Zuora-Track-Id``, and has
    ``RateLimit-Limit/Remaining/Reset`` and ``Concurrency-Limit-Type/Limit/Remaining``.
    Concurrency caps per tenant: 40 (``default``), 20 (``zoql``) -> 429 ``REQUEST_EXCEEDED_LIMIT``.
  * ``Idempotency-Key`` on POST/PATCH: the first answer (status + body, success or not) is
    stored for 24 h and replayed with ``Idempotent-Replayed: true``; 409 while the first is in
    flight; 422 for another method, URL, tenant or body (body: our choice). Faults that stop
    a request before the handler (down, 429s, lock competition, drops before apply) store nothing.
  * ``Zuora-Version`` >= 230.0 (or a date such as 2024-05-20): catalog products carry
    ``productRatePlans`` as a URL to ``GET /v1/rateplan/{product}/productRatePlan``.

Endpoints: accounts (get, summary, create, update, payment-methods), subscriptions (get, by
account paged, update, cancel), orders (create, preview, get), catalog (products paged, product,
rate plans), invoices, payments (get, create), payment methods (create; card numbers are masked
before storage, security codes never stored), ``/v1/action/query`` + ``queryMore`` (ZOQL subset),
``/v1/describe/{object}`` (XML), ``/v1/object/{type}/{id}`` (GET) and
``/v1/object/account/{id}`` (PUT).

Control API (JSON, under ``/__fake/``; never subject to faults, no auth: bind it to loopback)
  ``GET  /__fake/fault``     current rules and timeline.
  ``POST /__fake/fault``     ``{"mode": M, "scope": S, ...params, "add": false}``: install a rule.
      It replaces the rule on the same scope (``add`` stacks it); ``{"mode": "up"}`` clears all.
  ``POST /__fake/timeline``  ``{"phases": [{"mode": "down", "duration": 2.0}, {"mode": "up"}]}``;
      a phase may hold several rules: ``{"faults": [{...}, {...}], "duration": 5}``. Phases run
      on the injected clock's monotonic time; after the last timed phase, faults are up.
  ``POST /__fake/reset``     data back to the seed, faults up, counters, ledger and keys cleared
      (tokens stay valid, limits stay as set).
  ``GET  /__fake/stats``     counts by method/group/status, per path, faults injected,
      in flight now and max, idempotent replays.
  ``GET  /__fake/ledger?since=N``  every write applied, in order:
      ``{seq, method, path, idempotency_key, account, at, status, tenant, request_id}``.
  ``POST /__fake/limits``    ``{"default": 40, "zoql": 20, "rate_per_minute": 50000}``.
  ``GET  /__fake/seed-info?tenant=1``  account numbers, subscriptions, product rate plan ids.

Fault modes (params in brackets; every mode takes ``rate``, the fraction hit, seeded RNG)
  ``up``            no fault on the scope (shadows older rules).
  ``down``          503 v1 body [``status``].            ``flaky``  like down, ``rate`` 0.5.
  ``writes_down``   down for writes only.                ``auth_down``  down for the token call.
  ``ratelimit``     429 + ``Retry-After`` [``retry_after`` s].
  ``reset``         connection dropped before anything is done.
  ``timeout``       hangs until the client gives up or the fault is lifted, then drops.
  ``slow``          added latency [``latency_ms``, ``jitter_ms``, ``distribution``:
                    fixed | uniform | normal | exponential].
  ``lock_competition``  writes answer 58730050 "Operation failed due to a lock competition,
                    please retry later." [``status`` 200; ``concurrent_only``: only while another
                    write to the same account is in flight].
  ``reset_after_apply`` the request is processed (write applied, ledgered, idempotency result
                    stored), then the connection is dropped: an ambiguous failure.
Scopes: ``all`` | ``reads`` (GET and POST reads: ZOQL, previews) | ``writes`` | ``auth`` |
``zoql`` | a path prefix such as ``/v1/orders``.
"""

from zproxy.testing.fake_zuora.app import create_app, serve
from zproxy.testing.fake_zuora.auth import load_clients, load_tenants
from zproxy.testing.fake_zuora.server import RunningFakeZuora, running_fake_zuora

__all__ = [
    "RunningFakeZuora",
    "create_app",
    "load_clients",
    "load_tenants",
    "running_fake_zuora",
    "serve",
]

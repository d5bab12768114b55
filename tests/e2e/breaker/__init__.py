"""End-to-end tests of failure handling (issue 5): test clients -> real zproxy processes (breaker,
limiter, retry, 429 cooldown in ``zproxy.upstream``) -> the fake Zuora in its fault modes, over
real HTTP and a real Redis shared by the processes."""

"""Test doubles that stand in for the outside world around zproxy.

Where it sits in the request flow: *outside* it. ``fake_zuora`` plays the upstream that
``zproxy.upstream`` talks to (CustomersDot -> zproxy -> **fake Zuora**), so tests, benchmarks and
outage scenarios can run the whole flow on one machine and make Zuora fail on command.
"""

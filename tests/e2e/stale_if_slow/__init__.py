"""End-to-end tests of stale-if-slow (issue 12 finding 6): a stale entry inside its
stale-if-error window answers when Zuora is slow; the fetch goes on in the background."""

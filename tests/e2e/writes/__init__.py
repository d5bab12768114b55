"""End-to-end tests of the durable write queue (issue 6): client -> zproxy -> fake Zuora."""

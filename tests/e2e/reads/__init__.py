"""End-to-end tests of cached reads (issue 4): a test client -> real zproxy processes -> the
fake Zuora, over real HTTP and a real Redis."""

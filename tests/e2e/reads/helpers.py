"""Helpers for the cached-read end-to-end tests (the shared client, fake and metric helpers are
in ``tests.support``)."""

#: A second OAuth client of the fake Zuora: another principal, so another cache partition.
OTHER_CLIENT_ID = "7c4d5433-2222-4c36-9a01-b9719ecd059f"

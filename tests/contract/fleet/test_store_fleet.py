"""The CacheStore contract on Sentinel and Cluster (the tests are the shared suite's)."""

from tests.contract.test_store_contract import *  # noqa: F403

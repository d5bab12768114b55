"""The WriteQueue contract on Sentinel and Cluster, through the partitioned queue zproxy
runs (the tests are the shared suite's)."""

from tests.contract.test_queue_contract import *  # noqa: F403

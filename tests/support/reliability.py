"""The reliability suite's shared state: its token, the cluster settings of its stack, and
the rows and notes each scenario adds for the table printed at the end."""

import uuid as uuidlib

from tests.support.accounting import Row

TOKEN = "rel-" + uuidlib.uuid4().hex
ROWS: list[Row] = []
NOTES: list[str] = []  # measured figures a scenario reports beside its row (latencies)
# A killed TaskManager is noticed after two failed heartbeat RPCs, ~2 s, instead of the
# 50 s heartbeat timeout; REST metric values are at most half a second old.
TEST_CLUSTER = """
heartbeat.interval: 1000
heartbeat.timeout: 10000
metrics.fetcher.update-interval: 500
restart-strategy.exponential-delay.initial-backoff: 500 ms
"""

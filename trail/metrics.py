"""Prometheus metrics shared across subsystems (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

BUFFER_DEPTH = Gauge("trail_buffer_depth", "Entries in the ingest stream (kept for the live window too).")
CONSUMER_LAG = Gauge("trail_consumer_lag", "Events accepted but not yet written to ClickHouse.")
INSERT_BATCH_SIZE = Histogram(
    "trail_insert_batch_size", "Events per ClickHouse INSERT.",
    buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 50000),
)
INSERT_LATENCY = Histogram(
    "trail_insert_latency_seconds", "Time of one ClickHouse INSERT.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
INSERT_FAILURES = Counter("trail_insert_failures_total", "ClickHouse INSERTs that failed and will be retried.")
WEBSOCKET_CLIENTS = Gauge("trail_websocket_clients", "Open websocket connections.", ["kind"])
LIVE_AWAKE = Gauge("trail_live_awake", "1 while this process's live engine tails the stream (it sleeps after "
                   "TRAIL_LIVE_IDLE_SECONDS without a live client), else 0.")
LIVE_TICK_SECONDS = Histogram(
    "trail_live_tick_seconds", "Time of one live tick (aggregate, render, fan out).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)

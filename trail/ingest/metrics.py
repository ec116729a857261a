"""Prometheus counters of the ingestion path: accepted, dropped by reason, rejected by field."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS_ACCEPTED = Counter("trail_events_accepted", "Events accepted into the ingest buffer (one per site).")
EVENTS_DROPPED = Counter("trail_events_dropped", "Events dropped by the pipeline, by reason.", ["reason"])
EVENTS_REJECTED = Counter("trail_events_rejected", "Events refused as invalid (400 or batch rejects), by field.",
                          ["field"])

DROP_REASONS = ("bot", "unknown_site", "excluded_ip", "excluded_path", "excluded_host", "dnt")
for _reason in DROP_REASONS:  # export zeros from the start, so rate() works before the first drop
    EVENTS_DROPPED.labels(reason=_reason)

"""Prometheus metrics: comparisons, upstream requests by status, latency, time queued, in
flight. The engine counts here; app/web/metrics.py serves them at /metrics.

Each process counts its own; with several replicas, Prometheus scrapes each and sums.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

COMPARISONS = Counter("knobs_comparisons_total", "Comparisons run, by how they ended.", ["outcome"])
COMPARISONS_IN_FLIGHT = Gauge("knobs_comparisons_in_flight", "Comparisons running now.")
UPSTREAM_REQUESTS = Counter(
    "knobs_upstream_requests_total",
    "Requests to endpoints, by endpoint and outcome (ok, finish reason, or error).",
    ["endpoint", "status"],
)
UPSTREAM_IN_FLIGHT = Gauge(
    "knobs_upstream_in_flight", "Requests to endpoints in progress.", ["endpoint"]
)
# Buckets from a fast local model (tens of ms) to a slow remote one (minutes).
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
UPSTREAM_LATENCY = Histogram(
    "knobs_upstream_latency_seconds", "Whole request, first byte sent to last token.",
    ["endpoint"], buckets=_BUCKETS,
)  # fmt: skip
UPSTREAM_TTFT = Histogram(
    "knobs_upstream_ttft_seconds", "Time to first token.", ["endpoint"], buckets=_BUCKETS
)
UPSTREAM_QUEUED = Histogram(
    "knobs_upstream_queued_seconds",
    "Time a request waited for its turn before it was sent (0 when sent at once).",
    ["endpoint"], buckets=(0, *_BUCKETS),
)  # fmt: skip


def record_sample(
    endpoint: str, status: str, latency_ms: float | None, ttft_ms: float | None
) -> None:
    """Count one finished request (`status`: its finish reason, or "error") and its timings."""
    UPSTREAM_REQUESTS.labels(endpoint, status).inc()
    if latency_ms is not None:
        UPSTREAM_LATENCY.labels(endpoint).observe(latency_ms / 1000)
    if ttft_ms is not None:
        UPSTREAM_TTFT.labels(endpoint).observe(ttft_ms / 1000)

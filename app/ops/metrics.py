"""Prometheus metrics: comparisons, upstream requests by status, latency, time queued, in
flight. The engine counts here; app/web/metrics.py serves them at /metrics.

Each app owns its `Metrics`, in a registry of its own rather than the process-wide default:
two apps in one process (tests, workers) do not count into each other, and nothing is
registered on import. Each process counts its own; with several replicas, Prometheus scrapes
each and sums.
"""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Buckets from a fast local model (tens of ms) to a slow remote one (minutes).
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """One app's counters, gauges and histograms, and their text exposition."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        # The process's own figures (memory, CPU, GC), as the default registry would serve.
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
        self.comparisons = Counter(
            "knobs_comparisons_total",
            "Comparisons run, by how they ended.",
            ["outcome"],
            registry=registry,
        )
        self.comparisons_in_flight = Gauge(
            "knobs_comparisons_in_flight", "Comparisons running now.", registry=registry
        )
        self.upstream_requests = Counter(
            "knobs_upstream_requests_total",
            "Requests to endpoints, by endpoint and outcome (ok, finish reason, or error).",
            ["endpoint", "status"],
            registry=registry,
        )
        self.upstream_in_flight = Gauge(
            "knobs_upstream_in_flight",
            "Requests to endpoints in progress.",
            ["endpoint"],
            registry=registry,
        )
        self.upstream_latency = Histogram(
            "knobs_upstream_latency_seconds",
            "Whole request, first byte sent to last token.",
            ["endpoint"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.upstream_ttft = Histogram(
            "knobs_upstream_ttft_seconds",
            "Time to first token.",
            ["endpoint"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.upstream_queued = Histogram(
            "knobs_upstream_queued_seconds",
            "Time a request waited for its turn before it was sent (0 when sent at once).",
            ["endpoint"],
            buckets=(0, *_BUCKETS),
            registry=registry,
        )

    def record_sample(
        self, endpoint: str, status: str, latency_ms: float | None, ttft_ms: float | None
    ) -> None:
        """Count one finished request (`status`: its finish reason, or "error") and its timings."""
        self.upstream_requests.labels(endpoint, status).inc()
        if latency_ms is not None:
            self.upstream_latency.labels(endpoint).observe(latency_ms / 1000)
        if ttft_ms is not None:
            self.upstream_ttft.labels(endpoint).observe(ttft_ms / 1000)

    def exposition(self) -> bytes:
        """The Prometheus text format of everything counted so far."""
        return generate_latest(self.registry)

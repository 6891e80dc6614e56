"""Prometheus metrics of one service process, served at ``/metrics``.

Each `DialerMetrics` has its own registry (not prometheus-client's global one), so
several runtimes in one test process never collide. Labels are bounded: campaign
names, outcomes, modes, states, route templates; never a phone number or an id.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["CONTENT_TYPE_LATEST", "DialerMetrics"]


class DialerMetrics:
    """Every metric the service exports."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.originates = Counter(
            "dialer_originates_total", "Originates sent to Asterisk", ["campaign", "leg"], registry=r)
        self.originate_errors = Counter(
            "dialer_originate_errors_total", "Originates refused or failed", ["campaign", "reason"],
            registry=r)
        self.attempts_ended = Counter(
            "dialer_attempts_ended_total", "Attempts ended, by telephony outcome",
            ["campaign", "outcome"], registry=r)
        self.abandons = Counter(
            "dialer_abandons_total", "Answered calls not connected to an agent within the grace",
            ["campaign"], registry=r)
        self.dispositions = Counter(
            "dialer_dispositions_total", "Wrap-up codes recorded, by outcome class",
            ["campaign", "outcome_class"], registry=r)
        self.claims = Counter(
            "dialer_claims_total", "Targets claimed from the ledger", ["campaign"], registry=r)
        self.calls_in_progress = Gauge(
            "dialer_calls_in_progress", "Live attempts owned by this process", ["campaign"],
            registry=r)
        self.dial_level = Gauge(
            "dialer_dial_level", "Lines per available agent the pacer asks for", ["campaign"],
            registry=r)
        self.agents = Gauge(
            "dialer_agents", "Logged-in agents by state", ["state"], registry=r)
        self.ari_connected = Gauge(
            "dialer_ari_connected", "1 while the ARI application WebSocket is up", registry=r)
        self.ari_events = Counter(
            "dialer_ari_events_total", "ARI events handled", ["type"], registry=r)
        self.ari_handler_seconds = Histogram(
            "dialer_ari_handler_seconds", "Time to handle one ARI event (ledger writes included)",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=r)
        self.reconciled = Counter(
            "dialer_reconciled_attempts_total", "Attempts in flight settled by reconciliation",
            ["action"], registry=r)
        self.ledger_retries = Counter(
            "dialer_ledger_write_retries_total",
            "Ledger writes sent again after the database was unreachable", ["write"], registry=r)
        self.http_requests = Counter(
            "dialer_http_requests_total", "HTTP API requests", ["method", "route", "status"],
            registry=r)
        self.http_seconds = Histogram(
            "dialer_http_request_seconds", "HTTP API latency", ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=r)
        self.ws_clients = Gauge(
            "dialer_ws_clients", "Connected event-stream WebSocket clients", registry=r)

    def render(self) -> bytes:
        """The text exposition format of every metric."""
        return generate_latest(self.registry)

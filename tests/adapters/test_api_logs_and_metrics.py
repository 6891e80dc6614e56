"""Structured logs never carry a full phone number or a secret; metrics are exported."""

from __future__ import annotations

import io
import json
import logging

import structlog
from pydantic import SecretStr

from orchestrator.logs import configure_logging, mask_text
from orchestrator.metrics import DialerMetrics


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_logs_mask_numbers_and_drop_secrets() -> None:
    out = io.StringIO()
    configure_logging("DEBUG", stream=out)
    try:
        _check_masking(out)
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()


def _check_masking(out: io.StringIO) -> None:
    log = structlog.get_logger("test")
    log.info("dialing +33612345671 via Local/33612345672@dialer-out",
             e164="+33612345673", password="hunter2", ari_password=SecretStr("s3cret"),
             url="postgresql://postgres:pw123@127.0.0.1/db", token="abc",
             attempt="550e8400-e29b-41d4-a716-446655440000", when="2026-11-21",
             nested={"phone": "+33612345674", "Authorization": "Bearer xyz"})
    logging.getLogger("aiohttp.client").warning("GET http://u:secretpw@h/x?secret=zz for 33612345675")
    text = out.getvalue()
    for leaked in ("33612345671", "33612345672", "33612345673", "33612345674", "33612345675",
                   "hunter2", "s3cret", "pw123", "Bearer xyz", "secretpw", "=zz"):
        assert leaked not in text, leaked
    first, second = _lines(out)
    assert "***5671" in str(first["event"]) and "***5672" in str(first["event"])
    assert first["e164"] == "***5673"
    assert first["password"] == "***" and first["ari_password"] == "***" and first["token"] == "***"
    # Ids and dates are not numbers: they survive.
    assert first["attempt"] == "550e8400-e29b-41d4-a716-446655440000"
    assert first["when"] == "2026-11-21"
    assert first["level"] == "info" and "timestamp" in first
    assert second["level"] == "warning" and "***5675" in str(second["event"])


def test_mask_text_keeps_short_numbers() -> None:
    assert mask_text("cause 17 after 26 s, port 8088") == "cause 17 after 26 s, port 8088"
    assert mask_text("call +14155550123 now") == "call ***0123 now"


def test_metrics_render_in_prometheus_format() -> None:
    m = DialerMetrics()
    m.originates.labels("c1", "customer").inc()
    m.abandons.labels("c1").inc(2)
    text = m.render().decode()
    assert 'dialer_originates_total{campaign="c1",leg="customer"} 1.0' in text
    assert 'dialer_abandons_total{campaign="c1"} 2.0' in text
    # Two registries do not collide (several runtimes in one test process).
    DialerMetrics().abandons.labels("c1").inc()

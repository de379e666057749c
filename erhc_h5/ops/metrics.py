"""Prometheus text: request counters per app, and gauges read from get_status() at scrape time."""
from __future__ import annotations

import time

from flask import Flask, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from erhc_h5.ops.status import FUNNEL

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class RequestMetrics:
    """Per-app registry (several apps may live in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("erhc_http_requests", "HTTP requests by endpoint, method and status",
                                ("endpoint", "method", "status"), registry=self.registry)
        self.latency = Histogram("erhc_http_request_duration_seconds", "HTTP request duration by endpoint",
                                 ("endpoint",), registry=self.registry,
                                 buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        # A dependency found down while serving (database, limiter store): the request degraded, not failed.
        self.dependency_failures = Counter("erhc_dependency_failures", "Dependency outages met by requests",
                                           ("dependency",), registry=self.registry)
        # Identity/SMS/face calls that gave no answer, by operation and reason (timeout, bad_reply …).
        self.provider_failures = Counter("erhc_provider_call_failures", "Failed identity/SMS/face provider calls",
                                         ("op", "reason"), registry=self.registry)
        # `sync run` passes that failed on an error (database, unexpected) and were backed off, not fatal.
        self.sync_worker_errors = Counter("erhc_sync_worker_errors", "Sync worker passes ended by an error",
                                          ("kind",), registry=self.registry)


def init_app(app: Flask) -> None:
    app.extensions["erhc_metrics"] = RequestMetrics()


def before_request() -> None:
    g.erhc_started = time.perf_counter()


def after_request(response):
    from flask import current_app

    metrics: RequestMetrics | None = current_app.extensions.get("erhc_metrics")
    if metrics is not None:
        endpoint = request.endpoint or "unmatched"  # the rule, never the raw path: bounded label values
        metrics.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        started = g.get("erhc_started")
        if started is not None:
            metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
    return response


class StatusCollector:
    """Gauges from one get_status() dict."""

    def __init__(self, status: dict) -> None:
        self.status = status

    def collect(self):
        s = self.status
        outbox = GaugeMetricFamily("erhc_outbox_entries", "Record versions in the outbox by state", labels=["state"])
        for state, n in s["outbox"]["by_state"].items():
            outbox.add_metric([state], n)
        yield outbox
        yield GaugeMetricFamily("erhc_outbox_backlog", "Record versions waiting to be sent (pending+batched)",
                                value=s["outbox"]["backlog"])
        yield GaugeMetricFamily("erhc_outbox_oldest_pending_age_seconds", "Age of the oldest waiting version",
                                value=s["outbox"]["oldest_pending_age_seconds"] or 0)
        batches = GaugeMetricFamily("erhc_sync_batches", "Batches by state", labels=["state"])
        for state, n in s["outbox"]["batches"].items():
            batches.add_metric([state], n)
        yield batches
        failures = GaugeMetricFamily("erhc_sync_failures_24h", "Failed upload attempts in 24 h by reason",
                                     labels=["reason"])
        for reason, n in s["sync"]["failures_by_reason"].items():
            failures.add_metric([reason], n)
        yield failures
        yield GaugeMetricFamily("erhc_sync_attempts_24h", "Upload attempts in 24 h", value=s["sync"]["attempts"])
        offset = s["province"].get("clock", {}).get("offset_seconds")
        if offset is not None:  # absent until a reply carried a Date header
            yield GaugeMetricFamily("erhc_province_clock_offset_seconds",
                                    "The province's clock minus this server's, from its last reply's Date header",
                                    value=offset)
        waiting = GaugeMetricFamily("erhc_waiting_sends", "Sends queued after a commit and not yet taken",
                                    labels=["kind"])
        stuck = GaugeMetricFamily("erhc_waiting_sends_stuck", "Of those, queued longer than the alert threshold",
                                  labels=["kind"])
        for kind, w in s.get("waiting", {}).items():
            waiting.add_metric([kind], w["count"])
            stuck.add_metric([kind], w["stuck"])
        yield waiting
        yield stuck
        yield GaugeMetricFamily("erhc_database_writable", "1 when the database took the readiness probe's write",
                                value=1 if s.get("database", {}).get("write", "ok") == "ok" else 0)
        alerts = GaugeMetricFamily("erhc_ops_alert", "1 for each /ops alert in force", labels=["code"])
        for alert in s.get("alerts", []):
            alerts.add_metric([alert["code"]], 1)
        yield alerts
        yield GaugeMetricFamily("erhc_province_up", "1 when the last upload attempt succeeded (or none yet)",
                                value=0 if s["province"]["state"] == "failing" else 1)
        funnel = GaugeMetricFamily("erhc_verification_sessions_24h", "Verification sessions in 24 h",
                                   labels=["method", "app_id", "stage"])
        for row in s["verification"]["funnel"]:
            for stage in ("started", *FUNNEL):
                funnel.add_metric([str(row["method"]), str(row["app_id"] or ""), stage], row[stage])
        yield funnel
        attack = s["verification"]["attack_signal"]
        yield GaugeMetricFamily("erhc_identity_attack_persons_24h",
                                "Persons whose failures in 24 h came from several app accounts or sources",
                                value=attack["persons"])
        notices = GaugeMetricFamily("erhc_link_notices", "SMS notices of new links to a proven phone by state",
                                    labels=["state"])
        for state, n in s["verification"]["link_notices"].items():
            notices.add_metric([state], n)
        yield notices
        scans = GaugeMetricFamily("erhc_scans_24h", "Scans in 24 h by site and result", labels=["site", "result"])
        for row in s["scans"]:
            for result in ("authenticated", "not_authenticated", "refused"):
                scans.add_metric([row["site"], result], row[result])
        yield scans
        filing = GaugeMetricFamily("erhc_filed_apps", "Filed apps by status", labels=["status"])
        for status, n in s["filing"].items():
            filing.add_metric([status], n)
        yield filing


class DependencyCollector:
    """Whether rate limits are being counted in process memory because the shared store is down."""

    def collect(self):
        from erhc_h5.extensions import limiter

        yield GaugeMetricFamily("erhc_ratelimit_fallback_active",
                                "1 while the limiter store is unreachable and limits are kept per process",
                                value=1 if limiter.store_state == "fallback" else 0)


def render(app: Flask, status: dict) -> bytes:
    registry = CollectorRegistry()
    registry.register(StatusCollector(status))
    metrics: RequestMetrics | None = app.extensions.get("erhc_metrics")
    head = generate_latest(metrics.registry) if metrics else b""
    head += generate_latest(DependencyCollector())
    return head + generate_latest(registry)

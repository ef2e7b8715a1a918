"""Prometheus metrics (``GET /metrics``, text exposition format).

One :class:`Metrics` (its own ``CollectorRegistry``) per application:

* ``auth_http_requests_total{method,route,status}`` and
  ``auth_http_request_duration_seconds{method,route}``: ``route`` is the route
  *template* (``/api/has_permission/{user}/{name}``), never the raw path, so no user
  name or key reaches a label; requests no route matches are ``unmatched``.
* ``auth_decisions_total{kind,result}``: ``has_permission``, ``can_run`` and
  ``check_permission`` answers, ``allowed`` or ``denied`` (the routes note their
  decision in the request context, :func:`app.edge.context.record_decision`).
* ``auth_failed_authentications_total{reason}``: read from the application's
  :class:`~app.security.failures.AuthFailures` at scrape time.
* ``auth_rate_limited_requests_total{limit}``,
  ``auth_rate_limit_unchecked_requests_total``,
  ``auth_rate_limit_storage_errors_total``, ``auth_rate_limit_storage_up``.
* ``auth_decision_snapshot_answers_total{probe}``: requests answered from a decision
  snapshot, ``probed`` (``strict``, one freshness probe) or ``unprobed``
  (``minimize_latency``, vouched for by the revision listener);
  ``auth_decision_listener_up`` (1 while the listener of ``minimize_latency`` listens)
  and ``auth_decision_listener_losses_total``.
* ``auth_db_pool_size``, ``auth_db_pool_checked_out``, ``auth_db_pool_checked_in``,
  ``auth_db_pool_overflow``: the SQLAlchemy pool of the lifespan's engine.
* ``auth_decision_snapshot_misses_total`` (the tenant's snapshot was missing or older
  than the stored revision: the database answered and a rebuild started),
  ``auth_decision_probe_errors_total``, ``auth_decision_snapshot_rebuilds_total{result}``,
  ``auth_decision_cache_tenants``, ``auth_decision_cache_rows``,
  ``auth_decision_cache_evictions_total``: the decision snapshots of
  :mod:`app.decisions` (read at scrape time).
* the standard ``process_*``, ``python_gc_*`` and ``python_info`` series.

Every process keeps its own numbers: with ``AUTH_WORKERS`` > 1 a scrape reaches one
worker only, so run one worker per container and scale with replicas when exact
numbers matter. ``AUTH_METRICS_TOKEN``, when set, is required as
``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response

from app.edge.context import DecisionKind
from app.edge.rate_limit import LimitName, RateLimits
from app.errors import problem_response
from app.security.failures import AuthFailures
from app.state import app_state

METRICS_PATH = "/metrics"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class _AuthFailuresCollector(Collector):
    def __init__(self, failures: AuthFailures) -> None:
        self.failures = failures

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "auth_failed_authentications",
            "Failed authentications, by reason",
            labels=["reason"],
        )
        for reason, count in self.failures.snapshot().items():
            family.add_metric([reason], count)
        yield family


class _RateLimitCollector(Collector):
    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        snapshot: dict[str, Any] = self.limits.snapshot()
        refused = CounterMetricFamily(
            "auth_rate_limited_requests",
            "Requests refused with 429, by the limit that was spent",
            labels=["limit"],
        )
        for name in LimitName:
            refused.add_metric([name.value], snapshot["refused"][name.value])
        yield refused
        yield CounterMetricFamily(
            "auth_rate_limit_unchecked_requests",
            "Requests let through unchecked because the rate-limit storage failed",
            value=snapshot["unchecked"],
        )
        yield CounterMetricFamily(
            "auth_rate_limit_storage_errors",
            "Failed calls to the rate-limit storage",
            value=snapshot["storage_errors"],
        )
        yield GaugeMetricFamily(
            "auth_rate_limit_storage_up",
            "1 while the rate-limit storage answers, 0 during an outage",
            value=1 if snapshot["storage_available"] else 0,
        )


class _PoolCollector(Collector):
    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        # QueuePool's counters (PostgreSQL); SQLite's pools have none of them.
        pool: Any = app_state(self.app).database.engine.pool
        if not all(hasattr(pool, name) for name in ("size", "checkedout", "checkedin", "overflow")):
            return
        values = {
            "auth_db_pool_size": ("Connections the pool keeps", pool.size()),
            "auth_db_pool_checked_out": ("Connections in use", pool.checkedout()),
            "auth_db_pool_checked_in": ("Idle connections in the pool", pool.checkedin()),
            "auth_db_pool_overflow": (
                "Connections open beyond the pool size",
                max(0, pool.overflow()),
            ),
        }
        for name, (documentation, value) in values.items():
            yield GaugeMetricFamily(name, documentation, value=value)


class _DecisionsCollector(Collector):
    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        decisions = app_state(self.app).decisions
        if decisions is None:
            return
        stats, cache = decisions.stats, decisions.cache
        answers = CounterMetricFamily(
            "auth_decision_snapshot_answers",
            "Requests answered from a decision snapshot, by whether a probe confirmed it",
            labels=["probe"],
        )
        answers.add_metric(["probed"], stats.fresh - stats.unprobed)
        answers.add_metric(["unprobed"], stats.unprobed)
        yield answers
        yield CounterMetricFamily(
            "auth_decision_snapshot_misses",
            "Requests whose tenant snapshot was missing or older than the stored revision",
            value=stats.stale,
        )
        yield CounterMetricFamily(
            "auth_decision_probe_errors",
            "Freshness probes that failed (the database path answered instead)",
            value=stats.probe_errors,
        )
        rebuilds = CounterMetricFamily(
            "auth_decision_snapshot_rebuilds", "Snapshot rebuilds, by result", labels=["result"]
        )
        rebuilds.add_metric(["ok"], stats.rebuilds)
        rebuilds.add_metric(["error"], stats.rebuild_errors)
        yield rebuilds
        yield GaugeMetricFamily(
            "auth_decision_cache_tenants", "Tenant snapshots held", value=len(cache)
        )
        yield GaugeMetricFamily(
            "auth_decision_cache_rows",
            "Rows the held snapshots count against AUTH_DECISION_CACHE_ENTRIES",
            value=cache.rows,
        )
        yield CounterMetricFamily(
            "auth_decision_cache_evictions",
            "Snapshots dropped to stay within AUTH_DECISION_CACHE_ENTRIES",
            value=cache.evictions,
        )
        listener = decisions.listener
        if listener is None:
            return
        yield GaugeMetricFamily(
            "auth_decision_listener_up",
            "1 while the revision listener (minimize_latency) listens, 0 in the strict fallback",
            value=1 if listener.connected else 0,
        )
        yield CounterMetricFamily(
            "auth_decision_listener_losses",
            "Revision listener connections lost",
            value=listener.losses,
        )


class Metrics:
    """The application's registry. ``failures`` and ``rate_limits`` are read at scrape
    time, as are the pool and the decision snapshots of the application's state."""

    def __init__(
        self, app: FastAPI, failures: AuthFailures, rate_limits: RateLimits | None
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "auth_http_requests",
            "HTTP requests answered, by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "auth_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "auth_decisions",
            "Authorization decisions answered, by route kind and result",
            ["kind", "result"],
            registry=self.registry,
        )
        self._decision_series = {
            (kind, allowed): self.decisions.labels(kind.value, "allowed" if allowed else "denied")
            for kind in DecisionKind
            for allowed in (True, False)
        }
        # (method, route template, status) -> its counter and histogram children; bounded
        # by the routes times the statuses they answer.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.registry.register(_AuthFailuresCollector(failures))
        self.registry.register(_PoolCollector(app))
        self.registry.register(_DecisionsCollector(app))
        if rate_limits is not None:
            self.registry.register(_RateLimitCollector(rate_limits))
        for standard in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(standard)

    def observe(
        self,
        *,
        method: str,
        route: str,
        status: int,
        seconds: float,
        decision: tuple[DecisionKind, bool] | None,
    ) -> None:
        method = method if method in KNOWN_METHODS else "OTHER"
        series = self._series.get((method, route, status))
        if series is None:  # first request of its kind: look the labelled children up once
            series = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._series[(method, route, status)] = series
        series[0].inc()
        series[1].observe(seconds)
        if decision is not None:
            kind, allowed = decision
            self._decision_series[kind, allowed].inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def install_metrics_route(app: FastAPI, metrics: Metrics, token: str | None) -> None:
    expected = None if token is None else token.encode()

    async def metrics_endpoint(request: Request) -> Response:
        if expected is not None:
            presented = request.headers.get("authorization", "")
            scheme, _, value = presented.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), expected
            ):
                return problem_response(
                    401,
                    "This endpoint needs the metrics token as a Bearer credential.",
                    slug="metrics-token-required",
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(
        METRICS_PATH,
        metrics_endpoint,
        methods=["GET"],
        include_in_schema=False,
        response_class=Response,
    )

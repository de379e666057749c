"""Flask extension objects, created unbound and bound in create_app.

The rate limiter fails open: when its shared store (Redis) refuses, hangs or errs, limits are kept
in this process's memory until the store answers again, so a Redis outage never stops a scan or a
resident's journey; each outage is logged once and counted (``erhc_dependency_failures_total``).
"""
from __future__ import annotations

import time

from flask import Flask, current_app, has_app_context
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect


class FailOpenLimiter(Limiter):
    """Flask-Limiter with its in-memory fallback, and a log line and a metric on every change of store."""

    # Flask-Limiter keeps the outage state in ``_storage_dead`` (set when a store call fails, cleared
    # when a later health check passes); a property sees both transitions wherever they happen.
    @property
    def _storage_dead(self) -> bool:
        return self.__dict__.get("_erhc_dead_since") is not None

    @_storage_dead.setter
    def _storage_dead(self, dead: bool) -> None:
        was_dead = self._storage_dead
        self.__dict__["_erhc_dead_since"] = (self.__dict__.get("_erhc_dead_since") or time.time()) if dead else None
        if dead != was_dead and has_app_context():
            _report_store(dead)

    @property
    def store_state(self) -> str:
        """'ok', or 'fallback' while limits are counted in process memory because the store is down."""
        return "fallback" if self._storage_dead else "ok"

    def init_app(self, app: Flask) -> None:
        configure(app)
        super().init_app(app)
        self.__dict__["_erhc_dead_since"] = None  # a new app starts on its configured store


def _report_store(dead: bool) -> None:
    import logging

    from erhc_h5.logs import log_event

    uri = str(current_app.config["RATELIMIT_STORAGE_URI"])
    scheme = uri.partition(":")[0]
    if dead:
        log_event("ratelimit_store_unavailable", level=logging.WARNING, store=scheme, fallback="memory")
        metrics = current_app.extensions.get("erhc_metrics")
        if metrics is not None:
            metrics.dependency_failures.labels("limiter_store").inc()
    else:
        log_event("ratelimit_store_recovered", store=scheme)


def configure(app: Flask) -> None:
    """Short timeouts and no client-side retries on a Redis store: a dead or hung Redis costs one
    request at most RATELIMIT_STORAGE_TIMEOUT_SECONDS, then limits fall back to memory."""
    cfg = app.config
    cfg.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    cfg.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    cfg.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    uri = str(cfg["RATELIMIT_STORAGE_URI"])
    if uri.startswith(("redis", "rediss", "valkey")):
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        timeout = float(cfg["RATELIMIT_STORAGE_TIMEOUT_SECONDS"])
        options = {"socket_connect_timeout": timeout, "socket_timeout": timeout, "retry": Retry(NoBackoff(), 0)}
        options.update(cfg.get("RATELIMIT_STORAGE_OPTIONS") or {})
        cfg["RATELIMIT_STORAGE_OPTIONS"] = options


def limiter_store_state(app: Flask) -> str:
    """The limiter store for readiness: 'ok', 'unavailable' (limits held in memory), 'memory' or 'disabled'."""
    if not app.config["RATELIMIT_ENABLED"]:
        return "disabled"
    if str(app.config["RATELIMIT_STORAGE_URI"]).startswith("memory"):
        return "memory"
    try:
        up = bool(limiter.storage.check())
    except Exception:  # a store client may raise instead of answering False
        up = False
    return "ok" if up else "unavailable"


csrf = CSRFProtect()
login_manager = LoginManager()
limiter = FailOpenLimiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

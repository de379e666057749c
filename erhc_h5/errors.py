"""Error pages and JSON errors: Chinese for people, stable reason codes for machines, no traces.

A database outage is a 503 with ``Retry-After`` on every route, never a 500: the error page needs
no database (the signed-in user is taken as anonymous, and a page that still cannot be rendered
falls back to a fixed one), so staff, nurses and scanners get a clear answer while it lasts.
"""
from __future__ import annotations

import logging
from html import escape

from flask import Flask, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from erhc_h5.logs import log_event

MESSAGES = {
    400: ("bad_request", "请求内容有误,请检查后重试"),
    401: ("unauthorized", "请先登录或提供有效的设备令牌"),
    403: ("forbidden", "您没有权限访问此页面"),
    404: ("not_found", "页面不存在"),
    405: ("method_not_allowed", "不支持此请求方式"),
    413: ("too_large", "上传的内容过大"),
    415: ("unsupported_media_type", "请求格式不受支持"),
    429: ("rate_limited", "操作过于频繁,请稍后再试"),
    500: ("internal_error", "系统繁忙,请稍后再试"),
    503: ("unavailable", "服务暂不可用,请稍后再试"),
}
VACCINATION_PAGE = "/sandbox-province/vaccination"
# What a 503 says when the database cannot take the request, by why (``database_condition``): the
# database unreachable, or reachable but refusing writes for lack of space or because it is read-only.
DATABASE_REFUSALS = {
    "unavailable": ("database_unavailable", "系统数据服务暂时无法连接,请稍后再试"),
    "disk_full": ("database_disk_full", "系统存储空间已满,暂时无法保存,请稍后再试"),
    "read_only": ("database_read_only", "系统数据服务暂时只能查询、无法保存,请稍后再试"),
}
# PostgreSQL's SQLSTATEs for a write the server refuses whatever the request: disk_full (class 53,
# insufficient resources) and read_only_sql_transaction (a standby, or default_transaction_read_only).
STORAGE_SQLSTATES = {"53100": "disk_full", "25006": "read_only"}
# Connection refused or lost, the file cannot be opened, the pool is exhausted: the database is
# unreachable, not the request wrong (OperationalError also covers SQLite's "database is locked").
OUTAGE_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)


def _driver_outage_errors() -> tuple[type[BaseException], ...]:
    """The drivers' own connection errors: code on a raw DB-API connection (the scan API's hot path)
    meets them unwrapped by SQLAlchemy."""
    import sqlite3

    found: list[type[BaseException]] = [sqlite3.OperationalError, sqlite3.InterfaceError]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the postgres extra is not installed
        return tuple(found)
    return tuple(found + [psycopg.OperationalError, psycopg.InterfaceError])


DRIVER_OUTAGE_ERRORS = _driver_outage_errors()
FALLBACK_PAGE = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>{message}</title></head>'
    '<body><main data-reason="{reason}"><h1>{message}</h1><p>错误编号 {status}</p></main></body></html>'
)


class DomainError(Exception):
    """A request the domain refuses: a stable ``reason`` code for machines, a Chinese ``message`` for
    people and the HTTP ``status`` to answer with. Subclasses name their defaults as class
    attributes; one handler (``init_app``) renders any that a view lets through, as JSON for API
    routes and as the error page for pages."""

    reason: str = "refused"
    message: str = "请求无法处理"
    status: int = 400

    def __init__(self, reason: str | None = None, message: str | None = None, status: int | None = None) -> None:
        if reason is not None:
            self.reason = reason
        if message is not None:
            self.message = message
        if status is not None:
            self.status = status
        super().__init__(self.message)

    def response_headers(self) -> dict[str, str]:
        """Headers the answer carries besides the body (e.g. ``WWW-Authenticate`` on a 401)."""
        return {}


class WireRefusal(DomainError):
    """A refusal built as the signed province APIs answer it: (status, error, message), where
    ``error`` is the reason code under the name the reply gives it."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(error, message, status)

    @property
    def error(self) -> str:
        return self.reason


def wants_json() -> bool:
    if request.path.startswith(VACCINATION_PAGE):  # the sandbox province's one page for people
        return False
    return request.path.startswith(("/api/", "/sandbox-province/", "/ops/status.json")) or (
        request.path.endswith(".json") or request.accept_mimetypes.best == "application/json"
    )


def database_condition(exc: BaseException | None) -> str | None:
    """"disk_full" or "read_only" when the exception (or what caused it) is the database refusing a
    write for lack of space or because it is read-only (PostgreSQL's SQLSTATE, SQLite's message)."""
    import sqlite3

    seen = 0
    while exc is not None and seen < 6:
        found = STORAGE_SQLSTATES.get(getattr(exc, "sqlstate", None) or "")
        if found:
            return found
        if isinstance(exc, sqlite3.Error):
            words = str(exc).lower()
            if "disk is full" in words:
                return "disk_full"
            if "readonly database" in words or "read-only" in words:
                return "read_only"
        exc, seen = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__, seen + 1
    return None


def is_database_outage(exc: BaseException | None) -> bool:
    """The exception (or what caused it) says the database cannot be reached, or cannot take a write
    whatever the request (its disk is full, it is read-only)."""
    if database_condition(exc) is not None:
        return True
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, OUTAGE_ERRORS + DRIVER_OUTAGE_ERRORS) or (
                isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _assume_anonymous() -> None:
    """The page is rendered without the staff user: loading it would query the database again."""
    if "_login_user" not in g:
        login_manager = getattr(current_app, "login_manager", None)
        if login_manager is not None:
            g._login_user = login_manager.anonymous_user()


def _render_page(status: int, reason: str, message: str) -> str:
    try:
        return render_template("error.html", status=status, reason=reason, message=message)
    except Exception as exc:  # the page itself must not fail: a context processor met the outage
        if not is_database_outage(exc):
            log_event("error_page_failed", level=logging.ERROR, exc_type=type(exc).__name__)
        _assume_anonymous()
        try:
            return render_template("error.html", status=status, reason=reason, message=message)
        except Exception:
            return FALLBACK_PAGE.format(status=status, reason=escape(reason), message=escape(message))


def error_response(status: int, reason: str | None = None, message: str | None = None):
    """Render an error for people (HTML) or machines (JSON) with a stable reason code."""
    default_reason, default_message = MESSAGES.get(status, ("error", "请求无法处理"))
    reason, message = reason or default_reason, message or default_message
    if wants_json():
        return jsonify(error=reason, message=message), status
    return _render_page(status, reason, message), status


def domain_error_response(exc: DomainError):
    """The one rendering of a refusal: ``{"error": reason, "message"}`` or the error page, with its headers."""
    body, status = error_response(exc.status, exc.reason, exc.message)
    response = current_app.make_response((body, status))
    response.headers.update(exc.response_headers())
    return response


def database_unavailable(exc: BaseException | None = None):
    """503 with Retry-After: the database cannot be reached, or cannot write (the page says which);
    logged and counted, never a trace."""
    condition = database_condition(exc) or "unavailable"
    log_event("database_unavailable", level=logging.WARNING, exc_type=type(exc).__name__ if exc else "",
              endpoint=request.endpoint, condition=condition)
    metrics = current_app.extensions.get("erhc_metrics")
    if metrics is not None:
        metrics.dependency_failures.labels("database").inc()
    _assume_anonymous()
    body, status = error_response(503, *DATABASE_REFUSALS[condition])
    response = current_app.make_response((body, status))
    response.headers["Retry-After"] = str(int(current_app.config["DATABASE_RETRY_AFTER_SECONDS"]))
    response.headers["Cache-Control"] = "no-store"
    return response


def guard_context_processors(app: Flask) -> None:
    """Context processors that meet a database outage give way instead of failing the page: the
    staff user becomes anonymous (Flask-Login loads it in a context processor), others add nothing."""
    processors = app.template_context_processors[None]
    for i, processor in enumerate(processors):
        if getattr(processor, "_erhc_guarded", False):
            continue

        def guarded(processor=processor):
            try:
                return processor()
            except OUTAGE_ERRORS + (sa_exc.DBAPIError,):
                _assume_anonymous()
                return {"current_user": g._login_user} if "_login_user" in g else {}

        guarded._erhc_guarded = True
        processors[i] = guarded


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc):
        return error_response(400, "csrf_failed", "页面已过期,请返回后刷新页面再提交")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        response = error_response(exc.code or 500)
        if exc.code == 429 and getattr(exc, "retry_after", None):
            response[0].headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(DomainError)
    def _refused(exc: DomainError):
        log_event("request.refused", reason=exc.reason, status=exc.status, endpoint=request.endpoint or "")
        return domain_error_response(exc)

    for outage in OUTAGE_ERRORS:
        app.register_error_handler(outage, database_unavailable)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if is_database_outage(exc):
            return database_unavailable(exc)
        log_event("unhandled_error", level=logging.ERROR, exc_type=type(exc).__name__, path=request.path)
        return error_response(500)

"""Error pages and JSON errors: Chinese for people, stable reason codes for machines, no traces."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

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


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/sandbox-province/", "/ops/status.json")) or (
        request.accept_mimetypes.best == "application/json"
    )


def error_response(status: int, reason: str | None = None, message: str | None = None):
    """Render an error for people (HTML) or machines (JSON) with a stable reason code."""
    default_reason, default_message = MESSAGES.get(status, ("error", "请求无法处理"))
    reason, message = reason or default_reason, message or default_message
    if wants_json():
        return jsonify(error=reason, message=message), status
    return render_template("error.html", status=status, reason=reason, message=message), status


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

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        logging.getLogger("erhc").error(
            "unhandled_error", extra={"event": {"event": "unhandled_error", "exc_type": type(exc).__name__, "path": request.path}}
        )
        return error_response(500)

"""Structured logs: one JSON line per event, with the request id, and never personal data."""
from __future__ import annotations

import json
import logging
import secrets
import sys
import time

from flask import Flask, g, has_request_context, request

from erhc_h5.security.logfilter import redact

EVENT_LOGGER = "erhc"


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object; ``extra={"event": {...}}`` adds structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if has_request_context():
            line["request_id"] = g.get("request_id", "")
        line.update(getattr(record, "event", {}) or {})
        if record.exc_info:
            line["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else ""
        return redact(json.dumps(line, ensure_ascii=False, default=str))  # request_id joins here, after filters


def log_event(name: str, *, level: int = logging.INFO, exc_info: bool = False, **fields) -> None:
    """Log a named event; callers pass only non-personal fields (ids, codes, counts, masked values).

    ``level`` for warnings and errors; ``exc_info`` keeps the exception being handled with the record
    (the JSON line shows its type only, and the redacting filter masks any trace other handlers print)."""
    logging.getLogger(EVENT_LOGGER).log(level, name, extra={"event": {"event": name, **fields}}, exc_info=exc_info)


def init_app(app: Flask) -> None:
    """Install the JSON handler once per process and stamp each request with an id."""
    from erhc_h5.security.logfilter import install

    root = logging.getLogger(EVENT_LOGGER)
    handler = next((h for h in root.handlers if isinstance(h.formatter, JsonFormatter)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.propagate = True
    install(root, handler)  # masks ID-number and mobile shapes before any handler sees a record
    install(logging.getLogger("werkzeug"))
    root.setLevel(app.config["LOG_LEVEL"])

    @app.before_request
    def _request_id() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        ok = incoming.isascii() and incoming.isalnum() and len(incoming) <= 32 and redact(incoming) == incoming
        g.request_id = incoming if ok else secrets.token_hex(8)

    @app.after_request
    def _echo_request_id(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response

"""HTTP hardening: CSP without inline script, nosniff, no referrer, framing by filed app origins."""
from __future__ import annotations

import re

from flask import Flask, abort, current_app, request, session
from werkzeug.routing import IntegerConverter

# The only form fields that take a file (filing screenshots, face photo): a file anywhere else is a 400,
# never a TypeError inside a text field's validators.
UPLOAD_FIELDS = frozenset({"screen", "photo"})


class DatabaseInt(IntegerConverter):
    """``<int:…>`` URL ids that fit a database integer; larger ones are a 404, not a PostgreSQL DataError."""

    def __init__(self, map, fixed_digits=0, min=None, max=2**31 - 1, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def has_nul(values) -> bool:
    """PostgreSQL text cannot hold NUL: such input is refused up front instead of failing in a query."""
    return any("\x00" in str(key) or any("\x00" in str(v) for v in values.getlist(key)) for key in values)


# An origin as CSP source expression: scheme://host[:port], nothing that could end the directive.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?")


def frame_origins(value) -> list[str]:
    """The configured app origins that are well-formed (anything else is dropped, never echoed)."""
    return [o for o in str(value or "").split() if _ORIGIN.fullmatch(o)]


def init_app(app: Flask) -> None:
    app.url_map.converters["int"] = DatabaseInt  # before the blueprints add their rules

    @app.before_request
    def _refuse_malformed_input():
        if "\x00" in request.path or has_nul(request.args):
            abort(400)
        if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded") and has_nul(request.form):
            abort(400)
        if request.mimetype == "multipart/form-data" and set(request.files) - UPLOAD_FIELDS:
            abort(400)

    @app.after_request
    def _security_headers(response):
        origins = " ".join(frame_origins(current_app.config.get("APP_ORIGINS", "")))
        csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
            f"form-action 'self'; frame-ancestors 'self' {origins}".rstrip()
        )
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if not current_app.config["SANDBOX"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.after_request
    def _idle_expiry(response):
        # Every non-empty session (resident or staff) is permanent, so its cookie carries the
        # idle lifetime and is re-issued on each request (SESSION_REFRESH_EACH_REQUEST).
        if session and not session.permanent:
            session.permanent = True
        return response

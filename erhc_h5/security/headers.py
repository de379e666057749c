"""HTTP hardening: CSP without inline script, nosniff, no referrer, framing by filed app origins."""
from __future__ import annotations

from flask import Flask, current_app


def init_app(app: Flask) -> None:
    @app.after_request
    def _security_headers(response):
        origins = " ".join(o for o in str(current_app.config.get("APP_ORIGINS", "")).split() if o)
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

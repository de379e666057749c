"""HTTP hardening: CSP without inline script, nosniff, no referrer to other origins, framing by filed app origins."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, current_app, request, session

SCRIPT_ORIGINS = "erhc.csp_script_origins"  # per request (the WSGI environ), never shared with another
# An origin as CSP source expression: scheme://host[:port], nothing that could end the directive.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?")


def frame_origins(value) -> list[str]:
    """The configured app origins that are well-formed (anything else is dropped, never echoed)."""
    return [o for o in str(value or "").split() if _ORIGIN.fullmatch(o)]


def script_origin(url: str) -> str | None:
    """The origin of a script's http(s) URL, fit for script-src, or None."""
    parts = urlsplit(str(url or ""))
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin if _ORIGIN.fullmatch(origin) else None


def allow_script(url: str) -> None:
    """Let this response's page load the script at ``url`` (its origin joins script-src, nothing else does)."""
    if (origin := script_origin(url)) is not None:
        request.environ[SCRIPT_ORIGINS] = (*request.environ.get(SCRIPT_ORIGINS, ()), origin)


def init_app(app: Flask) -> None:
    @app.after_request
    def _security_headers(response):
        origins = " ".join(frame_origins(current_app.config["APP_ORIGINS"]))
        scripts = " ".join(["'self'", *request.environ.get(SCRIPT_ORIGINS, ())])
        csp = (
            f"default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data: blob:; "
            "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
            f"form-action 'self'; frame-ancestors 'self' {origins}".rstrip()
        )
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # same-origin, not no-referrer: over HTTPS Flask-WTF refuses a form POST without a Referer of
        # this origin (WTF_CSRF_SSL_STRICT), and with no-referrer a browser sends none (Origin: null), so
        # every form behind TLS failed as csrf_failed. Other origins (a provider's page) still get none.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if current_app.config["PRODUCTION_CHECKS"]:
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

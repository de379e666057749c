"""HTTP hardening: CSRF, security headers, session cookie flags and idle expiry, no inline code in templates."""
from __future__ import annotations

import datetime as dt
import re
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from flask import session
from itsdangerous import TimestampSigner

from erhc_h5 import ROOT, create_app
from erhc_h5.resident import session as resident_session
from erhc_h5.cards.service import ensure_app_user
from tests.support import BASE_OVERRIDES, PRODUCTION, demo_app

TEMPLATES = ROOT / "templates"


def _csp(response) -> dict[str, list[str]]:
    policy = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        words = part.split()
        if words:
            policy[words[0]] = words[1:]
    return policy


def _cookie(response, name="session") -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "=")]
    assert cookies, f"no {name} cookie set"
    return cookies[-1]


def _session_routes(app):
    @app.route("/_t/set", methods=["GET", "POST"])
    def _t_set():
        session["probe"] = "1"
        return "ok"

    @app.route("/_t/get")
    def _t_get():
        return session.get("probe", "none")


def _production_app(**extra):
    app = create_app({**BASE_OVERRIDES, **PRODUCTION, "DATABASE_URL": "postgresql+psycopg://u@db.invalid/erhc", **extra})
    _session_routes(app)
    return app


# --- CSRF -----------------------------------------------------------------------------------------

def test_post_without_csrf_token_is_refused_in_chinese(app_with, seeded):
    app = app_with(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    response = client.post("/staff/login", data=seeded["users"]["admin"])
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "页面已过期" in body and "csrf_failed" in body and "Traceback" not in body
    assert "_user_id" not in (client.get_cookie("session").value if client.get_cookie("session") else "")
    bad = client.post("/staff/login", data={**seeded["users"]["admin"], "csrf_token": "forged"})
    assert bad.status_code == 400


def test_post_with_the_form_token_passes_csrf(app_with, seeded):
    app = app_with(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    assert token, "the login form carries a CSRF token"
    response = client.post("/staff/login", data={**seeded["users"]["admin"], "csrf_token": token.group(1)})
    assert response.status_code == 302


# --- headers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/healthz", "/staff/login", "/no-such-page", "/api/v1/nothing"])
def test_security_headers_on_every_kind_of_reply(app_with, path):
    app = app_with(APP_ORIGINS="https://app.example.cn https://h5.example.org:8443 bad;origin javascript:x")
    response = app.test_client().get(path)
    policy = _csp(response)
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'self'", "https://app.example.cn", "https://h5.example.org:8443"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Same-origin requests carry a Referer (the CSRF check over HTTPS needs it), other origins none.
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers


def test_static_files_carry_the_headers_too(client):
    css = next((ROOT / "static").rglob("*.css"))
    response = client.get("/static/" + css.relative_to(ROOT / "static").as_posix())
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff" and "script-src 'self'" in response.headers["Content-Security-Policy"]
    response.close()


def test_frame_ancestors_default_is_self_only(client):
    assert _csp(client.get("/healthz"))["frame-ancestors"] == ["'self'"]


def test_production_sends_hsts_and_secure_cookie():
    app = _production_app()
    client = app.test_client()
    response = client.get("/_t/set")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    cookie = _cookie(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


# --- session cookie -------------------------------------------------------------------------------

def _expires(cookie: str) -> dt.datetime:
    match = re.search(r"Expires=([^;]+)", cookie)
    assert match, f"cookie without Expires (not permanent): {cookie.split(';')[1:]}"
    return parsedate_to_datetime(match.group(1))


def test_sandbox_session_cookie_flags_and_30_minute_lifetime(app_with):
    app = app_with(setup=_session_routes)
    assert app.permanent_session_lifetime == dt.timedelta(minutes=30)
    response = app.test_client().get("/_t/set")
    cookie = _cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    left = _expires(cookie) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=29) < left <= dt.timedelta(minutes=30, seconds=1)


_REAL_TIMESTAMP = TimestampSigner.get_timestamp


def _later(monkeypatch, minutes: int):
    """Move the session signer's clock ``minutes`` past real time (cookies signed and checked then)."""
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: _REAL_TIMESTAMP(self) + minutes * 60)


def test_resident_session_is_permanent_refreshed_and_expires_when_idle(app_with, db_session, seeded, monkeypatch):
    user = ensure_app_user(db_session, demo_app(db_session), "idle-test-user")
    db_session.commit()

    def routes(app):
        @app.route("/_t/bind")
        def _t_bind():
            resident_session.bind(user)
            return "bound"

        @app.route("/_t/me")
        def _t_me():
            me = resident_session.current_app_user()
            return str(me.id) if me else "none"

    app = app_with(setup=routes)
    client = app.test_client()
    _expires(_cookie(client.get("/_t/bind")))
    _later(monkeypatch, 20)
    refreshed = client.get("/_t/me")
    assert refreshed.get_data(as_text=True) == str(user.id)
    _expires(_cookie(refreshed))  # re-issued on a plain read: the idle clock restarts
    _later(monkeypatch, 20 + 25)  # 25 minutes after the last request: still alive
    assert client.get("/_t/me").get_data(as_text=True) == str(user.id)
    _later(monkeypatch, 20 + 25 + 31)  # 31 idle minutes
    assert client.get("/_t/me").get_data(as_text=True) == "none"


def test_staff_session_expires_after_30_idle_minutes(app_with, seeded, monkeypatch):
    client = app_with(context=False).test_client()
    assert client.post("/staff/login", data=seeded["users"]["admin"]).status_code == 302
    assert client.get("/staff/").status_code == 200
    _later(monkeypatch, 20)
    assert client.get("/staff/").status_code == 200
    _later(monkeypatch, 20 + 25)  # 45 minutes after sign-in, 25 idle: the cookie was refreshed
    assert client.get("/staff/").status_code == 200
    _later(monkeypatch, 20 + 25 + 31)
    response = client.get("/staff/")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]


# --- templates ------------------------------------------------------------------------------------

INLINE = [
    ("inline <script> body", re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)),
    ("script with src and a body", re.compile(r"<script\b[^>]*\bsrc=[^>]*>\s*\S[^<]*</script>", re.I)),
    ("<style> block", re.compile(r"<style\b", re.I)),
    ("style= attribute", re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I | re.S)),
    ("on*= handler attribute", re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I | re.S)),
    ("javascript: URL", re.compile(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", re.I)),
]


def inline_code(text: str) -> list[str]:
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)  # Jinja comments
    return [what for what, pattern in INLINE if pattern.search(text)]


def test_no_template_carries_inline_script_or_style():
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert templates
    found = {str(t.relative_to(TEMPLATES)): inline_code(t.read_text("utf-8")) for t in templates}
    assert {name: what for name, what in found.items() if what} == {}


@pytest.mark.parametrize("snippet", [
    "<script>alert(1)</script>", '<script type="module">x()</script>', "<style>p{}</style>",
    '<p style="color:red">', '<button onclick="go()">', '<img src=x onerror=alert(1)>',
    '<a href="javascript:go()">', '<script src="/static/js/a.js">go()</script>',
])
def test_the_template_scan_catches_inline_code(snippet):
    assert inline_code(snippet)


@pytest.mark.parametrize("snippet", ['<script src="{{ url_for(\'static\', filename=\'js/a.js\') }}" defer></script>',
                                     '<link rel="stylesheet" href="/static/css/app.css">', '<p class="one">',
                                     '<input data-on="x" name="online">'])
def test_the_template_scan_allows_external_code(snippet):
    assert inline_code(snippet) == []

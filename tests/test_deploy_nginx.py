"""deploy/nginx.conf, run by a real nginx.

In front of a backend that reports which connection each request came on: upstream connections
are kept alive, and each is closed after at most 20 requests, so gunicorn's workers draw for
connections again (bench/README.md: with nginx's default of 1,000, one of two workers did 89-93 %
of the work in 2 of 3 runs).

In front of the app (ERHC_TRUSTED_PROXIES=1) with TLS on a port other than 443, as shipped but for
the certificate placeholders and the ports: a staff sign-in form (CSRF protected) posted through
it succeeds, from a real Chromium too (which sends a Referer only as the page's Referrer-Policy
allows); with ``X-Forwarded-Host $host`` (the port dropped) the same POST is refused as cross-site,
which is what a city met on :58443."""
from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import re
import shutil
import socket
import tempfile
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from erhc_h5 import migrate
from erhc_h5.db import get_db, session_scope
from erhc_h5.staff.services import create_user
from tests.support import (NGINX, REPO, drop_database, make_app, new_database_url, nginx_config, port_in,
                           start_nginx, stop_nginx)

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")
MOST_REQUESTS_PER_CONNECTION = 20  # the measured decision; see the module docstring
SHIPPED = (REPO / "deploy" / "nginx.conf").read_text(encoding="utf-8")
NGINX_PORTS = range(58440, 58460)  # this suite's nginx listeners
APP_PORTS = range(5140, 5160)  # this suite's app servers
STAFF = ("duty-admin", "Qz7-lantern-harbor-91")


class _Upstream(BaseHTTPRequestHandler):
    """Answers every request with 200 and notes the client port of its connection (one port, one
    connection from nginx)."""

    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn does
    seen: Counter = Counter()

    def do_GET(self):  # noqa: N802 - http.server's naming
        type(self).seen[self.client_address[1]] += 1
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxied():
    _Upstream.seen = Counter()
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    tmp = Path(tempfile.mkdtemp(prefix="erhc-nginx-"))
    listen = port_in(NGINX_PORTS)
    proxy = start_nginx(tmp, nginx_config(tmp, listen, upstream.server_address[1]), listen)
    try:
        yield listen
    finally:
        stop_nginx(proxy)
        upstream.shutdown()
        upstream.server_close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_nginx_reuses_upstream_connections_and_closes_each_after_20_requests(proxied):
    client = http.client.HTTPConnection("127.0.0.1", proxied, timeout=10)
    for _ in range(100):
        client.request("GET", "/healthz")
        answer = client.getresponse()
        assert answer.status == 200 and answer.read() == b"ok"
    client.close()
    per_connection = sorted(_Upstream.seen.values())
    assert sum(per_connection) == 100
    assert max(per_connection) <= MOST_REQUESTS_PER_CONNECTION, per_connection  # connections are made again
    assert len(per_connection) <= 10, per_connection  # and kept alive in between (not one per request)


def _directives(text: str, name: str) -> list[str]:
    """The values of every ``name`` directive in an nginx config, comments removed."""
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line[len(name):].strip().rstrip(";").strip() for line in lines if line.startswith(name + " ")]


def test_shipped_config_listens_with_tls_forwards_host_with_its_port_and_sends_hsts():
    forwarded = dict(value.split(None, 1) for value in _directives(SHIPPED, "proxy_set_header"))
    assert forwarded["X-Forwarded-Host"] == "$http_host"  # $host drops the port: every POST fails CSRF
    assert forwarded["X-Forwarded-Proto"] == "$scheme"
    assert forwarded["X-Forwarded-For"] == "$remote_addr"
    assert sorted(_directives(SHIPPED, "listen")) == ["443 ssl http2", "80"]
    assert _directives(SHIPPED, "return") == ["301 https://$host$request_uri"]  # port 80 only redirects
    assert any(v.startswith('Strict-Transport-Security "max-age=') for v in _directives(SHIPPED, "add_header"))
    assert "TLS is mandatory" in SHIPPED


def _throwaway_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, valid for a day, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    chain, private = folder / "fullchain.pem", folder / "privkey.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return chain, private


@pytest.fixture
def app_behind_one_proxy(tmp_path):
    """The app with CSRF on and one trusted proxy hop, served in this process; a staff account."""
    url = new_database_url(tmp_path)
    app = make_app(url, TRUSTED_PROXIES=1, WTF_CSRF_ENABLED=True)
    migrate.upgrade(app)
    with app.app_context(), session_scope() as session:
        create_user(session, STAFF[0], STAFF[1], "admin")
    server = make_server("127.0.0.1", port_in(APP_PORTS), app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        get_db(app).engine.dispose()
        drop_database(url)


@pytest.fixture
def tls_proxy(app_behind_one_proxy, tmp_path):
    """Start nginx with the shipped config (``edit`` applied to it first) on free TLS and HTTP ports;
    yields a function returning (https port, http port)."""
    started = []

    def start(edit=lambda text: text):
        tmp = Path(tempfile.mkdtemp(prefix="erhc-nginx-tls-"))
        https_port, http_port = port_in(NGINX_PORTS), None
        with socket.socket() as holder:  # keep the first port taken while the second is chosen
            holder.bind(("127.0.0.1", https_port))
            http_port = port_in(NGINX_PORTS)
        conf = nginx_config(tmp, https_port, app_behind_one_proxy, tls=_throwaway_certificate(tmp),
                            redirect_listen=http_port)
        (tmp / "site.conf").write_text(edit((tmp / "site.conf").read_text(encoding="utf-8")), encoding="utf-8")
        started.append((start_nginx(tmp, conf, https_port), tmp))
        return https_port, http_port, tmp / "fullchain.pem"

    yield start
    for proxy, tmp in started:
        stop_nginx(proxy)
        shutil.rmtree(tmp, ignore_errors=True)


def _sign_in(https_port: int, ca: Path) -> requests.Response:
    """A browser's staff sign-in over TLS: the form page, then its POST with the token and Referer."""
    with requests.Session() as browser:
        browser.trust_env = False  # the certificate below, whatever REQUESTS_CA_BUNDLE says
        browser.verify = str(ca)
        page_url = f"https://localhost:{https_port}/staff/login"
        page = browser.get(page_url, timeout=10)
        assert page.status_code == 200
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text)
        token = token or re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, "the sign-in page carries a CSRF token"
        return browser.post(page_url, data={"csrf_token": token.group(1), "username": STAFF[0], "password": STAFF[1]},
                            headers={"Referer": page_url}, allow_redirects=False, timeout=10)


@pytest.mark.slow
def test_a_csrf_form_posted_through_tls_on_a_non_default_port_succeeds(tls_proxy):
    https_port, http_port, ca = tls_proxy()
    answer = _sign_in(https_port, ca)
    assert answer.status_code == 302, answer.text[:300]
    assert answer.headers["Location"].endswith("/staff/")
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    plain = requests.get(f"http://127.0.0.1:{http_port}/staff/login?x=1", allow_redirects=False, timeout=10)
    assert plain.status_code == 301
    assert plain.headers["Location"] == f"https://127.0.0.1:{https_port}/staff/login?x=1"


@pytest.mark.slow
@pytest.mark.browser
def test_chromium_signs_in_through_tls_with_the_referer_it_chooses_to_send(tls_proxy, browser):
    """A real browser, not a client that adds a Referer by hand: over HTTPS the app's CSRF check wants
    a Referer of its own origin, and Chromium sends one only as the page's Referrer-Policy allows.
    With `no-referrer` it sent none (and `Origin: null`): every form behind TLS failed as csrf_failed."""
    https_port, _, _ = tls_proxy()
    context = browser.new_context(ignore_https_errors=True, locale="zh-CN")  # the throwaway cert
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"https://localhost:{https_port}/staff/login")
        page.get_by_label("用户名").fill(STAFF[0])
        page.get_by_label("密码").fill(STAFF[1])
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.get_by_role("button", name="登录").click()
        assert posted.value.status == 302, posted.value.text()[:300]
        page.wait_for_url(f"https://localhost:{https_port}/staff/")
    finally:
        context.close()


@pytest.mark.slow
def test_the_same_post_fails_csrf_when_the_proxy_drops_the_port(tls_proxy):
    shipped = "proxy_set_header X-Forwarded-Host $http_host;"
    https_port, _, ca = tls_proxy(lambda text: text.replace(shipped, "proxy_set_header X-Forwarded-Host $host;"))
    answer = _sign_in(https_port, ca)
    assert answer.status_code == 400
    assert "csrf_failed" in answer.text

"""deploy/nginx.conf, run by a real nginx in front of a backend that reports which connection
each request came on: upstream connections are kept alive, and each is closed after at most 20
requests, so gunicorn's workers draw for connections again (bench/README.md, session 5: with
nginx's default of 1,000, one of two workers did 89-93 % of the work in 2 of 3 runs)."""
from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support import free_port, nginx_config

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")
MOST_REQUESTS_PER_CONNECTION = 20  # the measured decision; see the module docstring


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
    listen = free_port()
    conf = nginx_config(tmp, listen, upstream.server_address[1])
    proxy = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            probe = http.client.HTTPConnection("127.0.0.1", listen, timeout=1)
            try:
                probe.connect()
                break
            except OSError:
                if time.monotonic() > deadline or proxy.poll() is not None:
                    pytest.fail("nginx did not start with deploy/nginx.conf: "
                                + (tmp / "nginx-error.log").read_text(errors="replace")[-500:])
                time.sleep(0.05)
            finally:
                probe.close()
        yield listen
    finally:
        os.killpg(proxy.pid, signal.SIGTERM)
        proxy.wait(timeout=15)
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

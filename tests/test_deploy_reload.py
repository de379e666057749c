"""`systemctl reload erhc-web` is SIGHUP to gunicorn (deploy/systemd/erhc-web.service): behind the
shipped nginx, with requests arriving all the time, a reload answers every one of them; the workers
are replaced (new process ids). This is what the README's upgrade relies on."""
from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from tests import processes
from tests.support import NGINX, REPO, nginx_config, port_in, start_nginx, stop_nginx, wait_until
from tests.test_deploy_nginx import APP_PORTS, NGINX_PORTS

pytestmark = [pytest.mark.slow, pytest.mark.skipif(NGINX is None, reason="nginx is not installed")]


def _get(port: int, path: str) -> tuple[int, bytes]:
    """One request on a new connection (a phone's), so no client-side keep-alive race is counted."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)  # nginx's proxy_read_timeout
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        answer = conn.getresponse()
        return answer.status, answer.read()
    except OSError as exc:
        return 0, repr(exc).encode()
    finally:
        conn.close()


@pytest.fixture
def gunicorn_behind_nginx(tmp_path):
    app_port = port_in(APP_PORTS)
    env = {**os.environ, "GUNICORN_BIND": f"127.0.0.1:{app_port}", "GUNICORN_WORKERS": "2",
           "GUNICORN_THREADS": "2", "GUNICORN_ACCESSLOG": "", "ERHC_DATABASE_URL": f"sqlite:///{tmp_path}/r.sqlite3"}
    server = processes.start([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"], cwd=REPO, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tmp = Path(tempfile.mkdtemp(prefix="erhc-nginx-reload-"))
    listen = port_in(NGINX_PORTS)
    proxy = None
    try:
        assert wait_until(lambda: _get(app_port, "/healthz")[0] == 200, timeout=30), "gunicorn did not start"
        proxy = start_nginx(tmp, nginx_config(tmp, listen, app_port), listen)
        yield server, listen
    finally:
        if proxy is not None:
            stop_nginx(proxy)
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=40)
        finally:
            processes.kill_group(server)
        shutil.rmtree(tmp, ignore_errors=True)


def _worker_pids(master: int) -> set[int]:
    children = Path(f"/proc/{master}/task/{master}/children")
    return {int(pid) for pid in children.read_text().split()} if children.exists() else set()


def test_sighup_reload_drops_no_request(gunicorn_behind_nginx):
    server, port = gunicorn_behind_nginx
    before = _worker_pids(server.pid)
    answers: list[tuple[int, bytes]] = []
    stop = threading.Event()

    def phone():
        while not stop.is_set():
            answers.append(_get(port, "/healthz"))

    phones = [threading.Thread(target=phone) for _ in range(4)]
    for thread in phones:
        thread.start()
    try:
        assert wait_until(lambda: len(answers) >= 50, timeout=30)
        os.kill(server.pid, signal.SIGHUP)
        replaced = wait_until(lambda: (pids := _worker_pids(server.pid)) and not (pids & before)
                              and len(pids) == 2, timeout=60)
        settled = len(answers)
        assert wait_until(lambda: len(answers) >= settled + 50, timeout=30)
    finally:
        stop.set()
        for thread in phones:
            thread.join(timeout=15)
    assert replaced, "the workers were not replaced by the reload"
    failed = [(status, body[:120]) for status, body in answers if status != 200]
    assert failed == [], f"{len(failed)} of {len(answers)} requests failed during the reload: {failed[:3]}"

"""Race harness: the real app under gunicorn on a fresh database, and threads released together.

A race only shows on a real server: several worker processes, each with its own threads and its own
database connections, as in production. The in-process test client serialises everything.

API
---
``start_server(tmp_dir, env=None) -> Server``
    Creates a brand-new database (a PostgreSQL database on ``ERHC_TEST_DATABASE_URL`` when set, else
    a SQLite file in ``tmp_dir``), migrates it (``flask db upgrade``), seeds it (``flask demo seed``,
    whose last output line is the contract JSON) and starts
    ``gunicorn -w 4 -k gthread --threads 4 app:app`` on a free local port with ``ERHC_DATABASE_URL``,
    ``ERHC_SECRET_KEY`` and sandbox defaults. The rate limiter is off unless ``env`` turns it on
    (``{"ERHC_RATELIMIT_ENABLED": "true"}``): many sign-ins come from one address. ``env`` adds or
    overrides server environment variables. ``Server.stop()`` stops gunicorn and drops the database.

``Server``
    ``base_url``, ``database_url``, ``secret_key``.
    ``seed``: the demo seed JSON (``device_token``, ``users`` {role: {username, password}}, …).
    ``url(path)``: absolute URL of a path.
    ``csrf(s, path)``: the CSRF token of the form on ``path``, fetched with ``s`` (one per session).
    ``post_form(s, path, data, page=None)``: POST ``data`` plus the CSRF token taken from ``page``
    (default ``path``) without following redirects.
    ``staff_session(role=None, *, username=None, password=None)``: a session signed in at
    ``/staff/login`` as the demo user of ``role`` or with the given credentials.
    ``session(source=None)``: a new ``requests.Session``, connecting from the loopback address ``source``.
    ``resident_session(uid, *, consent=True, app_filing_no=None, source=None)``: a session launched through the
    signed launch URL of the demo app (or of the filed app ``app_filing_no``) as app user ``uid``,
    past the consent page (now on ``/h5/identity``) unless ``consent=False``.
    ``launch_url(uid, app_filing_no=None)``: a fresh signed launch URL (one use each).
    ``app``: a Flask app object on the same database and secret, for reading and arranging state
    in-process: ``with server.db() as session: …`` (committed on success).
    ``server_errors()``: access-log lines (status, method, path; never query strings) answered 5xx.

``race(n, fn, sessions=None, timeout=120) -> list``
    Runs ``fn(i, s)`` for i in 0..n-1 in n threads held at a ``threading.Barrier`` and released
    together; ``s`` is ``sessions[i]`` when given (prepare sign-ins before the race, so only the
    contested request races) else a new ``requests.Session``. Returns the results in index order;
    an exception in any thread is raised after all threads end.

``tests/attacks/conftest.py`` gives a session-wide ``server`` fixture (one gunicorn for the whole
attack suite; tests make their own users, filings and residents so they do not interfere).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import requests

from tests import processes
from tests.support import SourceAddress, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKERS, THREADS = 4, 4
_CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"|value="([^"]+)"[^>]*?name="csrf_token"')


def _run_cli(env: dict, *args: str) -> str:
    done = subprocess.run([str(BIN / "flask"), "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


class Server:
    """One gunicorn serving the app on its own database (see the module docstring)."""

    def __init__(self, tmp_dir: Path, env: dict | None = None) -> None:
        from tests.support import new_database_url

        self.tmp_dir = Path(tmp_dir)
        self.database_url = new_database_url(self.tmp_dir)
        self.secret_key = "race-" + secrets.token_hex(16)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.access_log = self.tmp_dir / "gunicorn-access.log"
        self.error_log = self.tmp_dir / "gunicorn-error.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ERHC_")}
        self.env.update({
            "ERHC_DATABASE_URL": self.database_url,
            "ERHC_SECRET_KEY": self.secret_key,
            "ERHC_RATELIMIT_ENABLED": "false",
            "ERHC_UPLOAD_DIR": str(self.tmp_dir / "uploads"),
            "ERHC_LOG_LEVEL": "WARNING",
        })
        self.env.update(env or {})
        self.proc: subprocess.Popen | None = None
        self._app = None
        self.seed: dict = {}

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "Server":
        _run_cli(self.env, "db", "upgrade")
        self.seed = json.loads(_run_cli(self.env, "demo", "seed").strip().splitlines()[-1])
        cmd = [str(BIN / "gunicorn"), "-w", str(WORKERS), "-k", "gthread", "--threads", str(THREADS),
               "-b", f"127.0.0.1:{self.port}", "--timeout", "60", "--graceful-timeout", "5",
               "--access-logfile", str(self.access_log), "--access-logformat", "%(s)s %(m)s %(U)s",
               "--error-logfile", str(self.error_log), "app:app"]
        self.proc = processes.start(cmd, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self._error_tail()}")
            try:
                if requests.get(self.url("/healthz"), timeout=2).status_code == 200:
                    # Every worker must be up, or the first race measures start-up instead of locking.
                    time.sleep(0.5)
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass  # not up yet, or busy starting its workers
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /healthz within 60 s:\n{self._error_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        if self.proc is not None:
            processes.kill_group(self.proc)
        self.proc = None
        if self._app is not None:
            from erhc_h5.db import get_db

            get_db(self._app).engine.dispose()
            self._app = None
        from tests.support import drop_database

        drop_database(self.database_url)

    def _error_tail(self) -> str:
        try:
            return self.error_log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def server_errors(self) -> list[str]:
        """Access-log lines answered 5xx (status, method, path)."""
        try:
            lines = self.access_log.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in lines if line[:1] == "5"]

    # -- in-process access to the same database ----------------------------------------------
    @property
    def app(self):
        if self._app is None:
            from erhc_h5 import create_app

            self._app = create_app({"DATABASE_URL": self.database_url, "SECRET_KEY": self.secret_key,
                                    "RATELIMIT_ENABLED": False, "UPLOAD_DIR": self.env["ERHC_UPLOAD_DIR"]})
        return self._app

    @contextmanager
    def db(self) -> Iterator[Any]:
        """A session on the server's database (committed on success), inside an app context."""
        from erhc_h5.db import session_scope

        with self.app.app_context(), session_scope(self.app) as session:
            yield session

    # -- HTTP --------------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return self.base_url + path

    def session(self, source: str | None = None) -> requests.Session:
        """A new client; ``source`` a loopback address (127.0.0.x) it connects from, so the server sees
        one more source address (the limits count by it)."""
        s = requests.Session()
        if source is not None:
            s.mount("http://", SourceAddress(source))
        return s

    def csrf(self, s: requests.Session, path: str) -> str:
        page = s.get(self.url(path), timeout=30)
        found = _CSRF.search(page.text)
        if not found:
            raise AssertionError(f"no CSRF token on {path} (HTTP {page.status_code})")
        return found.group(1) or found.group(2)

    def post_form(self, s: requests.Session, path: str, data: dict, page: str | None = None) -> requests.Response:
        token = self.csrf(s, page or path)
        return s.post(self.url(path), data={**data, "csrf_token": token}, allow_redirects=False, timeout=60)

    def staff_session(self, role: str | None = None, *, username: str | None = None,
                      password: str | None = None) -> requests.Session:
        if role is not None:
            username, password = self.seed["users"][role]["username"], self.seed["users"][role]["password"]
        s = self.session()
        response = self.post_form(s, "/staff/login", {"username": username, "password": password})
        if response.status_code != 302:
            raise AssertionError(f"staff sign-in as {username} refused (HTTP {response.status_code})")
        return s

    def launch_url(self, uid: str, app_filing_no: str | None = None) -> str:
        from sqlalchemy import select

        from erhc_h5.filing.models import FiledApp
        from erhc_h5.resident.launch import make_launch_url

        filing_no = app_filing_no or self.seed["app_record_no_recognize"]
        with self.db() as session:
            filed = session.scalar(select(FiledApp).where(FiledApp.app_filing_no == filing_no))
            if filed is None or not filed.launch_secret:
                raise AssertionError(f"no launchable filed app {filing_no}")
            secret = filed.launch_secret
        return make_launch_url(filing_no, uid, secret, base=self.base_url)

    def resident_session(self, uid: str, *, consent: bool = True, app_filing_no: str | None = None,
                         source: str | None = None) -> requests.Session:
        s = self.session(source)
        response = s.get(self.launch_url(uid, app_filing_no), allow_redirects=False, timeout=30)
        if response.status_code != 302:
            raise AssertionError(f"launch refused (HTTP {response.status_code})")
        if consent:
            response = self.post_form(s, "/h5/consent", {"agree": "y"})
            if response.status_code != 302 or not response.headers["Location"].endswith("/h5/identity"):
                raise AssertionError(f"consent not accepted (HTTP {response.status_code})")
        return s


def start_server(tmp_dir: Path, env: dict | None = None) -> Server:
    """Start gunicorn on a fresh migrated, seeded database (see the module docstring)."""
    return Server(tmp_dir, env).start()


def race(n: int, fn: Callable[[int, requests.Session], Any], sessions: list | None = None,
         timeout: float = 120) -> list:
    """Run ``fn(i, s)`` in n threads released together by a barrier; results in index order."""
    if sessions is not None and len(sessions) != n:
        raise ValueError("one session per thread")
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list[BaseException | None] = [None] * n

    def run(i: int) -> None:
        s = sessions[i] if sessions is not None else requests.Session()
        try:
            barrier.wait(timeout=timeout)
            results[i] = fn(i, s)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            errors[i] = exc
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"race of {n} did not finish within {timeout} s")
    for exc in errors:
        if exc is not None and not isinstance(exc, threading.BrokenBarrierError):
            raise exc
    for exc in errors:
        if exc is not None:
            raise exc
    return results

"""Shared fixtures: an app on the Alembic-migrated test database, each test in a rolled-back
transaction (``app_with`` builds more apps, with other settings, on that transaction); ``fresh_app``
for tests that need real commits (workers, live servers); the demo app; the sync chain (a live
sandbox province). What they are built from is in ``tests/support.py``."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

import pytest
from flask import request

from erhc_h5 import migrate

from erhc_h5.sandbox import demo
from erhc_h5.db import get_db, get_session
from erhc_h5.sandbox.receiver import set_faults
from tests import processes
from tests.support import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Chain, LiveServer, drop_database, make_app,
                           new_database_url)
from tests.support import demo_app as find_demo_app


# Fixtures that start a server (werkzeug on a live port, gunicorn, nginx) or Chromium: a test using one
# takes seconds, so it is ``slow`` by construction; one driving Chromium is also ``browser``.
SERVER_FIXTURES = frozenset({"live_server", "chain", "server", "limited_server", "proxied"})
BROWSER_FIXTURES = frozenset({"browser", "phone"})


def pytest_collection_modifyitems(items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if used & (SERVER_FIXTURES | BROWSER_FIXTURES):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _one_scrypt_per_password():
    """scrypt spends ~0.12 s of CPU per hash and per check, and the demo seed hashes the same five
    passwords for every test that seeds: tests reuse one hash per password and one verdict per
    (hash, password). The application itself hashes and checks every time."""
    from erhc_h5.staff import models

    real_make, real_check = models.generate_password_hash, models.check_password_hash
    made: dict = {}
    checked: dict = {}

    def make(password, *args, **kwargs):
        key = (password, args, tuple(sorted(kwargs.items())))
        if key not in made:
            made[key] = real_make(password, *args, **kwargs)
        return made[key]

    def check(pwhash, password):
        if (pwhash, password) not in checked:
            checked[(pwhash, password)] = real_check(pwhash, password)
        return checked[(pwhash, password)]

    models.generate_password_hash, models.check_password_hash = make, check
    yield
    models.generate_password_hash, models.check_password_hash = real_make, real_check


@pytest.fixture(scope="session")
def _session_db(tmp_path_factory):
    url = new_database_url(tmp_path_factory.mktemp("db"))
    app = make_app(url)
    migrate.upgrade(app)
    get_db(app).engine.dispose()
    yield url
    drop_database(url)


@pytest.fixture
def app(_session_db):
    """The app bound to one connection whose transaction is rolled back after the test."""
    app = make_app(_session_db)
    db = get_db(app)
    connection = db.engine.connect()
    transaction = connection.begin()
    db.bind_to(connection)
    with app.app_context():
        yield app
    db.bind_to(None)
    transaction.rollback()
    connection.close()
    db.engine.dispose()


@pytest.fixture
def app_with(app):
    """Build apps with extra settings (and optional test-only routes via ``setup``) that share the
    ``app`` fixture's connection, so they see its data and everything is rolled back with it."""
    connection = get_db(app).factory.kw["bind"]
    with ExitStack() as stack:
        def build(setup=None, context=True, **overrides):
            other = make_app(app.config["DATABASE_URL"], **overrides)
            if setup is not None:
                setup(other)
            get_db(other).bind_to(connection)
            stack.callback(get_db(other).engine.dispose)
            if context:  # without one, each request gets its own app context and g, as in production
                stack.enter_context(other.app_context())
            return other

        yield build


@pytest.fixture
def fresh_app(tmp_path):
    """An app on its own new, migrated database with real commits (dropped afterwards)."""
    url = new_database_url(tmp_path)
    app = make_app(url)
    migrate.upgrade(app)
    yield app
    get_db(app).engine.dispose()
    drop_database(url)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def db_session(app):
    return get_session()


@pytest.fixture
def seeded(app, db_session):
    """Sandbox demo data (the contract JSON)."""
    result = demo.seed(app, db_session)
    db_session.commit()
    return result


class StaffAuth:
    """Sign staff in and out through the real login page."""

    def __init__(self, client, seeded):
        self.client = client
        self.users = seeded["users"]

    def login(self, role: str):
        creds = self.users[role]
        return self.client.post("/staff/login", data=creds, follow_redirects=False)

    def logout(self):
        return self.client.post("/staff/logout")


@pytest.fixture
def demo_app(db_session, seeded):
    """The seeded demo app (approved, all four methods filed)."""
    return find_demo_app(db_session)


@pytest.fixture
def auth(client, seeded):
    return StaffAuth(client, seeded)


@pytest.fixture(scope="session")
def artifacts_dir():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def tmpdir_path():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


@pytest.fixture
def chain(fresh_app):
    """Fresh app + sandbox receiver on a live port; PROVINCE_URL points at it; no retry delay."""
    app = fresh_app
    chain_ref: list[Chain] = []
    lock = threading.Lock()

    @app.before_request
    def _capture():
        if request.path.endswith("/erhc/v1/auth-records"):
            with lock:
                chain_ref[0].bodies.append(request.get_data(cache=True))

    @app.teardown_request
    def _count_answered(_exc):
        if request.path.endswith("/erhc/v1/auth-records"):
            with lock:
                chain_ref[0].answered += 1

    server = LiveServer(app).start()
    chain = Chain(app, server)
    chain_ref.append(chain)
    app.config.update(PROVINCE_URL=chain.province_url, SYNC_RETRY_BASE_SECONDS=0, SYNC_LEASE_SECONDS=30,
                      PROVINCE_READ_TIMEOUT=10)
    set_faults(app, {})
    yield chain
    server.stop()


def pytest_sessionfinish(session, exitstatus):
    """No server, proxy or worker a test started outlives the session, also after Ctrl-C."""
    processes.kill_all()


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the whole session: Playwright's sync API runs one event loop per process."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()

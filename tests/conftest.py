"""Shared fixtures: an app on the Alembic-migrated test database, each test in a rolled-back
transaction; ``fresh_app`` for tests that need real commits (workers, live servers)."""
from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from erhc_h5 import create_app, demo, migrate
from erhc_h5.db import get_db

TEST_DB_URL = os.environ.get("ERHC_TEST_DATABASE_URL", "")
ARTIFACTS = Path(os.environ.get("ERHC_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))

BASE_OVERRIDES = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key",
    "SYNC_RETRY_BASE_SECONDS": 0,
    "RATELIMIT_ENABLED": False,
    "WTF_CSRF_ENABLED": False,
    "PROVINCE_URL": "http://province.test",
}


def _new_database_url(tmp_dir: Path) -> str:
    """A brand-new empty database: a SQLite file, or a new PostgreSQL database on the test server."""
    if not TEST_DB_URL:
        return f"sqlite:///{tmp_dir / ('erhc-' + secrets.token_hex(4) + '.sqlite3')}"
    url = make_url(TEST_DB_URL)
    name = f"erhc_test_{secrets.token_hex(5)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    parsed = make_url(url)
    admin = create_engine(make_url(TEST_DB_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def make_app(database_url: str, **overrides):
    app = create_app({**BASE_OVERRIDES, "DATABASE_URL": database_url, **overrides})
    return app


@pytest.fixture(scope="session")
def _session_db(tmp_path_factory):
    url = _new_database_url(tmp_path_factory.mktemp("db"))
    app = make_app(url)
    migrate.upgrade(app)
    get_db(app).engine.dispose()
    yield url
    _drop_database(url)


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
def fresh_app(tmp_path):
    """An app on its own new, migrated database with real commits (dropped afterwards)."""
    url = _new_database_url(tmp_path)
    app = make_app(url)
    migrate.upgrade(app)
    yield app
    get_db(app).engine.dispose()
    _drop_database(url)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def db_session(app):
    from erhc_h5.db import get_session

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

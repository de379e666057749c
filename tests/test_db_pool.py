"""The PostgreSQL connection budget of one process is ERHC_DATABASE_POOL_SIZE + ERHC_DATABASE_MAX_OVERFLOW
(README, "Database connections"): the keys reach the engine, bad values are refused, and on a real
server the process opens no more than their sum."""
from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

from erhc_h5 import create_app
from erhc_h5.config import ConfigError
from erhc_h5.db import get_db
from tests.support import TEST_DB_URL, drop_database, new_database_url

SERVER = "postgresql+psycopg://u@db.invalid/erhc"  # engine creation does not connect


def test_the_pool_keys_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ERHC_DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("ERHC_DATABASE_MAX_OVERFLOW", "3")
    monkeypatch.setenv("ERHC_DATABASE_POOL_TIMEOUT_SECONDS", "4.5")
    pool = get_db(create_app({"DATABASE_URL": SERVER})).engine.pool
    assert (pool.size(), pool.timeout()) == (7, 4.5)


def test_the_default_budget_is_fifteen_per_process():
    pool = get_db(create_app({"DATABASE_URL": SERVER})).engine.pool
    assert pool.size() == 5 and pool.overflow() == -5  # nothing open yet; 10 more may open past the 5


@pytest.mark.parametrize("bad", [{"DATABASE_POOL_SIZE": 0}, {"DATABASE_MAX_OVERFLOW": -1},
                                 {"DATABASE_POOL_TIMEOUT_SECONDS": 0}, {"DATABASE_POOL_SIZE": "many"}])
def test_unusable_pool_settings_are_refused_in_one_line(bad):
    with pytest.raises(ConfigError) as info:
        create_app({"DATABASE_URL": SERVER, **bad})
    assert f"ERHC_{next(iter(bad))}" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.skipif(not TEST_DB_URL.startswith("postgresql"), reason="needs PostgreSQL (ERHC_TEST_DATABASE_URL)")
def test_a_process_opens_no_more_than_pool_size_plus_overflow(tmp_path):
    url = new_database_url(tmp_path, prefix="erhc_pool")
    engine = get_db(create_app({"DATABASE_URL": url, "DATABASE_POOL_SIZE": 2, "DATABASE_MAX_OVERFLOW": 1,
                                "DATABASE_POOL_TIMEOUT_SECONDS": 0.2})).engine
    held = [engine.connect() for _ in range(3)]
    try:
        with pytest.raises(sa_exc.TimeoutError):
            engine.connect()
    finally:
        for conn in held:
            conn.close()
        engine.dispose()
        drop_database(url)

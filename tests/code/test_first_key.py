"""A new deployment's first signing key is made once, however many requests need it at once.

Two keys made side by side would each sign codes that the other workers do not know yet (their
caches learn a new key id at most once a second): valid codes refused as unknown_key at the gate.
"""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from erhc_h5.code import keys
from erhc_h5.code.models import CodeSigningKey
from erhc_h5.db import get_db, is_sqlite_lock_conflict, session_scope
from erhc_h5.security import revocation

N = 8


def test_requests_needing_the_first_key_at_once_make_one(fresh_app):
    with fresh_app.app_context(), session_scope() as s:
        keys._load(s, keys._cache(fresh_app), revocation.read(s))  # every request's cache: loaded, and empty
    barrier = threading.Barrier(N)
    kids: list[str] = []
    refused: list[BaseException] = []

    def need_a_key() -> None:
        with fresh_app.app_context():
            try:
                with session_scope() as s:
                    s.execute(select(CodeSigningKey.kid)).all()  # the request's snapshot begins
                    barrier.wait(10)
                    kid = keys.signing_key(s).kid
                kids.append(kid)
            except Exception as exc:  # noqa: BLE001 - judged below
                refused.append(exc)

    threads = [threading.Thread(target=need_a_key) for _ in range(N)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with fresh_app.app_context(), session_scope() as s:
        made = s.scalar(select(func.count()).select_from(CodeSigningKey))
    assert made == 1
    # On SQLite a request whose snapshot predates the key cannot write another: it is refused as a
    # lock conflict (a GET runs again, a POST took the write lock at BEGIN and never gets here).
    assert all(is_sqlite_lock_conflict(exc) for exc in refused), refused
    assert kids and len(set(kids)) == 1, kids


def test_a_cache_loaded_before_another_workers_first_key_uses_that_key(fresh_app):
    """This worker's cache was loaded empty moments ago; another worker has since made the first
    key. Signing must use that key, not make a second one."""
    with fresh_app.app_context(), session_scope() as s:
        keys._load(s, keys._cache(fresh_app), revocation.read(s))
    with fresh_app.app_context(), session_scope() as s:
        other = keys._new_key(s).kid  # another worker's first key, committed
    with fresh_app.app_context(), session_scope() as s:
        assert keys.signing_key(s).kid == other
    with fresh_app.app_context(), session_scope() as s:
        assert s.scalars(select(CodeSigningKey.kid)).all() == [other]


def test_a_request_queued_for_the_first_key_does_not_stop_other_requests_reading_keys(fresh_app):
    """While one request's first key is uncommitted, a second request of the same process queues
    for it in the database; meanwhile a scan in that process must still reload the key list (with
    the queue on the process's cache lock, it waited for the first request's commit)."""
    import pytest

    if get_db(fresh_app).is_sqlite:
        pytest.skip("the creators' queue is PostgreSQL's advisory lock; SQLite serialises writers itself")
    with fresh_app.app_context():
        first = get_db(fresh_app).factory()
        kid = keys.signing_key(first).kid  # made, not committed: the queue is held
        queued_kid: list[str] = []

        def second_request() -> None:
            with fresh_app.app_context(), session_scope() as s:
                queued_kid.append(keys.signing_key(s).kid)

        waiting = threading.Thread(target=second_request)
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive()  # queued behind the first request's transaction
        scanned: list[object] = []

        def scan() -> None:
            with fresh_app.app_context(), session_scope() as s:
                keys.invalidate(fresh_app)
                scanned.append(keys.get_key(s, "none"))

        scanner = threading.Thread(target=scan)
        scanner.start()
        scanner.join(5)
        alive = scanner.is_alive()
        first.commit()
        first.close()
        waiting.join(10)
        scanner.join(10)
    assert not alive, "a key reload waited for another request's transaction"
    assert scanned == [None] and queued_kid == [kid]

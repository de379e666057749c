"""SQLite's writers queue on one lock per database file, across threads and worker processes.

Without it, a writer that finds the database busy sleeps in SQLite's busy handler (up to 100 ms a
poll) and, under many writers, can lose the lock over and over while the database sits idle; a GET
that writes began as a read and lost its write to any parallel writer, then ran again. What must
hold: a write transaction holds the lock from BEGIN until its COMMIT or ROLLBACK has gone through
(also when the pool takes the connection back unfinished), another process's holder makes it wait,
reads never take it, and the GETs that write take it at BEGIN instead of running twice.
"""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from sqlalchemy import event, select, text

from erhc_h5.sandbox import demo
from erhc_h5.db import WriterLock, get_db, get_session, session_scope, write_transaction, writing
from tests import processes
from tests.support import Journey, demo_app, make_launch_url


@pytest.fixture
def sqlite_app(fresh_app):
    if not get_db(fresh_app).is_sqlite:
        pytest.skip("the writer lock is SQLite's")
    return fresh_app


def _free_elsewhere(lock: WriterLock, timeout: float = 0.05) -> bool:
    """Whether another thread can take the lock within ``timeout`` (it gives it back at once)."""
    got: list[bool] = []

    def take() -> None:
        ok = lock.acquire(timeout=timeout)
        got.append(ok)
        if ok:
            lock.release()

    worker = threading.Thread(target=take)
    worker.start()
    worker.join(10)
    return got == [True]


def _post_write(app, finish: str) -> None:
    """A state-changing request's transaction, ended by ``finish``."""
    lock = get_db(app).writer_lock
    with app.test_request_context("/x", method="POST"):
        session = get_session()
        session.execute(text("UPDATE scan_devices SET site_name = site_name WHERE id = -1"))
        assert not _free_elsewhere(lock), "a POST's transaction holds the writer lock from BEGIN"
        if finish == "commit":
            session.commit()
        elif finish == "rollback":
            session.rollback()
        elif finish == "error":
            with pytest.raises(Exception):
                session.execute(text("INSERT INTO no_such_table VALUES (1)"))
            session.rollback()
        elif finish == "invalidate":  # a connection thrown away mid-transaction (a lost or broken one)
            session.connection().invalidate()
            session.rollback()
        # "close": the pool takes the connection back unfinished at the request's end
    assert _free_elsewhere(lock), f"the writer lock is given back after {finish}"


@pytest.mark.parametrize("finish", ["commit", "rollback", "error", "invalidate", "close"])
def test_a_write_holds_the_lock_from_begin_until_it_ends(sqlite_app, finish):
    _post_write(sqlite_app, finish)


def test_reads_do_not_take_the_lock(sqlite_app):
    lock = get_db(sqlite_app).writer_lock
    with sqlite_app.test_request_context("/x", method="GET"):
        get_session().execute(select(1))
        assert _free_elsewhere(lock)


def test_the_lock_is_reentrant_in_its_thread_and_exclusive_across_threads(tmp_path):
    lock = WriterLock(str(tmp_path / "db.sqlite3"))
    assert lock.acquire(timeout=0)
    assert lock.acquire(timeout=0)  # the console scan: the writer lock, then its transaction's BEGIN
    lock.release()
    assert not _free_elsewhere(lock), "still held once"
    lock.release()
    assert _free_elsewhere(lock)


def test_releasing_a_lock_not_held_changes_nothing(tmp_path):
    """A pooled connection inherited across a fork believes it holds the lock and gives it back:
    that must not raise (a 500 at the next checkin) nor break the lock for its next holder."""
    lock = WriterLock(str(tmp_path / "db.sqlite3"))
    lock.release()
    assert lock.acquire(timeout=0)
    lock.release()
    lock.release()
    assert lock.acquire(timeout=0)
    assert not _free_elsewhere(lock), "still exclusive after the stray releases"
    lock.release()
    assert _free_elsewhere(lock)


def test_a_holder_in_another_process_makes_a_write_wait(sqlite_app):
    """A worker process holding the lock (flock) stops this process's writers until it lets go."""
    path = get_db(sqlite_app).writer_lock.path
    holder = processes.start(
        [sys.executable, "-c",
         "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()", path],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        done = threading.Event()

        def write() -> None:
            with sqlite_app.app_context(), session_scope() as s:
                write_transaction(s)
                s.execute(text("UPDATE scan_devices SET site_name = site_name WHERE id = -1"))
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert not done.wait(0.5), "the write went ahead while another process held the lock"
        holder.stdin.close()
        holder.wait(10)
        assert done.wait(10), "the write did not go ahead once the other process let go"
        writer.join(10)
    finally:
        processes.kill_group(holder)


def test_the_console_scan_nests_its_transaction_inside_the_lock(sqlite_app):
    """The console takes the lock, then begins its transaction with write intent: no deadlock."""
    finished = threading.Event()

    def console_like() -> None:
        with sqlite_app.test_request_context("/scan", method="POST"):
            session = get_session()
            with writing():
                session.execute(text("UPDATE scan_devices SET site_name = site_name WHERE id = -1"))
                session.commit()
        finished.set()

    worker = threading.Thread(target=console_like, daemon=True)
    worker.start()
    assert finished.wait(10), "the nested acquisition deadlocked"
    assert _free_elsewhere(get_db(sqlite_app).writer_lock)


def _statements(app):
    seen: list[str] = []

    def record(conn, cursor, statement, *_):
        seen.append(" ".join(statement.split()))

    event.listen(get_db(app).engine, "before_cursor_execute", record)
    return seen


def test_writing_gets_take_the_lock_at_begin_and_draw_the_code_outside_it(sqlite_app, monkeypatch):
    """The launch records its nonce in a transaction begun IMMEDIATE; a card's first code face
    writes the code reference in a transaction of its own (begun IMMEDIATE) and signs and draws
    the code after it committed; later code faces write nothing."""
    from erhc_h5.code import service

    with sqlite_app.app_context(), session_scope() as s:
        demo.seed(sqlite_app, s)
    client = sqlite_app.test_client()
    with sqlite_app.app_context():
        session = get_session()
        journey = Journey(client, session)
        filed = demo_app(session)
        url = make_launch_url(filed, "lock-user", filed.launch_secret)
        session.commit()
        seen = _statements(sqlite_app)
        assert client.get(url).status_code == 302
        begins = [s for s in seen if s.startswith("BEGIN")]
        assert begins and begins[0] == "BEGIN IMMEDIATE", seen
        assert any(s.startswith("INSERT INTO launch_nonces") for s in seen)
        journey.consent()
        assert journey.identity().status_code == 302
        assert journey.profile().status_code == 302
        assert client.post("/h5/verify/two-factor").headers["Location"].endswith("/h5/code")
        lock = get_db(sqlite_app).writer_lock
        drawn_free: list[bool] = []
        real = service.render.matrix
        monkeypatch.setattr(service.render, "matrix",
                            lambda text_: drawn_free.append(_free_elsewhere(lock)) or real(text_))
        seen.clear()
        face = client.get("/h5/code")
        assert face.status_code == 200 and 'alt="电子健康码"' in face.get_data(as_text=True)
        assert drawn_free == [True], "the code was drawn while the writer lock was held"
        inserted = next(i for i, s in enumerate(seen) if s.startswith("INSERT INTO code_card_refs"))
        assert [s for s in seen[:inserted] if s.startswith("BEGIN")][-1] == "BEGIN IMMEDIATE", seen
        seen.clear()
        assert client.get("/h5/code").status_code == 200
        assert not any(s.startswith(("INSERT", "UPDATE", "BEGIN IMMEDIATE")) for s in seen), seen


def test_a_forked_worker_does_not_share_its_parents_lock(tmp_path):
    """gunicorn's preload_app forks workers from a process that may have used the lock: flock
    belongs to the open file description, so a child using the inherited descriptor would "hold"
    the lock together with its parent. The child opens its own and waits for the parent."""
    import os

    lock = WriterLock(str(tmp_path / "db.sqlite3"))
    assert lock.acquire(timeout=0)  # used before the fork: its descriptor is open
    lock.release()
    to_parent_r, to_parent_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: try to take it while the parent holds it
        code = 1
        try:
            os.read(go_r, 1)  # the parent holds it now
            got = threading.Event()
            threading.Thread(target=lambda: lock.acquire(timeout=10) and got.set(), daemon=True).start()
            os.write(to_parent_w, b"held-by-parent" if not got.wait(0.5) else b"shared")
            os.read(go_r, 1)  # the parent released it
            os.write(to_parent_w, b"|acquired" if got.wait(10) else b"|stuck")
            code = 0
        finally:
            os._exit(code)
    try:
        assert lock.acquire(timeout=0)
        os.write(go_w, b"x")
        first = os.read(to_parent_r, 64)
        lock.release()
        os.write(go_w, b"x")
        second = os.read(to_parent_r, 64)
        _, status = os.waitpid(pid, 0)
    finally:
        for fd in (to_parent_r, to_parent_w, go_r, go_w):
            os.close(fd)
    assert first == b"held-by-parent", first
    assert second == b"|acquired", second
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_second_acquirer_gives_up_after_its_timeout_while_another_holds_the_lock(tmp_path):
    """Two locks on one file are two holders as two processes would be (each its own descriptor):
    while the first holds it, the second's ``acquire(timeout)`` returns False instead of waiting
    for ever, and takes it once the first lets go."""
    path = str(tmp_path / "db.sqlite3")
    first, second = WriterLock(path), WriterLock(path)
    assert first.acquire(timeout=0)
    outcome: list[bool] = []
    answered = threading.Event()

    def try_second() -> None:
        outcome.append(second.acquire(timeout=0.5))
        answered.set()

    threading.Thread(target=try_second, daemon=True).start()
    try:
        assert answered.wait(10), "the second acquirer waited past its timeout (a blocking file lock)"
        assert outcome == [False], "the second acquirer took a lock the first still held"
    finally:
        first.release()
    assert second.acquire(timeout=10), "the lock could not be taken once the first let go"
    second.release()


@pytest.mark.parametrize("already_reading", [False, True])
def test_write_transaction_holds_the_writer_lock_until_the_transaction_ends(sqlite_app, already_reading):
    """Outside any request (the sync worker, imports, repairs): a transaction not begun yet begins
    IMMEDIATE under the writer lock; one that began as a read takes the writer lock on the spot
    (before, the worker took SQLite's lock with a no-op write and skipped the writers' queue)."""
    lock = get_db(sqlite_app).writer_lock
    seen = _statements(sqlite_app)
    with sqlite_app.app_context():
        session = get_db(sqlite_app).factory()
        try:
            if already_reading:
                session.execute(select(1))
            assert _free_elsewhere(lock)
            write_transaction(session)
            assert not _free_elsewhere(lock), "write_transaction left the writers' queue open"
            if not already_reading:
                assert [s for s in seen if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE"], seen
            session.commit()
            assert _free_elsewhere(lock), "the writer lock outlived the transaction"
        finally:
            session.close()

"""SQLAlchemy declarative base, engine and per-request session for each app."""
from __future__ import annotations

import datetime as dt
import fcntl
import os
import sqlite3
import threading
import time
import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import MetaData, String, create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from erhc_h5.logs import log_event

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every table; constraint names are stable across databases."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {str: String(255)}


def utcnow() -> dt.datetime:
    """Naive UTC now: every timestamp column stores naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def import_models() -> None:
    """Import every domain's models so Base.metadata knows all tables (Alembic, tests)."""
    from erhc_h5 import audit  # noqa: F401
    from erhc_h5.code import models as _code  # noqa: F401
    from erhc_h5.filing import models as _filing  # noqa: F401
    from erhc_h5.ops import models as _ops  # noqa: F401
    from erhc_h5.cards import models as _cards  # noqa: F401
    from erhc_h5.resident import models as _resident  # noqa: F401
    from erhc_h5.sandbox import models as _sandbox  # noqa: F401
    from erhc_h5.records import models as _records  # noqa: F401
    from erhc_h5.scan import models as _scan  # noqa: F401
    from erhc_h5.security import revocation as _revocation  # noqa: F401
    from erhc_h5.staff import models as _staff  # noqa: F401
    from erhc_h5.sync import models as _sync  # noqa: F401


class Database:
    """Holds one app's engine and session factory; sessions live for one request or command."""

    def __init__(self, url: str, echo: bool = False, *, pool_size: int = 5, max_overflow: int = 10,
                 pool_timeout: float = 30.0) -> None:
        """``pool_size`` + ``max_overflow`` is the most server connections this process opens (every
        gunicorn worker, sync worker and command is one process); past it a session waits up to
        ``pool_timeout`` seconds for one to come back. SQLite ignores them."""
        self.url = url
        kwargs: dict = {"echo": echo, "future": True}
        self.writer_lock: WriterLock | None = None
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS}
            path = make_url(url).database
            if path not in (None, "", ":memory:") and not path.startswith("file:"):
                self.writer_lock = writer_lock_for(path)
                kwargs["connect_args"]["factory"] = _locking_connection_class(self.writer_lock)
        else:
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout)
        self.engine: Engine = create_engine(url, **kwargs)
        if not url.startswith("sqlite"):
            _ping_idle_connections(self.engine)
        if url.startswith("sqlite"):
            # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN.
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        self.factory = sessionmaker(bind=self.engine, expire_on_commit=False)

    def bind_to(self, connection: Connection | None) -> None:
        """Bind new sessions to one connection (tests: a transaction rolled back afterwards)."""
        if connection is None:
            self.factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        else:
            self.factory = sessionmaker(
                bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
            )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"


_WRITE_INTENT: ContextVar[bool] = ContextVar("erhc_write_intent", default=False)
SQLITE_BUSY_SECONDS = 30
FLOCK_FIRST_PAUSE, FLOCK_MAX_PAUSE = 0.001, 0.01


class WriterLock:
    """One SQLite file's writers, serialised across the threads of this process and across
    processes (a ``flock`` on ``<database>.writelock``).

    SQLite's busy handler polls a held write lock with sleeps of up to 100 ms, so under many
    writers a request can lose the lock over and over and wait seconds while the database is idle
    most of that time. Threads of one process queue on a mutex and the next one is woken as soon as
    the holder lets go; a holder in another process is polled (``LOCK_NB``, every few milliseconds,
    far below SQLite's 100 ms sleeps). Reentrant within a thread. ``acquire`` waits at most
    ``timeout`` seconds in all (mutex and file lock together); a thread that cannot have it by then
    goes on without it and falls back to SQLite's own busy wait (never worse than without this
    lock)."""

    def __init__(self, path: str) -> None:
        self.path = path + ".writelock"
        self._fd: int | None = None
        self._reset()
        _ALL_WRITER_LOCKS.add(self)

    def _reset(self) -> None:
        """Unheld, with a file descriptor of this process's own. After a fork (gunicorn's
        ``preload_app``) the child must not share the parent's descriptor: flock belongs to the
        open file description, so parent and child would both "hold" it at once."""
        if self._fd is not None:
            os.close(self._fd)  # the child's reference only; the parent's lock is untouched
        self._fd = None
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, timeout: float = SQLITE_BUSY_SECONDS) -> bool:
        """Take the lock within ``timeout`` seconds; False if another holder kept it that long."""
        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
            return True
        deadline = time.monotonic() + max(0.0, timeout)
        if not self._mutex.acquire(timeout=max(0.0, timeout)):
            return False
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            taken = self._flock_until(deadline)
        except OSError:  # the lock file cannot be made (directory gone): SQLite itself will say why
            taken = False
        except BaseException:
            self._mutex.release()
            raise
        if not taken:
            self._mutex.release()
            return False
        self._owner, self._depth = me, 1
        return True

    def _flock_until(self, deadline: float) -> bool:
        """The file lock, polled without blocking until ``deadline`` (a blocking flock cannot time out)."""
        pause = FLOCK_FIRST_PAUSE
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                time.sleep(min(pause, left))
                pause = min(pause * 2, FLOCK_MAX_PAUSE)

    def release(self) -> None:
        """Release one hold (the holder's; a connection finalised elsewhere releases its own). Not
        held, nothing happens: a connection inherited across a fork still believes it holds it."""
        if self._depth <= 0:
            return
        self._depth -= 1
        if self._depth > 0:
            return
        self._owner, self._depth = None, 0
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._mutex.release()

    @contextmanager
    def held(self) -> Iterator[None]:
        acquired = self.acquire()
        try:
            yield
        finally:
            if acquired:
                self.release()


_WRITER_LOCKS: dict[str, WriterLock] = {}
_ALL_WRITER_LOCKS: "weakref.WeakSet[WriterLock]" = weakref.WeakSet()


def _writer_locks_after_fork() -> None:
    global _WRITER_LOCKS_GUARD
    _WRITER_LOCKS_GUARD = threading.Lock()
    for lock in list(_ALL_WRITER_LOCKS):
        lock._reset()


os.register_at_fork(after_in_child=_writer_locks_after_fork)
_WRITER_LOCKS_GUARD = threading.Lock()


def writer_lock_for(path: str) -> WriterLock:
    """The process's one writer lock for a database file (every engine on it shares it)."""
    key = os.path.realpath(path)
    with _WRITER_LOCKS_GUARD:
        found = _WRITER_LOCKS.get(key)
        if found is None:
            found = _WRITER_LOCKS[key] = WriterLock(key)
        return found


def _locking_connection_class(lock: WriterLock) -> type[sqlite3.Connection]:
    """A sqlite3 connection that gives the writer lock back when its transaction ends: after the
    driver's COMMIT or ROLLBACK (so the next writer never meets SQLite's own lock still held), also
    when the pool resets or closes it."""

    class LockingConnection(sqlite3.Connection):
        writer_lock = lock
        holds_writer_lock = False

        def take_writer_lock(self) -> None:
            if not self.holds_writer_lock and self.writer_lock.acquire():
                self.holds_writer_lock = True

        def give_writer_lock_back(self) -> None:
            if self.holds_writer_lock:
                self.holds_writer_lock = False
                self.writer_lock.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self.give_writer_lock_back()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self.give_writer_lock_back()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self.give_writer_lock_back()

    return LockingConnection


# One way to write on SQLite. SQLite has one writer at a time, and in WAL mode it refuses at once
# (no busy wait) a write from a transaction whose snapshot predates another writer's commit, so a
# transaction that reads, decides and then writes must hold the write lock from its BEGIN. Three
# entries give the same thing (the fair writer lock, then BEGIN IMMEDIATE); PostgreSQL gets nothing
# extra from any of them, its rows are locked where the rule needs it (``lock_row``, FOR UPDATE).
# - ``write_transaction(session)``: services and workers, before their first statement;
# - ``writing()``: a block whose transaction begins inside it (the scan's own driver connection);
# - the request default: a request whose method changes state (every POST writes), or a GET view
#   marked ``@writes_on_get``, begins its transactions as ``write_transaction`` would.
# See docs/concurrency.md for every mechanism and the test that attacks it.

_TAKE_SQLITE_WRITE_LOCK = "UPDATE alembic_version SET version_num = version_num WHERE 1 = 0"


def write_transaction(session: Session) -> None:
    """Make the session's transaction a write transaction now. On SQLite, a transaction not yet
    begun begins here: the writer lock (queued fairly, across threads and processes), then BEGIN
    IMMEDIATE, so its reads see the newest commit and its writes cannot fail on a stale snapshot;
    one already begun takes the writer lock and SQLite's write lock now (it fails at once if
    another writer committed since its first read: the caller's retry, as before). Held until the
    transaction commits or rolls back. Nothing on PostgreSQL."""
    if session.get_bind().dialect.name != "sqlite":
        return
    token = _WRITE_INTENT.set(True)
    try:
        conn = session.connection()
    finally:
        _WRITE_INTENT.reset(token)
    dbapi = conn.connection.dbapi_connection
    if getattr(dbapi, "holds_writer_lock", False):
        return
    take = getattr(dbapi, "take_writer_lock", None)
    if take is not None:
        take()
    conn.exec_driver_sql(_TAKE_SQLITE_WRITE_LOCK)


@contextmanager
def writing() -> Iterator[None]:
    """The block writes: on SQLite the current app's writer lock is held for the whole block (also
    over a raw driver connection's own BEGIN IMMEDIATE), and a session transaction begun inside
    begins as ``write_transaction`` begins it. Reentrant. Nothing on PostgreSQL."""
    token = _WRITE_INTENT.set(True)
    try:
        lock = get_db().writer_lock
        if lock is None:
            yield
        else:
            with lock.held():
                yield
    finally:
        _WRITE_INTENT.reset(token)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _sqlite_begin(conn: Connection) -> None:
    if _WRITE_INTENT.get() or _request_writes():
        _begin_immediate(conn)
    else:
        conn.exec_driver_sql("BEGIN")


def _begin_immediate(conn: Connection) -> None:
    """The writer lock, then BEGIN IMMEDIATE; the lock is given back if the BEGIN fails."""
    dbapi = conn.connection.dbapi_connection
    take = getattr(dbapi, "take_writer_lock", None)
    if take is not None:
        take()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if take is not None:
            dbapi.give_writer_lock_back()
        raise


def _request_writes() -> bool:
    """The request-level default of ``write_transaction``: a request that changes state (not a safe
    method), a GET view marked ``@writes_on_get``, or a GET run again after its undeclared write
    lost to a parallel writer. Reads of other safe requests stay concurrent."""
    return has_request_context() and (request.method not in SAFE_METHODS or g.get("_erhc_write_retry", False)
                                      or getattr(current_app.view_functions.get(request.endpoint), WRITES_MARK, False))


WRITES_MARK = "_erhc_writes_on_get"


def writes_on_get(view):
    """Mark a GET view that always writes (a launch records its nonce): its transactions begin as
    ``write_transaction`` begins them, instead of beginning as a read, losing the write to a
    parallel writer and running again (``_retry_safe_requests_on_lock_conflict``)."""
    setattr(view, WRITES_MARK, True)
    return view


def is_sqlite_lock_conflict(exc: BaseException) -> bool:
    """SQLite refused a write because another connection holds or has just used the write lock."""
    text = str(getattr(exc, "orig", exc)).lower()
    return isinstance(exc, OperationalError) and ("database is locked" in text or "database is busy" in text)


def _retry_safe_requests_on_lock_conflict(app: Flask) -> None:
    """The safety net of a GET that writes without saying so (not marked ``@writes_on_get``, no
    ``write_transaction``): it began with a plain BEGIN; when SQLite refuses its write, it runs once
    more as a write request, and ``db.undeclared_get_write`` is logged so the view gets marked.
    Nothing of the first run was committed, so running it again is safe."""
    dispatch = app.dispatch_request

    def dispatch_request():
        try:
            return dispatch()
        except OperationalError as exc:
            if request.method not in SAFE_METHODS or g.get("_erhc_write_retry") or not is_sqlite_lock_conflict(exc):
                raise
        log_event("db.undeclared_get_write", endpoint=request.endpoint)
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()
        g._erhc_write_retry = True
        return dispatch()

    app.dispatch_request = dispatch_request


PING_IDLE_SECONDS = 2.0


def _ping_idle_connections(engine: Engine) -> None:
    """A pooled connection that sat unused for a while is pinged before it is handed out, and
    replaced if the server has gone (restart, failover, a firewall's idle cut).

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip per request, a fifth of a
    scan's. A connection checked in moments ago was just working; if the server went away since,
    its first statement fails, the request answers 503, and SQLAlchemy replaces the pool's
    connections (``errors.database_unavailable``)."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record) -> None:
        record.info["erhc_checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy) -> None:
        checked_in = record.info.get("erhc_checked_in")
        if checked_in is not None and time.monotonic() - checked_in < PING_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("idle pooled connection failed its ping") from exc


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def init_app(app: Flask) -> None:
    """Attach the Database (engine creation does not connect) and close sessions on teardown."""
    cfg = app.config
    app.extensions["erhc_db"] = Database(cfg["DATABASE_URL"], bool(cfg["DATABASE_ECHO"]),
                                         pool_size=int(cfg["DATABASE_POOL_SIZE"]),
                                         max_overflow=int(cfg["DATABASE_MAX_OVERFLOW"]),
                                         pool_timeout=float(cfg["DATABASE_POOL_TIMEOUT_SECONDS"]))
    if app.extensions["erhc_db"].is_sqlite:
        _retry_safe_requests_on_lock_conflict(app)

    @app.teardown_appcontext
    def _close_session(exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


def lock_row(session: Session, obj: Base) -> None:
    """Re-read ``obj`` and hold its row until the transaction ends: a racing transaction waits and
    then reads the winner's commit (PostgreSQL row lock). On SQLite the transaction must be a write
    transaction (``write_transaction``, ``writing`` or a state-changing request), which holds the
    database write lock from BEGIN, so the re-read alone is current. Changes not yet flushed are
    flushed first (a refresh would drop them)."""
    session.flush()
    session.refresh(obj, with_for_update=True)


def get_db(app: Flask | None = None) -> Database:
    """The Database of the given or current app."""
    return (app or current_app).extensions["erhc_db"]


def get_session() -> Session:
    """The session of the current app context, created on first use."""
    if "db_session" not in g:
        g.db_session = get_db().factory()
    return g.db_session


@contextmanager
def session_scope(app: Flask | None = None) -> Iterator[Session]:
    """A standalone session committed on success (workers, CLI)."""
    session = get_db(app).factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

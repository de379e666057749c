"""Work that follows a commit, off the caller's critical path: link notices, filing deliveries.

``after_commit(session, kind, item, run)`` notes ``item`` in the session's transaction. When that
transaction commits, ``run(items)`` receives every item of ``kind`` it noted, once; a rollback drops
them (only committed rows are ever sent). ``run`` works in its own application context and session:
the committing session can emit no SQL while its commit is finishing.

In a request, ``run`` waits until the response has gone out, so that a slow province or SMS gateway
never delays the resident or the reviewer: the ``AfterResponse`` middleware runs it in the request's
thread as soon as the last byte of the body has been handed to the server, or when the server closes
the response, whichever comes first. Waiting for the close alone is not enough: the development
server reads the socket until the browser hangs up before it closes the response, which can take
as long as the browser keeps the connection. Outside a request (CLI, jobs) ``run`` runs at once.

Whatever ``run`` fails to do stays on its rows (``pending``) for the retry command that goes with it
(``flask notices send``, ``flask filing deliver``); an exception it lets out is logged, never raised
into the server.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from flask import current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

from erhc_h5.logs import log_event

ENVIRON_KEY = "erhc.after_response"
_QUEUED = "erhc_after_commit"

Run = Callable[[list], None]


def after_commit(session: Session, kind: str, item, run: Run) -> None:
    """Note ``item`` for ``run`` once this transaction commits (see the module's docstring)."""
    queued = session.info.setdefault(_QUEUED, {})
    queued.setdefault(kind, (run, []))[1].append(item)
    if not event.contains(session, "after_commit", _committed):
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_rollback", _rolled_back)


def _rolled_back(session: Session) -> None:
    session.info.pop(_QUEUED, None)


def _committed(session: Session) -> None:
    queued = session.info.pop(_QUEUED, None)
    if not queued:
        return
    app = current_app._get_current_object()
    for kind, (run, items) in queued.items():
        after_response(_in_app(app, kind, run, items))


def _in_app(app, kind: str, run: Run, items: list) -> Callable[[], None]:
    def job() -> None:
        try:
            with app.app_context():
                run(items)
        except Exception as exc:  # noqa: BLE001 - the rows stay pending for the retry command
            with app.app_context():
                log_event("afterwards.failed", kind=kind, reason=type(exc).__name__)
    return job


def after_response(job: Callable[[], None]) -> None:
    """Run ``job`` once this request's response has gone out; at once outside a request (or where
    the middleware is not installed)."""
    if has_request_context() and ENVIRON_KEY in request.environ:
        request.environ[ENVIRON_KEY].append(job)
    else:
        job()


class AfterResponse:
    """WSGI middleware: runs the jobs a request registered once its body has been handed over."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        jobs: list = []
        environ[ENVIRON_KEY] = jobs
        body = self.wsgi_app(environ, start_response)
        if not jobs:
            return body  # untouched: keeps the server's file wrapper for downloads
        return _ThenRun(body, jobs)


class _ThenRun:
    def __init__(self, body: Iterable[bytes], jobs: list):
        self.body, self.jobs = body, jobs

    def __iter__(self) -> Iterator[bytes]:
        yield from self.body
        self._run()

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self._run()

    def _run(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            job()

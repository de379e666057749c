"""Work after a commit and after the response: it runs once the body has been handed over (a server
that delays closing the response must not delay it), once per commit, never after a rollback."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import text

from erhc_h5.afterwards import AfterResponse, after_commit, after_response
from erhc_h5.db import get_db


def _wsgi(app: Flask, path: str):
    """Call ``app`` as a WSGI server would; the body iterable, not yet read nor closed."""
    statuses = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SERVER_NAME": "localhost", "SERVER_PORT": "80",
               "wsgi.url_scheme": "http", "wsgi.input": None, "wsgi.errors": None}
    body = app.wsgi_app(environ, lambda status, headers, exc_info=None: statuses.append(status))
    return body, statuses


def _tiny_app(ran: list) -> Flask:
    app = Flask("tiny")
    app.wsgi_app = AfterResponse(app.wsgi_app)

    @app.get("/with-job")
    def with_job():
        after_response(lambda: ran.append("job"))
        return "ok"

    @app.get("/plain")
    def plain():
        return "ok"

    return app


def test_the_job_runs_when_the_body_is_handed_over_before_any_close():
    ran: list = []
    body, statuses = _wsgi(_tiny_app(ran), "/with-job")
    assert ran == [] and statuses == ["200 OK"]
    assert b"".join(body) == b"ok"
    assert ran == ["job"], "a server that has not closed the response yet must not hold the job back"
    body.close()
    assert ran == ["job"], "once only"


def test_the_job_runs_when_the_server_closes_an_unread_body():
    ran: list = []
    body, _ = _wsgi(_tiny_app(ran), "/with-job")
    body.close()
    assert ran == ["job"]


def test_a_response_without_jobs_is_passed_through_untouched():
    app = Flask("plain")
    inner = app.wsgi_app
    seen = {}

    def recording(environ, start_response):
        seen["body"] = inner(environ, start_response)
        return seen["body"]

    app.wsgi_app = AfterResponse(recording)
    app.get("/plain")(lambda: "ok")
    body, _ = _wsgi(app, "/plain")
    assert body is seen["body"], "the server's own body object (and its file wrapper) is kept"


def test_outside_a_request_the_job_runs_at_once():
    ran: list = []
    after_response(lambda: ran.append("now"))
    assert ran == ["now"]


def test_items_reach_their_run_once_per_commit_and_never_after_a_rollback(app):
    received: list = []
    with app.app_context():
        session = get_db(app).factory()
        try:
            after_commit(session, "kind-a", 1, received.append)
            after_commit(session, "kind-a", 2, received.append)
            session.execute(text("SELECT 1"))
            session.rollback()
            assert received == [], "a rolled-back transaction sends nothing"
            after_commit(session, "kind-a", 3, received.append)
            after_commit(session, "kind-b", 4, received.append)
            session.execute(text("SELECT 1"))
            session.commit()
            assert sorted(received, key=str) == [[3], [4]]
            session.execute(text("SELECT 1"))
            session.commit()
            assert sorted(received, key=str) == [[3], [4]], "a later commit does not send them again"
        finally:
            session.close()


def test_a_run_that_fails_is_logged_and_never_raised_into_the_caller(app, caplog):
    def broken(items):
        raise RuntimeError("gateway exploded")

    with app.app_context():
        session = get_db(app).factory()
        try:
            after_commit(session, "kind-c", 1, broken)
            session.execute(text("SELECT 1"))
            session.commit()
        finally:
            session.close()
    assert any("afterwards.failed" in r.getMessage() and "RuntimeError" in str(r.__dict__) for r in caplog.records)

"""The journey's folded reads and one-statement writes keep their rules.

One statement reads the app user with its filed app and the browser's verification session (or its
card and code reference); counters, launch nonces, new cards and code references are written by
single INSERT ... ON CONFLICT statements. What an attacker would try against that: another user's
session id in the cookie, a suspended app, a cancelled card, a replayed launch, counters past their
cap, and SQLite's retry of a GET that lost the write lock.
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from erhc_h5.db import get_db
from erhc_h5.resident import limits
from erhc_h5.cards.models import AppUser, EHealthCard
from erhc_h5.resident.models import RateCounter, VerificationSession
from tests.support import demo_app


def _code_face(journey, uid: str):
    journey.ready(uid)
    passed = journey.client.post("/h5/verify/two-factor")
    assert passed.headers["Location"].endswith("/h5/code")
    return journey.client.get("/h5/code")


def test_another_users_session_id_in_the_cookie_reads_nothing_of_theirs(app, journey, db_session):
    journey.ready("victim")
    victim_vs = journey.vs()
    victim_state = (victim_vs.state, dict(victim_vs.payload))
    attacker = app.test_client()
    attacker.get(journey_launch_url(db_session, "attacker"))
    attacker.post("/h5/consent", data={"agree": "y"})
    with attacker.session_transaction() as cookie:
        data = dict(cookie["resident"])
        data["vs"] = victim_vs.id  # the victim's session id, learnt somehow
        cookie["resident"] = data
    for path in ("/h5/identity", "/h5/profile", "/h5/methods"):
        response = attacker.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/h5/consent"), path
    refused = attacker.post("/h5/verify/two-factor")
    assert refused.status_code == 302 and refused.headers["Location"].endswith("/h5/consent")
    db_session.expire_all()
    again = db_session.get(VerificationSession, victim_vs.id)
    assert (again.state, again.payload) == victim_state and again.check_started_at is None
    assert db_session.scalar(select(EHealthCard)) is None


def journey_launch_url(db_session, uid: str) -> str:
    from erhc_h5.resident.launch import make_launch_url

    filed = demo_app(db_session)
    return make_launch_url(filed, uid, filed.launch_secret)


def test_a_suspended_app_shows_no_method_on_the_next_request(journey, db_session):
    journey.ready("suspended-app")
    assert 'action="/h5/verify/two-factor"' in journey.client.get("/h5/methods").get_data(as_text=True)
    filed = demo_app(db_session)
    filed.status = "suspended"
    db_session.commit()
    page = journey.client.get("/h5/methods").get_data(as_text=True)
    assert 'action="/h5/verify/two-factor"' not in page
    refused = journey.client.post("/h5/verify/two-factor")
    assert refused.headers["Location"].endswith("/h5/methods")
    assert db_session.scalar(select(EHealthCard)) is None


def test_a_cancelled_card_stops_the_code_face_on_the_next_request(journey, db_session):
    face = _code_face(journey, "cancelled-card")
    assert face.status_code == 200 and 'alt="电子健康码"' in face.get_data(as_text=True)
    card = db_session.scalar(select(EHealthCard))
    card.status = "cancelled"  # e.g. by staff, in another request
    db_session.commit()
    after = journey.client.get("/h5/code")
    assert after.status_code == 302 and after.headers["Location"].endswith("/h5/service")
    assert journey.client.get("/h5/code/token.json").status_code == 404


def test_a_binding_ended_elsewhere_stops_the_code_face(journey, db_session):
    _code_face(journey, "unbound")
    user = db_session.scalar(select(AppUser).where(AppUser.app_user_id == "unbound"))
    user.card_id, user.card_link = None, None
    db_session.commit()
    assert journey.client.get("/h5/code").headers["Location"].endswith("/h5/service")


def test_the_code_reference_is_made_once_and_kept(journey, db_session):
    from erhc_h5.code import tokens
    from erhc_h5.code.models import CardCodeRef

    _code_face(journey, "ref-once")
    journey.client.get("/h5/code")
    refs = db_session.scalars(select(CardCodeRef)).all()
    assert len(refs) == 1
    card_id, ref = refs[0].card_id, refs[0].ref
    assert tokens.card_ref(db_session, card_id) == ref
    assert tokens.card_ref(db_session, card_id, "") == ref  # told "none was read": the insert finds it made
    texts = [journey.client.get("/h5/code/token.json").get_json()["src"] for _ in range(2)]
    assert texts[0] != texts[1]  # fresh codes, same card


def test_a_replayed_launch_is_refused(client, db_session, seeded):
    url = journey_launch_url(db_session, "replay")
    assert client.get(url).status_code == 302
    again = client.get(url)
    assert again.status_code == 400 and "已使用过" in again.get_data(as_text=True)


def test_counters_take_up_to_their_cap_per_window(app, db_session):
    """Written out: cap 2 in a 1-hour window; the window restarts at the first take after it ends."""
    t0 = dt.datetime(2026, 11, 28, 8, 0, 0)
    steps = [  # (seconds after t0, taken?)
        (0, True), (1, True), (2, False), (3599, False), (3600, True), (3601, True), (3602, False),
    ]
    got = [limits.take(db_session, "test:cap2", 2, dt.timedelta(hours=1), t0 + dt.timedelta(seconds=s))
           for s, _ in steps]
    assert got == [taken for _, taken in steps]
    row = db_session.get(RateCounter, "test:cap2")
    db_session.refresh(row)
    assert (row.count, row.window_start) == (2, t0 + dt.timedelta(seconds=3600))
    assert limits.take(db_session, "test:cap0", 0, dt.timedelta(hours=1), t0) is False  # a cap of 0 takes nothing
    limits.give_back(db_session, "test:cap2")
    assert limits.take(db_session, "test:cap2", 2, dt.timedelta(hours=1), t0 + dt.timedelta(seconds=3603)) is True


def test_journey_pages_read_in_one_statement(journey, db_session):
    """The user, its filed app and the verification session come in one SELECT (BEGIN/COMMIT aside);
    the methods page adds one read of the tries left (this account's and source's counters at once)."""
    journey.ready("one-read")
    seen: list[str] = []

    def count(conn, cursor, statement, *_):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            seen.append(statement)

    engine = get_db(journey.client.application).engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for path in ("/h5/identity", "/h5/profile", "/h5/methods"):
            seen.clear()
            assert journey.client.get(path).status_code == 200
            assert len(seen) == (2 if path == "/h5/methods" else 1), (path, seen)
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_code_face_survives_sqlites_retry_of_a_get(journey, db_session, monkeypatch):
    """A GET that loses SQLite's write lock runs again in a new database session: nothing read in
    the first run (the user, the card, its reference) may be used in the second."""
    if not get_db(journey.client.application).is_sqlite:
        pytest.skip("the retry exists on SQLite only")
    from erhc_h5.code import service

    journey.ready("retried")
    assert journey.client.post("/h5/verify/two-factor").headers["Location"].endswith("/h5/code")
    real, calls = service.fresh_code, []

    def locked_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "fresh_code", locked_once)
    face = journey.client.get("/h5/code")
    assert len(calls) == 2
    assert face.status_code == 200 and 'alt="电子健康码"' in face.get_data(as_text=True)


def test_a_new_cards_first_version_is_written_without_looking_for_earlier_ones(journey, db_session):
    """A pass that creates the card writes version 1 ('i') straight away; the next pass of the same
    person finds it and writes version 2 ('u')."""
    from erhc_h5.records.models import AuthRecord

    journey.ready("first-version")
    seen: list[str] = []

    def record(conn, cursor, statement, *_):
        seen.append(" ".join(statement.split()))

    engine = get_db(journey.client.application).engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert journey.client.post("/h5/verify/two-factor").headers["Location"].endswith("/h5/code")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert any(s.startswith("INSERT INTO auth_records") for s in seen)
    assert not any(s.startswith("SELECT") and "FROM auth_records" in s for s in seen), seen
    versions = db_session.execute(select(AuthRecord.version, AuthRecord.cd_operation)).all()
    assert [tuple(v) for v in versions] == [(1, "i")]
    journey.ready("first-version")
    assert journey.client.post("/h5/verify/two-factor").status_code == 302
    versions = db_session.execute(select(AuthRecord.version, AuthRecord.cd_operation, AuthRecord.record_id)
                                  .order_by(AuthRecord.version)).all()
    assert [(v.version, v.cd_operation) for v in versions] == [(1, "i"), (2, "u")]
    assert versions[0].record_id == versions[1].record_id

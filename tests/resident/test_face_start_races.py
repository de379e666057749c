"""A face check is started at the vendor (a billed call) once per verification session, however many
requests of that session start it at the same moment (the face page reloaded, the device data posted
twice): the others are told a check is under way."""
from __future__ import annotations

import threading
import time

from erhc_h5.db import get_db
from erhc_h5.identity import get_providers
from erhc_h5.resident import checks
from erhc_h5.resident.models import VerificationSession
from erhc_h5.resident.verification import Outcome
from erhc_h5.sandbox import demo
from tests.support import Journey, in_parallel_sessions

STARTS = 30
RETURN_URL = "http://localhost/h5/verify/face/return"


def test_thirty_face_starts_of_one_session_reach_the_vendor_once(fresh_app, monkeypatch):
    with fresh_app.app_context():
        db = get_db(fresh_app).factory()
        demo.seed(fresh_app, db)
        db.commit()
        journey = Journey(fresh_app.test_client(), db)
        journey.ready()
        with journey.client.session_transaction() as cookie:
            vs_id = cookie["resident"]["vs"]
        db.close()

    face = get_providers(fresh_app).face
    real, calls, guard = face.start, [], threading.Lock()

    def slow_vendor(*args, **kwargs):
        with guard:
            calls.append(1)
        time.sleep(0.3)  # the vendor's round trip: the others arrive while it is under way
        return real(*args, **kwargs)

    monkeypatch.setattr(face, "start", slow_vendor)
    answers: list = []

    def start(session):
        vs = session.get(VerificationSession, vs_id)
        session.commit()  # as a request that read its session: the start begins its own write
        answer = checks.face_start(session, vs, RETURN_URL)
        with guard:
            answers.append(answer)

    errors = in_parallel_sessions(fresh_app, STARTS, start)
    assert not errors, errors[:3]
    assert len(calls) == 1, f"the vendor was asked {len(calls)} times"
    started = [a for a in answers if not isinstance(a, Outcome)]
    busy = [a.kind for a in answers if isinstance(a, Outcome)]
    assert len(started) == 1 and busy == ["busy"] * (STARTS - 1)
    with fresh_app.app_context():
        db = get_db(fresh_app).factory()
        vs = db.get(VerificationSession, vs_id)
        assert checks.face_token(vs) == started[0].token and vs.check_started_at is None
        db.close()

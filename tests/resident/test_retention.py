"""Retention through `flask purge`'s service: idle sessions drop personal data, old rows go."""
from __future__ import annotations

import datetime as dt

from erhc_h5.db import utcnow
from erhc_h5.filing.models import LaunchNonce
from erhc_h5.resident import limits, verification
from erhc_h5.resident.models import VerificationEvent, VerificationSession
from erhc_h5.security.retention import purge


def test_purge(journey, db_session, app):
    journey.ready()
    vs = journey.vs()
    days = app.config["RETENTION_VERIFICATION_DAYS"]
    limits.record_event(db_session, "failure", subject="x", at=utcnow() - dt.timedelta(days=days + 2))
    limits.record_event(db_session, "failure", subject="y")
    db_session.commit()
    assert db_session.query(LaunchNonce).count() == 1
    first = purge(db_session, app.config, now=utcnow() + dt.timedelta(days=2))
    assert first["sessions_expired"] == 1 and first["verification_events"] == 1 and first["launch_nonces"] == 1
    assert db_session.get(VerificationSession, vs.id).payload is None
    assert db_session.query(VerificationEvent).filter_by(subject_hash="y").count() == 1
    second = purge(db_session, app.config, now=utcnow() + dt.timedelta(days=days + 3))
    db_session.commit()
    assert second["verification_sessions"] == 1
    assert db_session.query(VerificationSession).filter_by(id=vs.id).count() == 0
    assert verification.TERMINAL >= {"expired"}

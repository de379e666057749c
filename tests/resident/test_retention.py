"""Retention: idle sessions drop personal data, old rows go, nonces outlive the skew window only."""
from __future__ import annotations

import datetime as dt

from erhc_h5.db import utcnow
from erhc_h5.filing.models import LaunchNonce
from erhc_h5.resident import limits, retention, verification
from erhc_h5.resident.models import VerificationEvent, VerificationSession


def test_purge(journey, db_session, app):
    journey.ready()
    vs = journey.vs()
    limits.record_event(db_session, "failure", subject="x", at=utcnow() - dt.timedelta(days=2))
    limits.record_event(db_session, "failure", subject="y")
    db_session.commit()
    assert db_session.query(LaunchNonce).count() == 1
    later = utcnow() + dt.timedelta(days=app.config["RETENTION_VERIFICATION_DAYS"] + 1)
    first = retention.purge(db_session, utcnow() + dt.timedelta(hours=1))
    assert first["expired"] == 1 and first["events_deleted"] == 1 and first["nonces_deleted"] == 1
    assert db_session.get(VerificationSession, vs.id).payload is None
    assert db_session.query(VerificationEvent).filter_by(subject_hash="y").count() == 1
    second = retention.purge(db_session, later)
    db_session.commit()
    assert second["sessions_deleted"] == 1 and db_session.get(VerificationSession, vs.id) is None
    assert verification.TERMINAL >= {"expired"}

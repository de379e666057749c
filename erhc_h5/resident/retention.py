"""Retention of journey data: idle sessions lose their personal data; old rows and nonces are deleted."""
from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from erhc_h5.db import utcnow
from erhc_h5.filing.models import LaunchNonce
from erhc_h5.resident.models import VerificationEvent, VerificationSession
from erhc_h5.resident.verification import TERMINAL, expire_if_due


def purge(session: Session, now: dt.datetime | None = None) -> dict:
    """Expire due sessions (dropping their payload), delete sessions past RETENTION_VERIFICATION_DAYS,
    counted events past the lockout window, and launch nonces past twice the allowed clock skew."""
    cfg = current_app.config
    now = now or utcnow()
    expired = 0
    for vs in session.scalars(select(VerificationSession).where(VerificationSession.state.not_in(TERMINAL))):
        expired += int(expire_if_due(vs, now))
    keep_sessions = now - dt.timedelta(days=int(cfg["RETENTION_VERIFICATION_DAYS"]))
    sessions = session.execute(delete(VerificationSession).where(
        VerificationSession.created_at < keep_sessions, VerificationSession.state.in_(TERMINAL))).rowcount
    keep_events = now - dt.timedelta(hours=max(float(cfg["LOCKOUT_WINDOW_HOURS"]), 1.0) + 1)
    events = session.execute(delete(VerificationEvent).where(VerificationEvent.at < keep_events)).rowcount
    keep_nonces = now - dt.timedelta(seconds=2 * int(cfg["LAUNCH_MAX_SKEW_SECONDS"]))
    nonces = session.execute(delete(LaunchNonce).where(LaunchNonce.seen_at < keep_nonces)).rowcount
    return {"expired": expired, "sessions_deleted": sessions, "events_deleted": events, "nonces_deleted": nonces}

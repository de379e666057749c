"""Retention: delete what grows per request once past its keep-by date: verification sessions and
events, scan audit, replay nonces, per-launch audit rows, app users that never got a card, journey
counters and upload attempts.

Kept whatever their age (the standard and the province need them): e-health cards, record
versions, the outbox and its batches, filings, staff, and every audit row other than launches.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, exists, func, select
from sqlalchemy.orm import Session

from erhc_h5.audit import AuditEntry
from erhc_h5.db import utcnow
from erhc_h5.filing.models import LaunchNonce
from erhc_h5.resident import models as resident_models
from erhc_h5.cards.models import AppUser
from erhc_h5.resident.models import RateCounter, VerificationSession
from erhc_h5.resident.states import FINISHED, VerificationState
from erhc_h5.staff.models import LoginThrottle
from erhc_h5.scan.models import ProvinceVerifyNonce, ScanEvent, ScanTokenClaim
from erhc_h5.sandbox.models import ProvinceNonce
from erhc_h5.sync.models import SyncAttempt

NONCE_DAYS = 1  # a launch ticket is valid for minutes (LAUNCH_MAX_SKEW_SECONDS); a day is ample
LAUNCH_AUDIT_ACTION = "resident.launch"
BATCH = 1000


@dataclass(frozen=True)
class Rule:
    """One kind of row that expires: its model, its primary key and the condition that it is due."""

    name: str
    model: type
    key: ColumnElement
    due: ColumnElement


def rules(cfg, now: dt.datetime | None = None) -> list[Rule]:
    """What may be purged now, from the configured retention days."""
    now = now or utcnow()
    verification_cutoff = now - dt.timedelta(days=int(cfg["RETENTION_VERIFICATION_DAYS"]))
    scan_cutoff = now - dt.timedelta(days=int(cfg["RETENTION_SCAN_DAYS"]))
    nonce_cutoff = now - dt.timedelta(days=NONCE_DAYS)
    vs = VerificationSession
    last_activity = func.coalesce(vs.completed_at, vs.updated_at, vs.created_at)
    expired_cutoff = now - dt.timedelta(days=int(cfg["RETENTION_EXPIRED_SESSION_DAYS"]))
    found = [
        # Expired unfinished: the payload is already gone and nothing counts them; they go sooner
        # (counted with the other verification sessions).
        Rule("verification_sessions", vs, vs.id, (vs.state == VerificationState.EXPIRED) & (last_activity < expired_cutoff)),
        Rule("verification_sessions", vs, vs.id, vs.state.in_(FINISHED) & (vs.state != VerificationState.EXPIRED)
             & (last_activity < verification_cutoff)),
        # Never finished and untouched for the whole retention period: abandoned long ago.
        Rule("abandoned_verification_sessions", vs, vs.id,
             vs.state.not_in(FINISHED) & (last_activity < verification_cutoff)),
    ]
    events = getattr(resident_models, "VerificationEvent", None)
    if events is not None:
        found.append(Rule("verification_events", events, events.id, events.at < verification_cutoff))
    found += [
        Rule("scan_events", ScanEvent, ScanEvent.id, ScanEvent.at < scan_cutoff),
        Rule("launch_nonces", LaunchNonce, LaunchNonce.nonce, LaunchNonce.seen_at < nonce_cutoff),
        Rule("province_nonces", ProvinceNonce, ProvinceNonce.nonce, ProvinceNonce.seen_at < nonce_cutoff),
        # A verification's timestamp is good for ±300 s: an older nonce can never be presented again.
        Rule("province_verify_nonces", ProvinceVerifyNonce, ProvinceVerifyNonce.nonce,
             ProvinceVerifyNonce.seen_at < nonce_cutoff),
    ]
    return found + _per_request_rules(cfg, now)


def _per_request_rules(cfg, now: dt.datetime) -> list[Rule]:
    """Rows every launch or journey step adds: launch audit, cardless app users, counters, attempts."""
    def days(key: str) -> dt.timedelta:
        return dt.timedelta(days=float(cfg[key]))

    launch_cutoff = now - days("RETENTION_LAUNCH_AUDIT_DAYS")
    user_cutoff = now - days("RETENTION_APP_USER_DAYS")
    # A counter past its window counts nothing; never drop one inside the longest window (lockout).
    counter_cutoff = now - max(days("RETENTION_RATE_COUNTER_DAYS"),
                               dt.timedelta(hours=float(cfg["LOCKOUT_WINDOW_HOURS"])))
    attempt_cutoff = now - days("RETENTION_SYNC_ATTEMPT_DAYS")
    has_session = exists().where(VerificationSession.app_user_id == AppUser.id)
    return [
        Rule("launch_audit", AuditEntry, AuditEntry.id,
             (AuditEntry.action == LAUNCH_AUDIT_ACTION) & (AuditEntry.at < launch_cutoff)),
        # Never got a card and no verification session left (those go first, above): a launch that
        # led nowhere. A person who comes back simply gets a new row at the next launch.
        Rule("app_users_without_card", AppUser, AppUser.id,
             AppUser.card_id.is_(None) & (AppUser.created_at < user_cutoff) & ~has_session),
        Rule("rate_counters", RateCounter, RateCounter.key, RateCounter.window_start < counter_cutoff),
        # Sign-in failures are forgotten after a day idle (staff/throttle.py); never drop a running backoff.
        Rule("staff_login_throttles", LoginThrottle, LoginThrottle.username,
             (LoginThrottle.updated_at < counter_cutoff)
             & (LoginThrottle.blocked_until.is_(None) | (LoginThrottle.blocked_until < now))),
        Rule("sync_attempts", SyncAttempt, SyncAttempt.id, SyncAttempt.at < attempt_cutoff),
        # A claim guards a code only while the code can still be shown (minutes); a day is ample.
        Rule("scan_token_claims", ScanTokenClaim, ScanTokenClaim.token_fingerprint,
             ScanTokenClaim.at < now - days("RETENTION_SCAN_CLAIM_DAYS")),
    ]


def expire_idle_sessions(session: Session, now: dt.datetime | None = None) -> int:
    """Expire idle unfinished sessions (and on-site codes past validity); expiry drops their payload."""
    from erhc_h5.resident.verification import expire_if_due

    expired = 0
    open_sessions = select(VerificationSession).where(VerificationSession.state.not_in(FINISHED))
    for vs in session.scalars(open_sessions):
        expired += int(expire_if_due(vs, now))
    session.commit()
    return expired


def purge(session: Session, cfg, *, dry_run: bool = False, now: dt.datetime | None = None,
          batch_size: int = BATCH) -> dict[str, int]:
    """Delete (or with ``dry_run`` only count) every due row, a batch per commit; returns counts."""
    counts: dict[str, int] = {}
    for rule in rules(cfg, now):
        if dry_run:
            due = int(session.scalar(select(func.count()).select_from(rule.model).where(rule.due)) or 0)
            counts[rule.name] = counts.get(rule.name, 0) + due
            continue
        removed = 0
        while True:
            keys = session.scalars(select(rule.key).where(rule.due).limit(batch_size)).all()
            if not keys:
                break
            if rule.model is LaunchNonce:  # composite key: (app_id, nonce); the nonce is random
                stmt = delete(LaunchNonce).where(LaunchNonce.nonce.in_(keys), rule.due)
            else:
                stmt = delete(rule.model).where(rule.key.in_(keys), rule.due)
            removed += session.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0
            session.commit()
        counts[rule.name] = counts.get(rule.name, 0) + removed
    if not dry_run:  # after deleting the long-abandoned ones, expire what went idle since
        counts["sessions_expired"] = expire_idle_sessions(session, now)
    return counts

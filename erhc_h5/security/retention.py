"""Retention: delete verification artefacts, scan audit and replay nonces past their keep-by date.

Kept whatever their age (the standard and the province need them): e-health cards, record
versions, the outbox and its batches, filings, staff and the audit log.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from erhc_h5.db import utcnow
from erhc_h5.filing.models import LaunchNonce
from erhc_h5.resident import models as resident_models
from erhc_h5.resident.models import VerificationSession
from erhc_h5.scan.models import ScanEvent
from erhc_h5.sync.models import ProvinceNonce

FINISHED = ("passed", "failed", "expired", "locked")
NONCE_DAYS = 1
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
    found = [
        Rule("verification_sessions", vs, vs.id, vs.state.in_(FINISHED) & (last_activity < verification_cutoff)),
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
    ]
    return found


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
            counts[rule.name] = int(session.scalar(select(func.count()).select_from(rule.model).where(rule.due)) or 0)
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
        counts[rule.name] = removed
    if not dry_run:  # after deleting the long-abandoned ones, expire what went idle since
        counts["sessions_expired"] = expire_idle_sessions(session, now)
    return counts

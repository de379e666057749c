"""The verification session state machine: consent, identity, profile, failures, expiry and the pass.

created -> in_progress -> pending_provider | pending_onsite -> passed | failed | expired | locked.
Functions work in the caller's transaction; the caller commits once.
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.db import utcnow
from erhc_h5.filing.models import FiledApp
from erhc_h5.logs import log_event
from erhc_h5.records.idnumbers import uses_resident_id_layout
from erhc_h5.records.service import RecordInvalid
from erhc_h5.records.standard import Violation, normalize_record, validate_record
from erhc_h5.resident import limits
from erhc_h5.resident.cards import issue_or_update_card
from erhc_h5.resident.models import AppUser, VerificationSession

IDENTITY_FIELDS = ("name", "id_card_type_code", "idcode")
PROFILE_FIELDS = ("nation", "phone", "county_code", "current_address", "linkman", "telephone")
ASKED_WITHOUT_RESIDENT_ID = ("sex", "birthday")
TERMINAL = {"passed", "failed", "expired", "locked"}
TRANSITIONS = {
    "created": {"in_progress", "expired", "locked"},
    "in_progress": {"in_progress", "pending_provider", "pending_onsite", "passed", "failed", "locked", "expired"},
    "pending_provider": {"in_progress", "pending_onsite", "passed", "failed", "locked", "expired"},
    "pending_onsite": {"passed", "failed", "expired"},
}


class TransitionError(RuntimeError):
    """A state change the machine does not allow (a bug or a stale page), never shown as a trace."""


@dataclass
class Outcome:
    """What a check did: passed, retry (attempts left), failed, locked, or pending_onsite."""

    kind: str
    reason: str = ""
    attempts_left: int = 0
    lock: limits.Lock | None = None


def max_attempts() -> int:
    return int(current_app.config.get("VERIFICATION_MAX_ATTEMPTS", 3))


def move(vs: VerificationSession, state: str) -> None:
    """Change state if the machine allows it."""
    if state not in TRANSITIONS.get(vs.state, set()):
        raise TransitionError(f"{vs.state} -> {state}")
    vs.state = state
    if state in TERMINAL:
        vs.completed_at = utcnow()
        vs.payload = None  # personal data is not kept once the session is over
        vs.otp_hash = None


def start(session: Session, app_user: AppUser, consent_version: str, ip: str | None) -> VerificationSession:
    """A new session after the resident accepted the privacy notice of ``consent_version``."""
    vs = VerificationSession(
        id=secrets.token_hex(16), app_user_id=app_user.id, app_id=app_user.app_id, method="",
        state="created", consent_version=consent_version, ip_hash=limits.ip_hash(ip), payload={},
        attempts=0, otp_attempts=0, failure_reason="", confirm_note="",
    )
    session.add(vs)
    session.flush()
    log_event("verification.started", session=vs.id[:8], app_id=app_user.app_id)
    return vs


def expire_if_due(vs: VerificationSession, now: dt.datetime | None = None) -> bool:
    """Mark an idle session (or an on-site code past its validity) expired; True if it did."""
    now = now or utcnow()
    idle = dt.timedelta(minutes=int(current_app.config["SESSION_IDLE_MINUTES"]))
    due = (vs.state == "pending_onsite" and vs.onsite_expires_at is not None and vs.onsite_expires_at < now) or (
        vs.state in ("created", "in_progress", "pending_provider") and (vs.updated_at or vs.created_at) < now - idle
    )
    if due:
        move(vs, "expired")
        log_event("verification.expired", session=vs.id[:8])
    return due


def load(session: Session, vs_id: str | None, app_user: AppUser | None) -> VerificationSession | None:
    """The resident's session by id (only their own), expired on the way if due."""
    if not vs_id or app_user is None:
        return None
    vs = session.get(VerificationSession, vs_id)
    if vs is None or vs.app_user_id != app_user.id:
        return None
    if expire_if_due(vs):
        session.commit()
    return vs


def data(vs: VerificationSession) -> dict:
    """Identity and profile captured so far (without internal keys)."""
    return {k: v for k, v in (vs.payload or {}).items() if not k.startswith("_")}


def asks_sex_and_birthday(vs: VerificationSession) -> bool:
    values = data(vs)
    return not uses_resident_id_layout(values.get("id_card_type_code", "01"), values.get("idcode", ""))


def set_identity(session: Session, vs: VerificationSession, form: dict) -> tuple[list[Violation], limits.Lock | None]:
    """Validate name, document type and number; keep them, or return violations / the identity's lock."""
    record = normalize_record({k: form.get(k) or "" for k in IDENTITY_FIELDS})
    violations = validate_record(record, fields=IDENTITY_FIELDS)
    if violations:
        return violations, None
    subject = limits.subject_hash(record["id_card_type_code"], record["idcode"])
    vs.subject_hash = subject
    lock = limits.identity_lock(session, subject)
    if lock is not None:
        move(vs, "locked")
        return [], lock
    # A changed identity invalidates the proofs so far; the profile is confirmed again (sex/birthday may apply).
    payload = {k: v for k, v in (vs.payload or {}).items() if k not in ("_otp", "_phone_verified", "_profile_done")}
    payload.update(record)
    payload["_identity_done"] = True
    vs.payload = payload
    vs.otp_hash, vs.otp_attempts = None, 0
    if vs.state == "created":
        move(vs, "in_progress")
    return [], None


def set_profile(vs: VerificationSession, form: dict) -> list[Violation]:
    """Validate ethnicity, phone, residence and contact (sex and birthday when the document has none)."""
    fields = PROFILE_FIELDS + (ASKED_WITHOUT_RESIDENT_ID if asks_sex_and_birthday(vs) else ())
    record = normalize_record({k: form.get(k) or "" for k in fields})
    current = data(vs)
    violations = validate_record({**current, **record}, fields=fields)
    if record.get("linkman") and not record.get("telephone"):
        violations.append(Violation("telephone", "required", "填写了联系人时,请同时填写联系人电话"))
    if violations:
        return violations
    payload = dict(vs.payload or {})
    if payload.get("phone") != record["phone"]:
        payload.pop("_phone_verified", None)
        vs.otp_hash, vs.otp_attempts = None, 0
    payload.update({k: (v or None) for k, v in record.items()})
    payload["_profile_done"] = True
    vs.payload = payload
    vs.phone_bidx = limits.phone_hash(record["phone"])
    return []


def ready_for_check(vs: VerificationSession) -> bool:
    payload = vs.payload or {}
    return vs.state == "in_progress" and bool(payload.get("_identity_done")) and bool(payload.get("_profile_done"))


def _register_unverified(session: Session, vs: VerificationSession) -> None:
    """A resident who did not pass keeps (or gets) a card with recognize_flag 0 (SPEC §2)."""
    app, user = session.get(FiledApp, vs.app_id), session.get(AppUser, vs.app_user_id) if vs.app_user_id else None
    if app is None or not (vs.payload or {}).get("_profile_done"):
        return
    try:
        with session.begin_nested():
            card = issue_or_update_card(session, data(vs), app, methods=None, app_user=user)
            vs.card_id = card.id
    except RecordInvalid as exc:
        log_event("verification.unverified_card_skipped", session=vs.id[:8], fields=[v.field for v in exc.violations])


def record_failure(session: Session, vs: VerificationSession, reason: str) -> Outcome:
    """Count a failed check against the session and the identity; lock or fail when limits are reached."""
    vs.attempts += 1
    vs.failure_reason = reason
    limits.record_event(session, "failure", session_id=vs.id, subject=vs.subject_hash, phone=vs.phone_bidx,
                        ip=vs.ip_hash, reason=reason)
    audit(session, "verification.failed", actor_type="resident", actor_id=vs.app_user_id or "",
          target_type="verification_session", target_id=vs.id, detail={"reason": reason, "method": vs.method})
    log_event("verification.failed", session=vs.id[:8], reason=reason, method=vs.method, attempts=vs.attempts)
    lock = limits.identity_lock(session, vs.subject_hash) if vs.subject_hash else None
    if lock is not None or vs.attempts >= max_attempts():
        _register_unverified(session, vs)
        move(vs, "locked" if lock is not None else "failed")
        return Outcome("locked" if lock else "failed", reason, 0, lock)
    if vs.state != "in_progress":
        move(vs, "in_progress")
    return Outcome("retry", reason, max_attempts() - vs.attempts)


def complete(session: Session, vs: VerificationSession, methods: str, *, staff_id: int | None = None,
             note: str = "") -> Outcome:
    """The pass, in the caller's transaction: card + record version + outbox entry, session passed.

    Raises RecordInvalid (the caller rolls back: nothing is written)."""
    app = session.get(FiledApp, vs.app_id)
    user = session.get(AppUser, vs.app_user_id) if vs.app_user_id else None
    card = issue_or_update_card(session, data(vs), app, methods=methods, app_user=user)
    vs.card_id = card.id
    vs.method = methods
    if staff_id is not None:
        vs.confirmed_by_id, vs.confirm_note = staff_id, note
    move(vs, "passed")
    audit(session, "verification.passed", actor_type="staff" if staff_id else "resident",
          actor_id=staff_id or vs.app_user_id or "", target_type="verification_session", target_id=vs.id,
          detail={"methods": methods, "card_id": card.id})
    log_event("verification.passed", session=vs.id[:8], methods=methods)
    return Outcome("passed")

"""The verification session state machine: consent, identity, profile, the gates before a check, the pass.

created -> in_progress -> pending_provider | pending_onsite -> passed | failed | expired | locked.
Functions work in the caller's transaction, except the steps a resident's request ends in, which
own theirs (``start``, ``set_identity``, ``set_profile``, ``run_check``), and around a provider
call: ``begin_check`` is committed before the provider is asked, so that parallel requests see
the spent guess and the session's check under way (see ``resident/checks.py``); and ``load``
commits an expiry it finds on the way in a unit of work of its own (``erhc_h5/uow.py``).
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from enum import StrEnum

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.db import utcnow
from erhc_h5.errors import DomainError
from erhc_h5.filing.models import FiledApp
from erhc_h5.logs import log_event
from erhc_h5.records.idnumbers import uses_resident_id_layout
from erhc_h5.records.standard import Violation, normalize_record, validate_record
from erhc_h5.resident import limits
from erhc_h5.identity.base import ProviderUnavailable
from erhc_h5.records.versions import RecordInvalid
from erhc_h5.records.codes import AuthMethod, has_method
from erhc_h5.cards.service import StepUpRequired, issue_or_update_card, link
from erhc_h5.resident.draft import ASKED_WITHOUT_RESIDENT_ID, IDENTITY_FIELDS, PROFILE_FIELDS, Draft
from erhc_h5.security.inputs import unsafe_text
from erhc_h5.cards.models import CARD_LINK_PROVISIONAL, AppUser, EHealthCard
from erhc_h5.resident.models import VerificationSession
from erhc_h5.resident.states import FINISHED, VerificationState
from erhc_h5.uow import unit_of_work


State = VerificationState  # the machine's own short name for its states
TERMINAL = set(FINISHED)
TRANSITIONS = {
    State.CREATED: {State.IN_PROGRESS, State.EXPIRED, State.LOCKED},
    State.IN_PROGRESS: {State.IN_PROGRESS, State.PENDING_PROVIDER, State.PENDING_ONSITE, State.PASSED, State.FAILED,
                        State.LOCKED, State.EXPIRED},
    State.PENDING_PROVIDER: {State.IN_PROGRESS, State.PENDING_ONSITE, State.PASSED, State.FAILED, State.LOCKED,
                             State.EXPIRED},
    State.PENDING_ONSITE: {State.PASSED, State.FAILED, State.EXPIRED},
}
# A check that has not come back within this time is taken to have died with its worker.
CHECK_STALE_AFTER = dt.timedelta(minutes=2)


class TransitionError(DomainError, RuntimeError):
    """A state change the machine does not allow (a bug or a stale page), never shown as a trace:
    the resident reads that the page is out of date; ``transition`` says which change was refused."""

    reason = "stale_state"
    status = 409
    message = "页面已过期,请刷新页面后重试"

    def __init__(self, transition: str) -> None:
        super().__init__()
        self.transition = transition


class OutcomeKind(StrEnum):
    """What a check came to (``Outcome.kind``); the refusals before a check double as their reason codes."""

    PASSED = "passed"
    RETRY = "retry"  # refuted, tries left
    FAILED = "failed"
    LOCKED = "locked"
    PENDING_ONSITE = "pending_onsite"
    STEP_UP = "step_up"
    UNAVAILABLE = "unavailable"
    INVALID = "invalid"
    BAD_IMAGE = "bad_image"
    PHONE_UNPROVEN = "phone_unproven"
    APP_SUSPENDED = "app_suspended"
    METHOD_NOT_FILED = "method_not_filed"
    BUSY = "busy"
    PERSON_BUSY = limits.ACCOUNT_BUSY
    ATTEMPTS_USED = "attempts_used"
    SLOWED = "slowed"
    ONSITE_TAKEN = "onsite_taken"


@dataclass
class Outcome:
    """What a check did: passed, retry (tries left), failed, locked, pending_onsite, step_up (a pass below
    the card's level: ``required`` level), or a refusal before any check (busy, method_not_filed,
    app_suspended, bad_image, slowed, phone_unproven, onsite_taken); unavailable / invalid when the
    provider gave no answer or the record would break the standard (``error``)."""

    kind: OutcomeKind
    reason: str = ""
    attempts_left: int = 0
    lock: limits.Lock | None = None
    required: int = 0
    wait_seconds: int = 0
    error: Exception | None = None

    @property
    def refuted(self) -> bool:
        """The provider or the operator refuted the identity: the guess is kept and counts."""
        return self.kind in (OutcomeKind.RETRY, OutcomeKind.FAILED, OutcomeKind.LOCKED)


def max_attempts() -> int:
    return int(current_app.config["VERIFICATION_MAX_ATTEMPTS"])


def move(vs: VerificationSession, state: str) -> None:
    """Change state if the machine allows it."""
    if state not in TRANSITIONS.get(vs.state, set()):
        raise TransitionError(f"{vs.state} -> {state}")
    vs.state = str(state)
    if state in TERMINAL:
        vs.completed_at = utcnow()
        vs.payload = None  # personal data is not kept once the session is over
        vs.otp_hash = None
        vs.check_started_at = None


def start(session: Session, app_user: AppUser, consent_version: str, ip: str | None) -> VerificationSession:
    """A new session after the resident accepted the privacy notice of ``consent_version``; committed."""
    with unit_of_work(session):
        vs = _new_session(session, app_user, consent_version, ip)
    log_event("verification.started", session=vs.id[:8], app_id=app_user.app_id)
    return vs


def _new_session(session: Session, app_user: AppUser, consent_version: str, ip: str | None) -> VerificationSession:
    vs = VerificationSession(
        id=secrets.token_hex(16), app_user_id=app_user.id, app_id=app_user.app_id, method="",
        state=State.CREATED, consent_version=consent_version, ip_hash=limits.ip_hash(ip), payload={},
        attempts=0, otp_attempts=0, failure_reason="", confirm_note="",
    )
    session.add(vs)
    session.flush()
    return vs


def is_due(vs: VerificationSession, now: dt.datetime | None = None) -> bool:
    """The session is idle past SESSION_IDLE_MINUTES (or its on-site code past its validity)."""
    now = now or utcnow()
    idle = dt.timedelta(minutes=int(current_app.config["SESSION_IDLE_MINUTES"]))
    return (vs.state == State.PENDING_ONSITE and vs.onsite_expires_at is not None and vs.onsite_expires_at < now) or (
        vs.state in (State.CREATED, State.IN_PROGRESS, State.PENDING_PROVIDER)
        and (vs.updated_at or vs.created_at) < now - idle
    )


def expire_if_due(vs: VerificationSession, now: dt.datetime | None = None) -> bool:
    """Mark an idle session (or an on-site code past its validity) expired; True if it did."""
    due = is_due(vs, now)
    if due:
        move(vs, State.EXPIRED)
        log_event("verification.expired", session=vs.id[:8])
    return due


def load(session: Session, vs_id: str | None, app_user: AppUser | None) -> VerificationSession | None:
    """The resident's session by id (only their own), expired on the way if due. The expiry is
    committed at once (joining the caller's unit of work, if any): it stands whatever the rest of
    the request does, which may be no more than showing a page; a session not due is only read."""
    if not vs_id or app_user is None:
        return None
    vs = session.get(VerificationSession, vs_id)
    if vs is None or vs.app_user_id != app_user.id:
        return None
    if is_due(vs):
        with unit_of_work(session):
            expire_if_due(vs)
    return vs


def draft(vs: VerificationSession) -> Draft:
    return Draft.load(vs.payload)


def save(vs: VerificationSession, value: Draft) -> None:
    vs.payload = value.dump()


def data(vs: VerificationSession) -> dict:
    """Identity and profile captured so far."""
    return draft(vs).person()


def asks_sex_and_birthday(vs: VerificationSession) -> bool:
    values = draft(vs)
    return not uses_resident_id_layout(values.id_card_type_code or "01", values.idcode or "")


def set_identity(session: Session, vs: VerificationSession, form: dict) -> tuple[list[Violation], limits.Lock | None]:
    """Validate name, document type, number and nationality; keep them, or return violations / the person's lock.

    Kept or locked: committed (a lock found here stands). Violations: nothing is written."""
    record = normalize_record({k: form.get(k) or "" for k in IDENTITY_FIELDS})
    violations = validate_record(record, fields=IDENTITY_FIELDS) + unsafe_text(record)
    if violations:
        return violations, None
    with unit_of_work(session):
        return [], _keep_identity(session, vs, record)


def _keep_identity(session: Session, vs: VerificationSession, record: dict) -> limits.Lock | None:
    """The person's lock (the session locked), or None with the identity kept."""
    subject = limits.subject_hash(record["id_card_type_code"], record["idcode"], record.get("nationality"))
    lock = limits.identity_lock(session, limits.Who(subject, vs.app_user_id, (vs.ip_hash or "")[:16]))
    if lock is not None:
        vs.subject_hash = subject
        move(vs, State.LOCKED)
        return lock
    current = draft(vs)
    changed = any((getattr(current, k) or "") != (record.get(k) or "") for k in IDENTITY_FIELDS)
    for key in IDENTITY_FIELDS:
        setattr(current, key, record.get(key) or None)
    if changed:
        # Another person now: nothing proven so far counts, and the profile is confirmed again.
        current.drop()
        current.profile_done = False
        vs.otp_hash, vs.otp_expires_at, vs.otp_attempts, vs.provider_ref = None, None, 0, None
    current.identity_done = True
    vs.subject_hash = subject
    save(vs, current)
    if vs.state == State.CREATED:
        move(vs, State.IN_PROGRESS)
    return None


def set_profile(session: Session, vs: VerificationSession, form: dict) -> list[Violation]:
    """Validate ethnicity, phone, addresses and contact (sex and birthday when the document has none).

    Kept: committed. Violations: nothing is written."""
    fields = PROFILE_FIELDS + (ASKED_WITHOUT_RESIDENT_ID if asks_sex_and_birthday(vs) else ())
    record = normalize_record({k: form.get(k) or "" for k in fields})
    current = draft(vs)
    violations = validate_record({**current.person(), **record}, fields=fields) + unsafe_text(record)
    if record.get("linkman") and not record.get("telephone"):
        violations.append(Violation("telephone", "required", "填写了联系人时,请同时填写联系人电话"))
    if violations:
        return violations
    with unit_of_work(session):
        if current.phone != record["phone"]:
            current.drop("otp", "phone_proof")
            vs.otp_hash, vs.otp_expires_at, vs.otp_attempts = None, None, 0
        for key, value in record.items():
            setattr(current, key, value or None)
        current.profile_done = True
        save(vs, current)
        vs.phone_bidx = limits.phone_hash(record["phone"])
    return []


def ready_for_check(vs: VerificationSession) -> bool:
    current = draft(vs)
    return vs.state == State.IN_PROGRESS and current.identity_done and current.profile_done


# --- the gates before a check -----------------------------------------------------------------

METHOD_REFUSALS = {
    OutcomeKind.APP_SUSPENDED: "该应用的接种疫苗服务备案已暂停或撤销,暂不能进行实名认证,请联系应用运营方",
    OutcomeKind.METHOD_NOT_FILED: "该应用未备案此实名认证方式,请选择页面上提供的认证方式",
    OutcomeKind.BUSY: "正在核验您的信息,请勿重复提交,稍候刷新页面查看结果",
    OutcomeKind.PERSON_BUSY: "该证件正在其他设备上核验,请稍后再试",
    OutcomeKind.ATTEMPTS_USED: "本次认证尝试次数已用完,请重新开始实名认证",
}


def app_refusal(session: Session, vs: VerificationSession, methods: str) -> OutcomeKind | None:
    """Why the resident's app may not run a check by ``methods`` now, or None."""
    app = session.get(FiledApp, vs.app_id) if vs.app_id else None
    if app is None or not app.can_launch:
        return OutcomeKind.APP_SUSPENDED
    filed = set((app.auth_methods or "").split("^"))
    if not set(methods.split("^")) <= filed:
        return OutcomeKind.METHOD_NOT_FILED
    return None


def begin_check(session: Session, vs: VerificationSession, methods: str, *, guess: bool = True) -> Outcome | None:
    """Every gate before a provider is asked, atomically: the app may run ``methods``, this session
    has no other check under way and attempts left, and the person is not locked (``guess``:
    spend one of the person's guesses now). None when the check may go ahead; the caller commits
    either way, before calling the provider."""
    refusal = app_refusal(session, vs, methods)
    if refusal:
        return Outcome(refusal, refusal)
    if vs.attempts >= max_attempts():
        return Outcome(OutcomeKind.ATTEMPTS_USED, OutcomeKind.ATTEMPTS_USED)
    now = utcnow()
    # The claim and the re-read of the session in one statement: RETURNING refreshes ``vs``.
    claimed = session.scalars(
        update(VerificationSession)
        .where(VerificationSession.id == vs.id,
               VerificationSession.state.in_([State.IN_PROGRESS, State.PENDING_PROVIDER]),
               VerificationSession.attempts < max_attempts(),
               or_(VerificationSession.check_started_at.is_(None),
                   VerificationSession.check_started_at < now - CHECK_STALE_AFTER))
        .values(check_started_at=now)
        .returning(VerificationSession)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).all()
    if len(claimed) != 1:
        return Outcome(OutcomeKind.BUSY, OutcomeKind.BUSY)
    if claimed[0] is not vs:  # ``vs`` belongs to another session: read what the claim left
        session.refresh(vs)
    who = limits.Who.of(vs)
    if guess and vs.subject_hash:
        taken = limits.take_guess(session, who, knowledge=methods == AuthMethod.TWO_FACTOR, now=now)
        if isinstance(taken, limits.Slowed):
            vs.check_started_at = None
            return Outcome(OutcomeKind.SLOWED, OutcomeKind.SLOWED, wait_seconds=taken.wait_seconds)
        if taken == limits.ACCOUNT_BUSY:
            vs.check_started_at = None
            return Outcome(OutcomeKind.PERSON_BUSY, OutcomeKind.PERSON_BUSY)
        if taken is not None:
            move(vs, State.LOCKED)
            return Outcome(OutcomeKind.LOCKED, OutcomeKind.LOCKED, 0, taken)
    elif vs.subject_hash and (lock := limits.identity_lock(session, who, now)) is not None:
        move(vs, State.LOCKED)
        return Outcome(OutcomeKind.LOCKED, OutcomeKind.LOCKED, 0, lock)
    return None


def abandon_check(session: Session, vs: VerificationSession, *, guess: bool = True) -> None:
    """The provider could not answer: not the resident's fault, the guess and the slot come back."""
    vs.check_started_at = None
    if guess and vs.subject_hash:
        limits.give_back_guess(session, limits.Who.of(vs))


def record_failure(session: Session, vs: VerificationSession, reason: str) -> Outcome:
    """Count a refuted check against the session, the account and the source (the guess is kept); lock
    this account or source for the person, or end the session, at the limits.

    Creates and changes no card: a refuted identity is nobody's registration."""
    vs.attempts += 1
    vs.failure_reason = reason
    vs.check_started_at = None
    limits.record_event(session, "failure", session_id=vs.id, subject=vs.subject_hash, phone=vs.phone_bidx,
                        ip=vs.ip_hash, reason=reason)
    audit(session, "verification.failed", actor_type="resident", actor_id=vs.app_user_id or "",
          target_type="verification_session", target_id=vs.id, detail={"reason": reason, "method": vs.method})
    log_event("verification.failed", session=vs.id[:8], reason=reason, method=vs.method, attempts=vs.attempts)
    who = limits.Who.of(vs)
    if vs.subject_hash:
        limits.count_failure(session, who)
    lock = limits.identity_lock(session, who) if vs.subject_hash else None
    # What the resident reads is the lock's own count, across sessions (this session may end sooner).
    left = limits.tries_left(session, who) if vs.subject_hash else max_attempts() - vs.attempts
    if lock is not None or vs.attempts >= max_attempts():
        move(vs, State.LOCKED if lock is not None else State.FAILED)
        return Outcome(OutcomeKind.LOCKED if lock else OutcomeKind.FAILED, reason, 0, lock)
    if vs.state != State.IN_PROGRESS:
        move(vs, State.IN_PROGRESS)
    return Outcome(OutcomeKind.RETRY, reason, left)


def register_pending(session: Session, vs: VerificationSession) -> Outcome | None:
    """A registration that awaits its on-site check: a recognize_flag 0 card and a provisional link.

    One open registration per person: parallel ones queue on the card's row, and a new one closes the
    person's earlier open ones (so a stranger's registration never keeps the real person from the
    desk), except that a registration without a face pass never closes one with a face pass
    (``onsite_taken`` then; nothing is written). None when registered."""
    app = session.get(FiledApp, vs.app_id)
    user = session.get(AppUser, vs.app_user_id) if vs.app_user_id else None
    card = issue_or_update_card(session, data(vs), app, methods=None, app_user=None)
    # The person's registrations queue on the card's row (PostgreSQL; SQLite holds the write lock).
    session.execute(select(EHealthCard.id).where(EHealthCard.id == card.id).with_for_update())
    others = session.scalars(select(VerificationSession).where(
        VerificationSession.subject_hash == vs.subject_hash, VerificationSession.state == State.PENDING_ONSITE,
        VerificationSession.id != vs.id)).all()
    face = AuthMethod.FACE
    if not has_method(vs.method, face) and any(has_method(o.method, face) and not expire_if_due(o) for o in others):
        return Outcome(OutcomeKind.ONSITE_TAKEN, OutcomeKind.ONSITE_TAKEN)
    for other in others:
        if other.state == State.PENDING_ONSITE:
            move(other, State.EXPIRED)
            other.failure_reason = "superseded"
        session.execute(update(AppUser).where(AppUser.id == other.app_user_id, AppUser.card_id == card.id,
                                              AppUser.card_link == CARD_LINK_PROVISIONAL)
                        .values(card_id=None, card_link=None).execution_options(synchronize_session="fetch"))
    if user is not None and not card.is_authenticated:
        link(session, user, card, verified=False)
    vs.card_id = card.id
    return None


def complete(session: Session, vs: VerificationSession, methods: str, *, staff_id: int | None = None,
             note: str = "") -> Outcome:
    """The pass, in the caller's transaction: card + record version + outbox entry, session passed.

    A pass below the card's level changes nothing and leaves the session open for a stronger method
    (``step_up``). Raises RecordInvalid (the caller rolls back: nothing is written)."""
    app = session.get(FiledApp, vs.app_id)
    user = session.get(AppUser, vs.app_user_id) if vs.app_user_id else None
    try:
        card = issue_or_update_card(session, data(vs), app, methods=methods, app_user=user)
    except StepUpRequired as exc:
        vs.check_started_at = None
        if vs.state != State.IN_PROGRESS:
            move(vs, State.IN_PROGRESS)
        audit(session, "verification.step_up", actor_type="resident", actor_id=vs.app_user_id or "",
              target_type="verification_session", target_id=vs.id,
              detail={"methods": methods, "required": exc.required, "card_id": exc.card.id})
        log_event("verification.step_up", session=vs.id[:8], methods=methods, required=exc.required)
        return Outcome(OutcomeKind.STEP_UP, OutcomeKind.STEP_UP, required=exc.required)
    vs.card_id = card.id
    vs.method = methods
    if staff_id is not None:
        vs.confirmed_by_id, vs.confirm_note = staff_id, note
    move(vs, State.PASSED)
    audit(session, "verification.passed", actor_type="staff" if staff_id else "resident",
          actor_id=staff_id or vs.app_user_id or "", target_type="verification_session", target_id=vs.id,
          detail={"methods": methods, "card_id": card.id})
    log_event("verification.passed", session=vs.id[:8], methods=methods)
    return Outcome(OutcomeKind.PASSED)


def run_check(session: Session, vs: VerificationSession, methods: str, check, *, guess: bool = True) -> Outcome:
    """One check, owning its transactions: every gate (committed, so parallel requests see the spent
    guess and the check under way), then the provider (``check()`` -> Outcome), then the verdict,
    committed. Whatever ends without a refutation — a pass, a step-up, an unusable photo, a phone not
    proven, the provider unavailable, a record the standard refuses — gives the guess back, here and
    only here. Never raises ProviderUnavailable or RecordInvalid: they come back as outcomes."""
    refused = begin_check(session, vs, methods, guess=guess)
    session.commit()
    if refused is not None:
        return refused
    try:
        outcome = check()
    except ProviderUnavailable as exc:
        session.rollback()
        outcome = Outcome(OutcomeKind.UNAVAILABLE, exc.reason, error=exc)
    except RecordInvalid as exc:
        session.rollback()
        outcome = Outcome(OutcomeKind.INVALID, "record_invalid", error=exc)
    if outcome.kind in (OutcomeKind.UNAVAILABLE, OutcomeKind.INVALID):
        vs.check_started_at = None
    if guess and vs.subject_hash and not outcome.refuted:
        limits.give_back_guess(session, limits.Who.of(vs))
    session.commit()
    return outcome

"""The method checks: two-factor (1), three-factor with an SMS code (2), face (3) and on-site (4).

Each check runs inside ``verification.run_check``, which passes every gate and commits before the
check is called here, so every gate holds under parallel requests, and which settles the guess
afterwards. Provider calls may raise ProviderUnavailable: that is not the resident's fault, so it
propagates to ``run_check`` (a retry page), which gives the guess back.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from erhc_h5.db import utcnow, write_transaction
from erhc_h5.logs import log_event
from erhc_h5.records.codes import FACE_THEN_ONSITE, AuthMethod
from erhc_h5.resident import limits
from erhc_h5.resident.models import VerificationSession
from erhc_h5.identity import get_providers as providers
from erhc_h5.identity.base import ProviderUnavailable
from erhc_h5.resident.verification import (
    Outcome, OutcomeKind, State, abandon_check, begin_check, complete, data, draft, move, record_failure,
    register_pending, save,
)
from erhc_h5.uow import unit_of_work
from erhc_h5.text import ascii_digits

OTP_TTL = dt.timedelta(minutes=5)
OTP_MAX_TRIES = 5
OTP_COOLDOWN = dt.timedelta(seconds=60)
ONSITE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
ONSITE_LENGTH = 8


def _passed_or_failed(session: Session, vs: VerificationSession, result, methods: str) -> Outcome:
    vs.provider_ref = (result.provider_ref or "")[:128] or None
    if result.passed:
        return complete(session, vs, methods)
    return record_failure(session, vs, result.reason or "mismatch")


def two_factor(session: Session, vs: VerificationSession) -> Outcome:
    """Name + document number checked by the identity provider (after ``begin_check``)."""
    values = data(vs)
    vs.method = AuthMethod.TWO_FACTOR
    result = providers().identity.check_two_factor(values["name"], values["id_card_type_code"], values["idcode"])
    return _passed_or_failed(session, vs, result, AuthMethod.TWO_FACTOR)


# --- SMS code --------------------------------------------------------------------------------

@dataclass
class SendResult:
    """``sent`` True when the gateway confirmed; else ``reason`` (cooldown, phone_limit)."""

    sent: bool
    reason: str = ""
    wait_seconds: int = 0


def _otp_digest(vs: VerificationSession, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"otp:{vs.id}:{code}".encode(), hashlib.sha256).hexdigest()


def cooldown_left(vs: VerificationSession, now: dt.datetime | None = None) -> int:
    if vs.otp_sent_at is None:
        return 0
    left = (vs.otp_sent_at + OTP_COOLDOWN - (now or utcnow())).total_seconds()
    return max(0, int(left + 0.999))


def send_code(session: Session, vs: VerificationSession, now: dt.datetime | None = None) -> SendResult:
    """Send (or resend, the same code while valid) a 6-digit code to the profile phone; committed.

    The phone's hourly allowance is taken atomically before the gateway is asked, and given back
    if the gateway fails. A gateway failure is committed on purpose before ProviderUnavailable is
    raised: the allowance given back and the code generated stay, so a retry resends the same code."""
    with unit_of_work(session):
        try:
            return _send_code(session, vs, now)
        except ProviderUnavailable as exc:
            failure = exc
    raise failure


def _send_code(session: Session, vs: VerificationSession, now: dt.datetime | None) -> SendResult:
    """The sending itself, in the caller's transaction."""
    now = now or utcnow()
    wait = cooldown_left(vs, now)
    if wait:
        return SendResult(False, "cooldown", wait)
    current = draft(vs)
    phone = current.phone
    if not limits.take_sms(session, vs.phone_bidx, now):
        return SendResult(False, "phone_limit")
    code = current.proof("otp")
    if not code or vs.otp_expires_at is None or vs.otp_expires_at <= now or vs.otp_attempts >= OTP_MAX_TRIES:
        code = f"{secrets.randbelow(10**6):06d}"
        current.prove("otp", code)
        save(vs, current)
        vs.otp_hash, vs.otp_expires_at, vs.otp_attempts = _otp_digest(vs, code), now + OTP_TTL, 0
    vs.method = AuthMethod.THREE_FACTOR
    try:
        providers().sms.send_code(phone, code)
    except Exception:
        limits.refund_sms(session, vs.phone_bidx)
        raise  # ProviderUnavailable: no cool-down starts
    vs.otp_sent_at = now
    limits.record_event(session, "sms_sent", session_id=vs.id, phone=vs.phone_bidx, ip=vs.ip_hash, at=now)
    log_event("verification.sms_sent", session=vs.id[:8])
    return SendResult(True)


def check_code(session: Session, vs: VerificationSession, code: str, now: dt.datetime | None = None) -> str:
    """'ok', or why not: no_code, expired, too_many_tries, bad_format, wrong (a try is spent).

    The try is counted by one conditional UPDATE, so parallel guesses cannot exceed OTP_MAX_TRIES.
    Committed, whatever the answer: a spent try counts although the code was wrong, and a right code
    is proven before the three-factor check is begun."""
    with unit_of_work(session):
        return _check_code(session, vs, code, now or utcnow())


def _check_code(session: Session, vs: VerificationSession, code: str, now: dt.datetime) -> str:
    """The check itself, in the caller's transaction."""
    current = draft(vs)
    if not vs.otp_hash or current.proof("otp") is None:
        return "no_code"
    if vs.otp_expires_at is None or vs.otp_expires_at <= now:
        return "expired"
    if vs.otp_attempts >= OTP_MAX_TRIES:
        return "too_many_tries"
    code = (code or "").strip()
    if len(code) != 6 or not ascii_digits(code):
        return "bad_format"
    counted = session.execute(
        update(VerificationSession)
        .where(VerificationSession.id == vs.id, VerificationSession.otp_attempts < OTP_MAX_TRIES,
               VerificationSession.otp_hash.is_not(None))
        .values(otp_attempts=VerificationSession.otp_attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(vs)
    if counted != 1 or not vs.otp_hash:
        return "too_many_tries" if vs.otp_hash else "no_code"
    if not hmac.compare_digest(vs.otp_hash, _otp_digest(vs, code)):
        return "too_many_tries" if vs.otp_attempts >= OTP_MAX_TRIES else "wrong"
    current = draft(vs)
    current.drop("otp")
    current.prove("phone_proof", current.phone)
    save(vs, current)
    vs.otp_hash, vs.otp_expires_at = None, None
    return "ok"


def phone_verified(vs: VerificationSession) -> bool:
    """The profile phone was proven by an SMS code, for the identity the draft names now."""
    current = draft(vs)
    return current.phone is not None and current.proof("phone_proof") == current.phone


def three_factor(session: Session, vs: VerificationSession) -> Outcome:
    """Name + document number + the proven phone, checked by the carrier (after ``begin_check``)."""
    if not phone_verified(vs):
        vs.check_started_at = None
        return Outcome(OutcomeKind.PHONE_UNPROVEN, OutcomeKind.PHONE_UNPROVEN)
    values = data(vs)
    vs.method = AuthMethod.THREE_FACTOR
    result = providers().identity.check_three_factor(
        values["name"], values["id_card_type_code"], values["idcode"], values["phone"])
    return _passed_or_failed(session, vs, result, AuthMethod.THREE_FACTOR)


# --- face and on-site -------------------------------------------------------------------------

def face_device_script() -> str:
    """The vendor script the face page must run before the check can start ("" when none)."""
    return providers().face.device_script


def face_start(session: Session, vs: VerificationSession, return_url: str, device_info: str = ""):
    """Start a face check at the provider; a redirect-style provider moves the session to pending_provider.

    Behind the same gate as every check (``begin_check``, committed before the vendor is asked): of
    requests starting a face check for one session at once, one reaches the vendor (a start is billed)
    and the others get the gate's Outcome (busy) — also those that got the gate after it, finding its
    token — as does a session locked or out of attempts. The
    token is committed with the gate given back once the provider gave it (the resident comes back
    with it); a provider that cannot start the check (ProviderUnavailable) gives the gate back and
    leaves nothing else written. ``device_info``: what the vendor's script gathered in the page
    (``face_device_script``)."""
    with unit_of_work(session):
        write_transaction(session)
        refused = begin_check(session, vs, AuthMethod.FACE, guess=False)
        if refused is None and face_token(vs):  # started by a request that held the gate just before
            vs.check_started_at = None
            refused = Outcome(OutcomeKind.BUSY, OutcomeKind.BUSY)
    if refused is not None:
        return refused
    current = draft(vs)
    try:
        started = providers().face.start(current.name, current.id_card_type_code, current.idcode, return_url,
                                         device_info=device_info)
    except ProviderUnavailable:
        with unit_of_work(session):
            abandon_check(session, vs, guess=False)
        raise
    with unit_of_work(session):
        vs.check_started_at = None
        vs.method = AuthMethod.FACE
        current.prove("face", started.token)  # tokens may be long: kept encrypted, void for anyone else
        save(vs, current)
        vs.provider_ref = "face:" + hashlib.sha256(started.token.encode()).hexdigest()[:32]
        if started.redirect_url:
            move(vs, State.PENDING_PROVIDER)
    return started


def face_token(vs: VerificationSession) -> str | None:
    """The face check begun for the identity the draft names now, if any."""
    return draft(vs).proof("face")


def _take_face_token(vs: VerificationSession) -> str:
    """Each token is used once: a retry starts a new face check."""
    current = draft(vs)
    token = current.proof("face") or ""
    current.drop("face")
    save(vs, current)
    vs.provider_ref = None
    return token


def image_problem(image: bytes) -> str | None:
    """Why an upload is not a usable photo, or None (the bytes are only ever held in memory)."""
    if not image:
        return "no_image"
    if len(image) > int(current_app.config["UPLOAD_MAX_BYTES"]):
        return "too_large"
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image)) as picture:
            picture.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return "not_an_image"
    return None


def _face_outcome(session: Session, vs: VerificationSession, result) -> Outcome:
    if result.passed:
        return to_onsite(session, vs, FACE_THEN_ONSITE)
    if result.reason == "bad_image":  # an unusable photo is not a failed identity check (the guess comes back)
        vs.check_started_at = None
        if vs.state == State.PENDING_PROVIDER:
            move(vs, State.IN_PROGRESS)
        return Outcome(OutcomeKind.BAD_IMAGE, OutcomeKind.BAD_IMAGE)
    return record_failure(session, vs, result.reason or "face_mismatch")


def face_verify_image(session: Session, vs: VerificationSession, image: bytes) -> Outcome:
    """Send the captured photo to the provider; the image is discarded after the call."""
    result = providers().face.verify_image(_take_face_token(vs), image)
    return _face_outcome(session, vs, result)


def face_fetch(session: Session, vs: VerificationSession) -> Outcome:
    """After the provider's page: fetch the verdict server-side (never trust what the browser brings)."""
    token = _take_face_token(vs)
    if vs.state == State.PENDING_PROVIDER:
        move(vs, State.IN_PROGRESS)
    result = providers().face.fetch_result(token)
    return _face_outcome(session, vs, result)


def new_onsite_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(ONSITE_ALPHABET) for _ in range(ONSITE_LENGTH))
        if session.scalar(select(VerificationSession.id).where(VerificationSession.onsite_code == code)) is None:
            return code


def to_onsite(session: Session, vs: VerificationSession, methods: str) -> Outcome:
    """Wait for an operator: a short code valid ONSITE_CODE_HOURS; methods '3^4' after a face pass, else '4'.

    The registration awaits its check: a new person gets a recognize_flag 0 card, provisionally linked."""
    vs.method = methods
    vs.check_started_at = None
    refused = register_pending(session, vs)
    if refused is not None:
        return refused
    vs.onsite_code = new_onsite_code(session)
    vs.onsite_expires_at = utcnow() + dt.timedelta(hours=float(current_app.config["ONSITE_CODE_HOURS"]))
    move(vs, State.PENDING_ONSITE)
    log_event("verification.pending_onsite", session=vs.id[:8], methods=methods)
    return Outcome(OutcomeKind.PENDING_ONSITE)

"""The method checks: two-factor (1), three-factor with an SMS code (2), face (3) and on-site (4).

Provider calls may raise ProviderUnavailable: that is not the resident's fault, so it propagates
to the view (a retry page) without touching attempts.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from erhc_h5.db import utcnow
from erhc_h5.logs import log_event
from erhc_h5.resident import limits
from erhc_h5.resident.models import VerificationSession
from erhc_h5.resident.providers import providers
from erhc_h5.resident.verification import Outcome, complete, data, move, record_failure

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
    """Name + document number checked by the identity provider."""
    values = data(vs)
    vs.method = "1"
    result = providers().identity.check_two_factor(values["name"], values["id_card_type_code"], values["idcode"])
    return _passed_or_failed(session, vs, result, "1")


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
    """Send (or resend, the same code while valid) a 6-digit code to the profile phone."""
    now = now or utcnow()
    wait = cooldown_left(vs, now)
    if wait:
        return SendResult(False, "cooldown", wait)
    phone = data(vs)["phone"]
    if limits.sms_sends_exceeded(session, vs.phone_bidx, now):
        return SendResult(False, "phone_limit")
    payload = dict(vs.payload or {})
    code = payload.get("_otp")
    if not code or vs.otp_expires_at is None or vs.otp_expires_at <= now or vs.otp_attempts >= OTP_MAX_TRIES:
        code = f"{secrets.randbelow(10**6):06d}"
        payload["_otp"] = code
        vs.payload = payload
        vs.otp_hash, vs.otp_expires_at, vs.otp_attempts = _otp_digest(vs, code), now + OTP_TTL, 0
    vs.method = "2"
    providers().sms.send_code(phone, code)  # ProviderUnavailable: no cool-down starts
    vs.otp_sent_at = now
    limits.record_event(session, "sms_sent", session_id=vs.id, phone=vs.phone_bidx, ip=vs.ip_hash, at=now)
    log_event("verification.sms_sent", session=vs.id[:8])
    return SendResult(True)


def check_code(session: Session, vs: VerificationSession, code: str, now: dt.datetime | None = None) -> str:
    """'ok', or why not: no_code, expired, too_many_tries, bad_format, wrong (a try is spent)."""
    now = now or utcnow()
    if not vs.otp_hash:
        return "no_code"
    if vs.otp_expires_at is None or vs.otp_expires_at <= now:
        return "expired"
    if vs.otp_attempts >= OTP_MAX_TRIES:
        return "too_many_tries"
    code = (code or "").strip()
    if len(code) != 6 or not code.isdigit():
        return "bad_format"
    vs.otp_attempts += 1
    if not hmac.compare_digest(vs.otp_hash, _otp_digest(vs, code)):
        return "too_many_tries" if vs.otp_attempts >= OTP_MAX_TRIES else "wrong"
    payload = dict(vs.payload or {})
    payload.pop("_otp", None)
    payload["_phone_verified"] = payload["phone"]
    vs.payload = payload
    vs.otp_hash, vs.otp_expires_at = None, None
    return "ok"


def phone_verified(vs: VerificationSession) -> bool:
    payload = vs.payload or {}
    return bool(payload.get("_phone_verified")) and payload.get("_phone_verified") == payload.get("phone")


def three_factor(session: Session, vs: VerificationSession) -> Outcome:
    """Name + document number + the proven phone, checked by the carrier."""
    values = data(vs)
    vs.method = "2"
    result = providers().identity.check_three_factor(
        values["name"], values["id_card_type_code"], values["idcode"], values["phone"])
    return _passed_or_failed(session, vs, result, "2")


# --- face and on-site -------------------------------------------------------------------------

def face_start(vs: VerificationSession, return_url: str):
    """Start a face check at the provider; a redirect-style provider moves the session to pending_provider."""
    values = data(vs)
    started = providers().face.start(values["name"], values["id_card_type_code"], values["idcode"], return_url)
    vs.method = "3"
    vs.payload = {**(vs.payload or {}), "_face_token": started.token}  # tokens may be long: kept encrypted
    vs.provider_ref = "face:" + hashlib.sha256(started.token.encode()).hexdigest()[:32]
    if started.redirect_url:
        move(vs, "pending_provider")
    return started


def face_token(vs: VerificationSession) -> str | None:
    return (vs.payload or {}).get("_face_token")


def _take_face_token(vs: VerificationSession) -> str:
    """Each token is used once: a retry starts a new face check."""
    payload = dict(vs.payload or {})
    token = payload.pop("_face_token", "") or ""
    vs.payload, vs.provider_ref = payload, None
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
        return to_onsite(session, vs, "3^4")
    if result.reason == "bad_image":  # an unusable photo is not a failed identity check
        if vs.state == "pending_provider":
            move(vs, "in_progress")
        return Outcome("bad_image", "bad_image")
    return record_failure(session, vs, result.reason or "face_mismatch")


def face_verify_image(session: Session, vs: VerificationSession, image: bytes) -> Outcome:
    """Send the captured photo to the provider; the image is discarded after the call."""
    result = providers().face.verify_image(_take_face_token(vs), image)
    return _face_outcome(session, vs, result)


def face_fetch(session: Session, vs: VerificationSession) -> Outcome:
    """After the provider's page: fetch the verdict server-side (never trust what the browser brings)."""
    token = _take_face_token(vs)
    if vs.state == "pending_provider":
        move(vs, "in_progress")
    result = providers().face.fetch_result(token)
    return _face_outcome(session, vs, result)


def new_onsite_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(ONSITE_ALPHABET) for _ in range(ONSITE_LENGTH))
        if session.scalar(select(VerificationSession.id).where(VerificationSession.onsite_code == code)) is None:
            return code


def to_onsite(session: Session, vs: VerificationSession, methods: str) -> Outcome:
    """Wait for an operator: a short code valid ONSITE_CODE_HOURS; methods '3^4' after a face pass, else '4'."""
    vs.method = methods
    vs.onsite_code = new_onsite_code(session)
    vs.onsite_expires_at = utcnow() + dt.timedelta(hours=float(current_app.config["ONSITE_CODE_HOURS"]))
    move(vs, "pending_onsite")
    log_event("verification.pending_onsite", session=vs.id[:8], methods=methods)
    return Outcome("pending_onsite")

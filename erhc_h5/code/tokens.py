"""The dynamic code's text: version, issuing city, key id, opaque card reference, times, nonce,
signature.

    EHC2.<cd_source>.<kid>.<ref>.<issued, base36 unix s>.<expires, base36>.<nonce>.<HMAC-SHA256, base64url>

``cd_source`` is the issuing city's 4-digit code (config ``CD_SOURCE``), so a province with many
cities routes a verification to the issuer; a code naming another city is refused here
(``foreign_issuer``). About 92 characters, at most 100: byte mode fits QR version 6 at ECC M.
Nothing in it is personal: the reference is a random per-card value looked up in ``code_card_refs``.
Codes issued before the issuer was named (``EHC1.<kid>.<ref>.…``, the same fields without
``cd_source``) still verify, under the same rules, until they expire.

A code is valid only while ``expires − issued`` ≤ CODE_TTL_SECONDS + CODE_CLOCK_SKEW_SECONDS (a key
that leaked cannot mint a code that lives longer); a retired key verifies only what it signed
before its retirement; a revoked key verifies nothing (``key_revoked``).
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
import string
import time
from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, Signer
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from erhc_h5.code import keys
from erhc_h5.code.models import CardCodeRef
from erhc_h5.db import utcnow
from erhc_h5.errors import DomainError

PREFIX = "EHC2"
MAX_LENGTH = 100
REF_ALPHABET = string.ascii_letters + string.digits
TOKEN_RE = re.compile(  # EHC2 with the issuer's cd_source (group 1), or EHC1 without it (group 1 None)
    r"(?:EHC2\.([0-9]{4})|EHC1)\.([a-z0-9]{4})\.([A-Za-z0-9]{10})\.([0-9a-z]{1,8})\.([0-9a-z]{1,8})\.([A-Za-z0-9]{8})"
    r"\.([A-Za-z0-9_-]{42}[AEIMQUYcgkosw048])"
)  # the signature's last character is canonical (its 2 spare bits zero), so one code has one text
SALT = "erhc-code-v1"

MESSAGES = {
    "malformed": "无法识别的二维码,请出示电子健康码",
    "unknown_key": "此码不是本平台签发的电子健康码",
    "bad_signature": "电子健康码校验失败,可能已被篡改",
    "expired": "电子健康码已过期,请居民在App中刷新码面后重新出示",
    "foreign_issuer": "此码由其他城市的平台签发,请在签发城市的平台核验",
    "key_revoked": "此电子健康码的签名密钥已停用,请居民在App中刷新码面后重新出示",
    "bad_lifetime": "电子健康码的有效期不符合规定,可能是伪造的码,请居民在App中刷新码面后重新出示",
    # The scan request carries no device time: only the issuing and verifying servers' clocks matter.
    "not_yet_valid": "电子健康码签发时间晚于平台服务器时间,请居民刷新码面后重试;仍出现请联系平台运维核对服务器时钟(与扫码设备时间无关)",
}


class CodeError(DomainError, ValueError):
    """The code text was refused; ``reason`` is a stable machine code."""

    status = 422

    def __init__(self, reason: str, ref: str | None = None, window: tuple[int, int] | None = None) -> None:
        super().__init__(reason, MESSAGES.get(reason, reason))
        self.ref = ref  # set once the signature is known good (the scan can then be tied to a card)
        self.window = window  # (issued_at, expires_at) of a signed code refused for its time


@dataclass(frozen=True)
class IssuedCode:
    text: str
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class VerifiedCode:
    kid: str
    ref: str
    issued_at: int
    expires_at: int


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


class _CodeSigner(Signer):
    """itsdangerous' HMAC-SHA256 signer with the key derived from the secret once, not on every
    sign and verify (the scan verifies a code per request)."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret, salt=SALT, sep=".", key_derivation="hmac", digest_method=hashlib.sha256)
        self._derived = super().derive_key()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        return self._derived if secret_key is None or secret_key == self.secret_keys[-1] else super().derive_key(secret_key)


@functools.lru_cache(maxsize=64)  # a handful of signing keys live at once
def _signer(secret: str) -> Signer:
    return _CodeSigner(secret)


def fingerprint(text: str) -> str:
    """A one-way fingerprint of a code for replay detection (the text itself is never stored)."""
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def card_ref(session: Session, card_id: int, known: str | None = None) -> str:
    """The opaque reference of a card, created on first use (``known``: what the caller read in this
    transaction already, "" when the card had none)."""
    if known:
        return known
    ref = None if known == "" else session.scalar(select(CardCodeRef.ref).where(CardCodeRef.card_id == card_id))
    if ref is not None:
        return ref
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        # One statement instead of SAVEPOINT, INSERT, RELEASE. A parallel request's ref wins; a new
        # ref that happens to be taken already (62^10 values) is drawn again.
        insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
        while True:
            ref = "".join(secrets.choice(REF_ALPHABET) for _ in range(10))
            made = session.scalar(insert_(CardCodeRef).values(card_id=card_id, ref=ref, created_at=utcnow())
                                  .on_conflict_do_nothing().returning(CardCodeRef.ref))
            made = made or session.scalar(select(CardCodeRef.ref).where(CardCodeRef.card_id == card_id))
            if made is not None:
                return made
    ref = "".join(secrets.choice(REF_ALPHABET) for _ in range(10))
    try:
        with session.begin_nested():
            session.add(CardCodeRef(card_id=card_id, ref=ref))
    except IntegrityError:  # another request made it first
        return session.scalar(select(CardCodeRef.ref).where(CardCodeRef.card_id == card_id))
    return ref


def issue(session: Session, card_id: int, now: float | None = None, *, ref: str | None = None) -> IssuedCode:
    """A new code for this card, signed with the newest key, valid for CODE_TTL_SECONDS (``ref``:
    the card's reference, when the caller read it in this transaction)."""
    now_s = int(time.time() if now is None else now)
    ttl = int(current_app.config["CODE_TTL_SECONDS"])
    key = keys.signing_key(session)
    nonce = "".join(secrets.choice(REF_ALPHABET) for _ in range(8))
    issuer = current_app.config["CD_SOURCE"]
    body = f"{PREFIX}.{issuer}.{key.kid}.{card_ref(session, card_id, ref)}.{_b36(now_s)}.{_b36(now_s + ttl)}.{nonce}"
    text = _signer(key.secret).sign(body).decode("ascii")
    assert len(text) <= MAX_LENGTH
    return IssuedCode(text, now_s, now_s + ttl)


def verify(session: Session, text: object, now: float | None = None, *, seen: int | None = None) -> VerifiedCode:
    """Check a scanned text; raise CodeError with the first reason it fails. Times are this server's
    clock against the issuing server's, tolerant of CODE_CLOCK_SKEW_SECONDS either way. ``seen``:
    the revocation counter as the caller read it (None: read here); every key rotation and
    revocation committed before that read is applied."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise CodeError("malformed")
    text = text.strip()
    match = TOKEN_RE.fullmatch(text)
    if match is None:
        raise CodeError("malformed")
    issuer, kid, ref, iat36, exp36, _nonce, sig = match.groups()
    if issuer is not None and issuer != current_app.config["CD_SOURCE"]:
        raise CodeError("foreign_issuer")  # another city's key: it cannot be checked here
    issued_at, expires_at = int(iat36, 36), int(exp36, 36)
    key = keys.get_key(session, kid, seen)
    if key is None:
        raise CodeError("unknown_key")
    body = text.rpartition(".")[0]
    try:
        ok = _signer(key.secret).verify_signature(body.encode(), sig.encode())
    except BadSignature:
        ok = False
    if not ok:
        raise CodeError("bad_signature")
    if key.revoked_at is not None:
        raise CodeError("key_revoked", ref)
    skew = int(current_app.config["CODE_CLOCK_SKEW_SECONDS"])
    if key.retired_at is not None and issued_at > _unix(key.retired_at) + skew:
        raise CodeError("bad_signature")  # a retired key never signs new codes
    if expires_at <= issued_at:
        raise CodeError("malformed")
    if expires_at - issued_at > int(current_app.config["CODE_TTL_SECONDS"]) + skew:
        raise CodeError("bad_lifetime", ref)  # longer than any code this platform issues
    # Issuing and verifying servers may disagree by up to ``skew`` either way: a verifier behind the
    # issuer sees codes from its future, one ahead sees them expire early; both accept fresh codes.
    now_s = time.time() if now is None else now
    if issued_at > now_s + skew:
        raise CodeError("not_yet_valid", ref, (issued_at, expires_at))
    if now_s >= expires_at + skew:
        raise CodeError("expired", ref, (issued_at, expires_at))
    return VerifiedCode(kid, ref, issued_at, expires_at)


def _unix(naive_utc: dt.datetime) -> float:
    return naive_utc.replace(tzinfo=dt.UTC).timestamp()

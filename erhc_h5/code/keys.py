"""Signing keys of the dynamic code: rotation, revocation, and an in-process cache for the hot path.

The cache is tagged with the revocation counter (``security.revocation``) read before it was
loaded; a caller passes the counter it read, and a cache with another tag is loaded again. A
rotation or revocation raises the counter in its own transaction, so every worker's next request
that reads the counter sees the change.
"""
from __future__ import annotations

import datetime as dt
import secrets
import string
import threading
import time
from dataclasses import dataclass, field

from flask import Flask, current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from erhc_h5.code.models import CodeSigningKey
from erhc_h5.db import utcnow
from erhc_h5.errors import DomainError
from erhc_h5.security import revocation

CACHE_SECONDS = 10.0  # reload at least this often (a rotation or revocation is seen at once: see above)
MISS_REFRESH_SECONDS = 1.0  # an unknown key id reloads at most this often (a flood of forged ids can't hammer the DB)
KID_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class Key:
    kid: str
    secret: str
    created_at: dt.datetime
    retired_at: dt.datetime | None
    revoked_at: dt.datetime | None = None


class KeyRefused(DomainError, LookupError):
    """A key operation was refused; the message is Chinese."""

    reason = "unknown_key"
    status = 404

    def __init__(self, message: str) -> None:
        super().__init__(message=message)


@dataclass
class KeyCache:
    keys: dict[str, Key] = field(default_factory=dict)
    loaded_at: float = 0.0
    version: int | None = None  # the revocation counter read before this load
    lock: threading.Lock = field(default_factory=threading.Lock)


def _cache(app: Flask) -> KeyCache:
    cache = app.extensions.get("erhc_code_keys")
    if cache is None:
        cache = app.extensions["erhc_code_keys"] = KeyCache()
    return cache


def _load(session: Session, cache: KeyCache, version: int | None) -> None:
    rows = session.execute(select(CodeSigningKey.kid, CodeSigningKey.secret, CodeSigningKey.created_at,
                                  CodeSigningKey.retired_at, CodeSigningKey.revoked_at)).all()
    cache.keys = {r.kid: Key(r.kid, r.secret, r.created_at, r.retired_at, r.revoked_at) for r in rows}
    cache.loaded_at = time.monotonic()
    cache.version = version


def invalidate(app: Flask | None = None) -> None:
    """Forget the cached keys of this process (after a rotation)."""
    _cache(app or current_app).loaded_at = 0.0


def get_key(session: Session, kid: str, seen: int | None = None) -> Key | None:
    """The key with this id (cached; an unknown id triggers a throttled reload). ``seen``: the
    revocation counter as the caller read it; None reads it here (one query). The answer reflects
    every rotation and revocation committed before that read."""
    if seen is None:
        seen = revocation.read(session)
    cache = _cache(current_app)
    now = time.monotonic()
    if (cache.version != seen or now - cache.loaded_at > CACHE_SECONDS
            or (kid not in cache.keys and now - cache.loaded_at > MISS_REFRESH_SECONDS)):
        with cache.lock:
            _load(session, cache, seen)
    return cache.keys.get(kid)


def _new_key(session: Session) -> CodeSigningKey:
    existing = set(session.scalars(select(CodeSigningKey.kid)))
    while True:
        kid = "".join(secrets.choice(KID_ALPHABET) for _ in range(4))
        if kid not in existing:
            break
    key = CodeSigningKey(kid=kid, secret=secrets.token_urlsafe(32), created_at=utcnow())
    session.add(key)
    session.flush()
    return key


def signing_key(session: Session) -> Key:
    """The newest active key, as of the revocation counter read here (a key rotated or revoked
    in another process is never used once committed); the first one is created lazily in the
    caller's transaction."""
    seen = revocation.read(session)
    cache = _cache(current_app)
    if cache.version != seen or time.monotonic() - cache.loaded_at > CACHE_SECONDS:
        with cache.lock:
            _load(session, cache, seen)
    active = [k for k in cache.keys.values() if k.retired_at is None]
    if not active:
        # The cache may predate a key another process created: look in the database before making
        # the first key, with creators of a first key queued (one first key, however many requests
        # of a new deployment need it at once). The queue is the database's, never this process's
        # cache lock: a thread waiting for another transaction must not stop the process's scans
        # from reloading keys. Not cached until committed: the next call reloads.
        _queue_first_key_creators(session)
        with cache.lock:
            _load(session, cache, seen)
        active = [k for k in cache.keys.values() if k.retired_at is None]
        if not active:
            row = _new_key(session)
            cache.loaded_at = 0.0
            return Key(row.kid, row.secret, row.created_at, None)
    return max(active, key=lambda k: (k.created_at, k.kid))


FIRST_KEY_LOCK = 0x45484331  # "EHC1": the advisory lock id of the first key's creation


def _queue_first_key_creators(session: Session) -> None:
    """PostgreSQL: hold a transaction-scoped advisory lock, so a second creator reads the first
    one's key after it commits instead of creating another. SQLite needs none: writers are
    serialised, and a transaction whose snapshot predates the other's key cannot write its own."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(FIRST_KEY_LOCK)))


def rotate(session: Session) -> CodeSigningKey:
    """Retire every active key and create a new one; retired keys still verify the codes they
    signed before their retirement, until those expire."""
    now = utcnow()
    for key in session.scalars(select(CodeSigningKey).where(CodeSigningKey.retired_at.is_(None))):
        key.retired_at = now
    key = _new_key(session)
    revocation.bump(session)
    invalidate()
    return key


def revoke(session: Session, kid: str) -> tuple[CodeSigningKey, CodeSigningKey | None]:
    """End every code of a (leaked) key at once; when it was the active key, a new key signs from
    now on. Returns the revoked key and the new key, if one was made. Two parallel revocations of
    one key queue on its row (PostgreSQL) or on the write lock (SQLite): one new key, not two."""
    key = session.scalar(select(CodeSigningKey).where(CodeSigningKey.kid == kid).with_for_update())
    if key is None:
        raise KeyRefused(f"找不到签名密钥 {kid}")
    if key.revoked_at is not None:
        return key, None
    now = utcnow()
    was_active = key.retired_at is None
    key.revoked_at = now
    key.retired_at = key.retired_at or now
    session.flush()
    others = session.scalar(select(func.count()).select_from(CodeSigningKey)
                            .where(CodeSigningKey.retired_at.is_(None)))
    new = _new_key(session) if was_active and not others else None
    revocation.bump(session)
    invalidate()
    return key, new


def list_keys(session: Session) -> list[CodeSigningKey]:
    return list(session.scalars(select(CodeSigningKey).order_by(CodeSigningKey.created_at.desc())))

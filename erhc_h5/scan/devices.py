"""Scan devices: enrol (the clear token is shown once), revoke, and look up by bearer token.

A revocation raises the revocation counter (``security.revocation``) in its transaction; the
per-process device cache is tagged with the counter, so every worker refuses the device on its
next request that reads the counter (the scan API reads it in every scan's transaction).
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.db import utcnow
from erhc_h5.errors import DomainError
from erhc_h5.scan.models import ScanDevice
from erhc_h5.security import revocation

TOKEN_PREFIX = "dev_"


class DeviceError(DomainError, ValueError):
    """A device operation was refused; ``reason`` is stable, the message is Chinese."""

    status = 422


def token_hash(token: str) -> str:
    """SHA-256 hex of a bearer token (same scheme as the demo seed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def enrol_device(session: Session, name: str, site_name: str) -> tuple[ScanDevice, str]:
    """Create a device and return it with its clear token; only the hash is stored."""
    name, site_name = (name or "").strip(), (site_name or "").strip()
    if not name or len(name) > 100:
        raise DeviceError("bad_name", "设备名称不能为空,且不超过100个字")
    if len(site_name) > 100:
        raise DeviceError("bad_site", "接种点名称不超过100个字")
    token = TOKEN_PREFIX + secrets.token_hex(20)
    device = ScanDevice(name=name, site_name=site_name, token_hash=token_hash(token),
                        token_hint=token[:8], active=True)
    session.add(device)
    session.flush()
    audit(session, "device_enrolled", target_type="scan_device", target_id=device.id)
    return device, token


def revoke_device(session: Session, device_id: int) -> ScanDevice:
    """Revoke a device at once: once committed, its token is refused on the next scan in every
    worker process."""
    device = session.get(ScanDevice, device_id)
    if device is None:
        raise DeviceError("unknown_device", "找不到该扫码设备")
    if device.active:
        device.active = False
        device.revoked_at = utcnow()
        audit(session, "device_revoked", target_type="scan_device", target_id=device.id)
        revocation.bump(session)
    session.flush()
    if has_app_context():
        forget_cached()
    return device


def device_by_token(session: Session, token: str | None) -> ScanDevice | None:
    """The device holding this bearer token, active or revoked, or None."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    return session.scalar(select(ScanDevice).where(ScanDevice.token_hash == token_hash(token)))


def device_for_token(session: Session, token: str | None) -> ScanDevice | None:
    """The active device holding this bearer token, or None."""
    device = device_by_token(session, token)
    return device if device is not None and device.active else None


def list_devices(session: Session) -> list[ScanDevice]:
    """All devices, newest first."""
    return list(session.scalars(select(ScanDevice).order_by(ScanDevice.id.desc())))


@dataclass(frozen=True)
class DeviceInfo:
    """What the scan API needs of a device, cached per process for the hot path."""

    id: int
    site_name: str
    active: bool


CACHE_SECONDS = 5.0  # reload at least this often (a revocation is seen at once: see the module docstring)
_TOUCH_SECONDS = 60.0
_DEVICE_ROW = select(ScanDevice.id, ScanDevice.site_name, ScanDevice.active).where(
    ScanDevice.token_hash == bindparam("h"))


def _device_cache() -> dict:
    return current_app.extensions.setdefault("erhc_device_cache", {})


def lookup(session: Session | Connection, token: str | None, seen: int | None) -> DeviceInfo | None:
    """The device of a bearer token (active or revoked), from a short per-process cache.

    ``seen``: the revocation counter as read before this call (this request's, or the newest this
    process read); an entry loaded under another counter is loaded again, so the answer reflects
    every revocation committed before ``seen`` was read."""
    if not token or not isinstance(token, str) or len(token) > 200:
        return None
    digest = token_hash(token)
    cache = _device_cache()
    hit = cache.get(digest)
    now = time.monotonic()
    if hit is not None and now - hit[1] < CACHE_SECONDS and hit[3] == seen:
        return hit[0]
    conn = session if isinstance(session, Connection) else session.connection()
    row = conn.execute(_DEVICE_ROW, {"h": digest}).first()
    if row is None:
        cache.pop(digest, None)
        return None
    if len(cache) > 1000:
        cache.clear()
    info = DeviceInfo(row.id, row.site_name or "", bool(row.active))
    cache[digest] = (info, now, hit[2] if hit else 0.0, seen)
    return info


def touch_due(token: str) -> bool:
    """Whether this process should record the device's last_seen_at now (at most once a minute per
    device and process, sparing the hot path a write); answering yes counts as recorded."""
    digest = token_hash(token)
    cache = _device_cache()
    hit = cache.get(digest)
    now = time.monotonic()
    if hit is None or now - hit[2] < _TOUCH_SECONDS:
        return False
    cache[digest] = (hit[0], hit[1], now, hit[3])
    return True


def forget_cached() -> None:
    """Drop this process's device cache (after a revocation)."""
    _device_cache().clear()

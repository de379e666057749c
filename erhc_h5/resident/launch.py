"""App launch tickets: a filed app signs (app, uid, ts, nonce[, hint]); we verify it and bind a resident session.

``hint`` is optional: a masked account name the app shows its user (e.g. ``138****5678``), displayed
when a launch would replace another account's session in the browser. Signed only when present, so
tickets without it are signed exactly as before."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.db import utcnow
from erhc_h5.errors import DomainError
from erhc_h5.filing.models import FiledApp, LaunchNonce
from erhc_h5.resident import presence
from erhc_h5.resident import session as resident_session
from erhc_h5.cards.service import ensure_app_user
from erhc_h5.cards.models import AppUser
from erhc_h5.uow import unit_of_work

_APP = re.compile(r"^[0-9A-Za-z\-_]{1,20}$")
_UID = re.compile(r"^[\x21-\x7e]{1,128}$")
_NONCE = re.compile(r"^[A-Za-z0-9]{16,64}$")
_SIG = re.compile(r"^[0-9a-f]{64}$")
_TS = re.compile(r"^\d{1,12}$")
# Printable, no markup or separators that could pass for page text; at most 32 characters.
_HINT = re.compile(r"^[^\x00-\x1f\x7f<>&\"'\\]{1,32}$")
_UNMASKED = re.compile(r"\d{5}")  # a hint is masked: a phone or number in clear is refused

# reason code -> (HTTP status, Chinese message)
REASONS = {
    "bad_ticket": (400, "进入链接不完整或格式有误,请返回城市App重新进入"),
    "unknown_app": (403, "该应用未在省级平台备案,不能提供接种疫苗服务"),
    "app_not_approved": (403, "该应用的备案尚未通过审核,暂不能提供接种疫苗服务"),
    "app_suspended": (403, "该应用的接种疫苗服务已被暂停,请使用其他已备案的应用"),
    "bad_signature": (403, "进入链接校验失败,请返回城市App重新进入"),
    "expired": (400, "进入链接已过期,请返回城市App重新进入"),
    "replayed": (400, "该进入链接已使用过,请返回城市App重新进入"),
    "cross_site": (403, "为保护您的账号,不能通过其他网站或他人发来的链接进入。请打开城市App,从App内的接种疫苗服务入口进入"),
}


class LaunchError(DomainError):
    """A launch was refused; ``reason`` is a stable code, ``status`` and ``message`` for the page."""

    def __init__(self, reason: str) -> None:
        status, message = REASONS[reason]
        super().__init__(reason, message, status)


@dataclass
class Launch:
    app: FiledApp
    app_user: AppUser
    hint: str = ""
    held: bool = False  # waits for the person's go-ahead: it would replace another account's session


def sign(secret: str, app: str, uid: str, ts: str | int, nonce: str, hint: str | None = None) -> str:
    """Lowercase hex HMAC-SHA256 over "app\\nuid\\nts\\nnonce" (with "\\nhint" appended when a hint
    is given) keyed with the app's launch secret."""
    message = f"{app}\n{uid}\n{ts}\n{nonce}" + (f"\n{hint}" if hint else "")
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def _unix(now) -> int:
    if now is None:
        return int(time.time())
    if isinstance(now, dt.datetime):
        return int((now if now.tzinfo else now.replace(tzinfo=dt.UTC)).timestamp())
    return int(now)


def make_launch_url(app, uid: str, secret: str, now=None, *, nonce: str | None = None, base: str = "",
                    hint: str | None = None) -> str:
    """The launch URL an app opens (``app`` is the 应用备案号 or a FiledApp; ``now`` unix s or datetime)."""
    filing_no = getattr(app, "app_filing_no", app)
    ts = _unix(now)
    nonce = nonce or secrets.token_hex(16)
    query = {"app": filing_no, "uid": uid, "ts": ts, "nonce": nonce}
    if hint:
        query["hint"] = hint
    query["sig"] = sign(secret, filing_no, uid, ts, nonce, hint)
    return f"{base}/h5/launch?{urlencode(query)}"


def enter(session: Session, args, *, max_skew: int) -> Launch:
    """A launch from the city app, committed: the ticket verified and its nonce recorded, the launch
    audited, and this browser bound to the app user, unless that would replace another account's
    session (then ``held``: the caller keeps it until the person confirms). LaunchError (rolled
    back, nothing recorded) when the ticket is refused."""
    with unit_of_work(session):
        result = verify_launch(session, args, max_skew=max_skew)
        result.held = presence.replaces_other_account(result.app_user.id)
        audit(session, "resident.launch", actor_type="resident", actor_id=result.app_user.id,
              target_type="app", target_id=result.app.id, detail={"held": True} if result.held else None)
        if not result.held:
            resident_session.start(session, result.app_user)
    return result


def verify_launch(session: Session, args, *, max_skew: int, now=None) -> Launch:
    """Check the ticket in ``args`` and record its nonce; raise LaunchError with a reason code."""
    values = {k: (args.get(k) or "") for k in ("app", "uid", "ts", "nonce", "sig", "hint")}
    values["sig"] = values["sig"].lower()
    if not (_APP.match(values["app"]) and _UID.match(values["uid"]) and _TS.match(values["ts"])
            and _NONCE.match(values["nonce"]) and _SIG.match(values["sig"])
            and (not values["hint"] or (_HINT.match(values["hint"]) and not _UNMASKED.search(values["hint"])))):
        raise LaunchError("bad_ticket")
    app = session.scalar(select(FiledApp).where(FiledApp.app_filing_no == values["app"]))
    if app is None:
        raise LaunchError("unknown_app")
    if app.status == "suspended":
        raise LaunchError("app_suspended")
    if not app.can_launch:
        raise LaunchError("app_not_approved")
    expected = sign(app.launch_secret, values["app"], values["uid"], values["ts"], values["nonce"], values["hint"])
    if not hmac.compare_digest(expected, values["sig"]):
        raise LaunchError("bad_signature")
    if abs(_unix(now) - int(values["ts"])) > max_skew:
        raise LaunchError("expired")
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        # One statement records the nonce or finds it seen (no row comes back): a replay, even one
        # racing the first use, is refused.
        insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
        recorded = session.execute(
            insert_(LaunchNonce).values(app_id=app.id, nonce=values["nonce"], seen_at=utcnow())
            .on_conflict_do_nothing(index_elements=["app_id", "nonce"]).returning(LaunchNonce.nonce)
        ).first()
        if recorded is None:
            raise LaunchError("replayed")
        return Launch(app=app, app_user=_app_user(session, app, values["uid"]), hint=values["hint"])
    if session.get(LaunchNonce, (app.id, values["nonce"])) is not None:  # pragma: no cover - other databases
        raise LaunchError("replayed")
    try:
        with session.begin_nested():
            session.add(LaunchNonce(app_id=app.id, nonce=values["nonce"], seen_at=utcnow()))
    except IntegrityError:
        raise LaunchError("replayed") from None
    return Launch(app=app, app_user=_app_user(session, app, values["uid"]), hint=values["hint"])


def _app_user(session: Session, app: FiledApp, uid: str) -> AppUser:
    """The app user of this launch. First launches of one account at once (two taps, two devices):
    one inserts the row, the others wait for its commit and read it, instead of failing the request."""
    query = select(AppUser).where(AppUser.app_id == app.id, AppUser.app_user_id == uid)
    user = session.scalar(query)
    if user is not None:
        return user
    dialect = session.get_bind().dialect.name
    if dialect not in ("postgresql", "sqlite"):  # pragma: no cover - other databases
        try:
            with session.begin_nested():
                return ensure_app_user(session, app, uid)
        except IntegrityError:
            return session.scalars(query).one()
    insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert_(AppUser).values(app_id=app.id, app_user_id=uid)
                    .on_conflict_do_nothing(index_elements=["app_id", "app_user_id"]))
    return session.scalars(query).one()

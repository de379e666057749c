"""The scan: verify a presented code, decide the verdict, audit it, and issue a voucher number.

``replayed`` means a token already accepted at one scanner (device, or a nurse without a device)
is presented at another; the same scanner may scan the same token again (a nurse's second look).
The first acceptance claims the token by inserting its fingerprint under a primary key, so two
scanners racing on one code cannot both win: the database lets exactly one insert through.
``revoked`` means the card was cancelled; a revoked *device* is refused earlier with 401.
"""
from __future__ import annotations

import datetime as dt
import secrets
import time
from dataclasses import dataclass, field

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from erhc_h5.code import tokens
from erhc_h5.code.models import CardCodeRef
from erhc_h5.resident.models import EHealthCard
from erhc_h5.timefmt import fmt, to_beijing
from erhc_h5.scan.models import ScanEvent, ScanTokenClaim

NOT_AUTHENTICATED_MESSAGE = "该用户未进行实名认证"
MESSAGES = {
    **tokens.MESSAGES,
    "unknown_card": "找不到该电子健康码对应的居民",
    "revoked": "该电子健康码已注销,不能使用",
    "replayed": "该码已在其他设备上使用,请居民刷新后重新出示",
}
ACCEPTED = ("authenticated", "not_authenticated")
RESULT_LABELS = {
    "authenticated": "核验通过(已实名)",
    "not_authenticated": "未实名认证",
    "malformed": "无法识别",
    "unknown_key": "非本平台码",
    "bad_signature": "校验失败",
    "expired": "已过期",
    "not_yet_valid": "时间异常",
    "unknown_card": "居民不存在",
    "revoked": "已注销",
    "replayed": "重复使用",
}
RESIDENT_FIELDS = ("name", "sex", "birthday", "id_card_type_code", "idcode", "nation")


@dataclass(frozen=True)
class Scanner:
    """Who scans: an enrolled device, or a signed-in nurse without one."""

    device_id: int | None = None
    staff_user_id: int | None = None
    site_name: str = ""


@dataclass
class ScanOutcome:
    status: int
    result: str
    body: dict
    voucher_no: str | None = None
    resident: dict = field(default_factory=dict)
    authentication_method: str = ""
    event: dict = field(default_factory=dict)


def _card_query():
    columns = [EHealthCard.id, EHealthCard.status, EHealthCard.recognize_flag, EHealthCard.authentication_method,
               EHealthCard.authenticated_at] + [getattr(EHealthCard, f) for f in RESIDENT_FIELDS]
    return select(*columns).join(CardCodeRef, CardCodeRef.card_id == EHealthCard.id).where(
        CardCodeRef.ref == bindparam("ref"))


def _claim_statement(insert_fn):
    claim = {"token_fingerprint": bindparam("fp"), "device_id": bindparam("device_id"),
             "staff_user_id": bindparam("staff_user_id"), "at": bindparam("at")}
    return (insert_fn(ScanTokenClaim).values(**claim)
            .on_conflict_do_nothing(index_elements=["token_fingerprint"]).returning(ScanTokenClaim.token_fingerprint))


# The hot path runs pre-built Core statements: no per-request SQL construction.
CARD_BY_REF = _card_query()
CARD_ID_BY_REF = select(CardCodeRef.card_id).where(CardCodeRef.ref == bindparam("ref"))
INSERT_EVENT = insert(ScanEvent)
CLAIM = {"postgresql": _claim_statement(pg_insert), "sqlite": _claim_statement(sqlite_insert)}
CLAIM_OWNER = select(ScanTokenClaim.device_id, ScanTokenClaim.staff_user_id).where(
    ScanTokenClaim.token_fingerprint == bindparam("fp"))


def _claimed_elsewhere(conn: Connection, fp: str, scanner: Scanner, at: dt.datetime) -> bool:
    """Claim the token for this scanner, or tell whether another scanner holds it.

    On PostgreSQL a racing insert waits for the first claimant's transaction, then does nothing;
    the owner read afterwards sees the committed claim. SQLite writers are serialised anyway."""
    params = {"fp": fp, "device_id": scanner.device_id, "staff_user_id": scanner.staff_user_id, "at": at}
    if conn.execute(CLAIM[conn.dialect.name], params).first() is not None:
        return False
    owner = conn.execute(CLAIM_OWNER, {"fp": fp}).first()
    if owner is None:  # the claimant rolled back in between; the next scan claims it
        return True
    if scanner.device_id is not None:
        return owner.device_id != scanner.device_id
    return owner.device_id is not None or owner.staff_user_id != scanner.staff_user_id


def record(session: Session, outcome: "ScanOutcome") -> None:
    """Write the outcome's ScanEvent (the audit of the scan; never the code text)."""
    session.connection().execute(INSERT_EVENT, outcome.event)


def _event(scanner: Scanner, result: str, at: dt.datetime, *, card_id=None, fp=None, voucher=None) -> dict:
    return {"at": at, "device_id": scanner.device_id, "staff_user_id": scanner.staff_user_id,
            "site_name": scanner.site_name[:100], "card_id": card_id, "result": result,
            "token_fingerprint": fp, "voucher_no": voucher}


def _refused(result: str, event: dict) -> ScanOutcome:
    return ScanOutcome(422, result, {"error": result, "message": MESSAGES[result]}, event=event)


def connection_of(db: Session | Connection) -> Connection:
    """The Core connection of a Session (its transaction's), or the Connection itself."""
    return db if isinstance(db, Connection) else db.connection()


def scan(session: Session | Connection, text: object, scanner: Scanner, now: float | None = None) -> ScanOutcome:
    """Evaluate and record in the caller's transaction (the caller commits): the card, the claim, the event."""
    conn = connection_of(session)
    outcome = _evaluate(session, conn, text, scanner, now)
    conn.execute(INSERT_EVENT, outcome.event)
    return outcome


def evaluate(session: Session, text: object, scanner: Scanner, now: float | None = None) -> ScanOutcome:
    """Verify ``text`` for ``scanner`` and decide the verdict; claims the token (``record`` writes the event)."""
    return _evaluate(session, session.connection(), text, scanner, now)


def _evaluate(session: Session | Connection, conn: Connection, text: object, scanner: Scanner, now: float | None) -> ScanOutcome:
    now_s = time.time() if now is None else now
    at = dt.datetime.fromtimestamp(now_s, dt.UTC).replace(tzinfo=None)
    fp = tokens.fingerprint(text.strip()) if isinstance(text, str) and tokens.TOKEN_RE.fullmatch(text.strip()) else None
    try:
        code = tokens.verify(session, text, now_s)
    except tokens.CodeError as exc:
        card_id = None
        if exc.ref is not None:
            card_id = conn.execute(CARD_ID_BY_REF, {"ref": exc.ref}).scalar()
        return _refused(exc.reason, _event(scanner, exc.reason, at, card_id=card_id, fp=fp))
    row = conn.execute(CARD_BY_REF, {"ref": code.ref}).first()
    if row is None:
        return _refused("unknown_card", _event(scanner, "unknown_card", at, fp=fp))
    if row.status != "active":
        return _refused("revoked", _event(scanner, "revoked", at, card_id=row.id, fp=fp))
    if fp is not None and _claimed_elsewhere(conn, fp, scanner, at):
        return _refused("replayed", _event(scanner, "replayed", at, card_id=row.id, fp=fp))
    if row.recognize_flag != 1:
        return ScanOutcome(200, "not_authenticated", {"result": "not_authenticated", "message": NOT_AUTHENTICATED_MESSAGE},
                           event=_event(scanner, "not_authenticated", at, card_id=row.id, fp=fp))
    voucher = "JZ" + to_beijing(at).strftime("%Y%m%d") + secrets.token_hex(5).upper()
    resident = {f: getattr(row, f) for f in RESIDENT_FIELDS}
    body = {
        "result": "authenticated",
        "resident": resident,
        "authentication_method": row.authentication_method,
        "authenticated_at": fmt(row.authenticated_at),
        "voucher_no": voucher,
        "scanned_at": fmt(at),
    }
    return ScanOutcome(200, "authenticated", body, voucher, resident, row.authentication_method,
                       _event(scanner, "authenticated", at, card_id=row.id, fp=fp, voucher=voucher))


def voucher_visible(event: ScanEvent, scanner: Scanner) -> bool:
    """A voucher is shown at the site that scanned it: the same scanner, or the same named site."""
    if scanner.device_id is not None and event.device_id == scanner.device_id:
        return True
    if scanner.staff_user_id is not None and event.staff_user_id == scanner.staff_user_id:
        return True
    return bool(scanner.site_name) and event.site_name == scanner.site_name

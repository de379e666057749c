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
from typing import Callable

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from erhc_h5.code import tokens
from erhc_h5.scan.models import ScanEvent
from erhc_h5.scan.sql import CardRow, ScanStatements, session_cursor, statements_for
from erhc_h5.timefmt import fmt, to_beijing


def _time_now() -> float:
    """``time.time()``, looked up at each call rather than bound once."""
    return time.time()


# What ``check`` reads when its caller gives no ``now``: the wall clock. Replaceable, so a test moves a
# running server's time past a code's expiry instead of waiting for it.
wall_clock: Callable[[], float] = _time_now

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
    "foreign_issuer": "外地签发",
    "key_revoked": "密钥已停用",
    "bad_lifetime": "有效期异常",
    "not_yet_valid": "时间异常",
    "unknown_card": "居民不存在",
    "revoked": "已注销",
    "replayed": "重复使用",
}


@dataclass(frozen=True)
class Scanner:
    """Who scans: an enrolled device, a signed-in nurse without one, or a provincial terminal
    (the province's scanner id, for a province verification)."""

    device_id: int | None = None
    staff_user_id: int | None = None
    site_name: str = ""
    terminal: str | None = None


@dataclass
class ScanOutcome:
    status: int
    result: str
    body: dict
    voucher_no: str | None = None
    resident: dict = field(default_factory=dict)
    authentication_method: str = ""
    event: dict = field(default_factory=dict)
    window: tuple[int, int] | None = None  # (issued_at, expires_at) of a code refused for its time


@dataclass(frozen=True)
class CheckedCode:
    """What the code text alone says, before the database is asked: its fingerprint, and either
    the card reference of a good code or the reason it was refused (with the reference when the
    signature held, so the refusal can still be tied to a card)."""

    at: dt.datetime
    fp: str | None
    ref: str | None
    reason: str | None = None
    window: tuple[int, int] | None = None  # (issued_at, expires_at) of a code refused for its time


def check(db, text: object, now: float | None = None, *, seen: int | None = None) -> CheckedCode:
    """Verify the issuer, signature, key and validity window of ``text``; no transaction is needed
    when ``seen`` (the revocation counter as the caller read it) is given: ``db`` is then read only
    when the per-process key cache reloads."""
    now_s = wall_clock() if now is None else now
    at = dt.datetime.fromtimestamp(now_s, dt.UTC).replace(tzinfo=None)
    fp = tokens.fingerprint(text.strip()) if isinstance(text, str) and tokens.TOKEN_RE.fullmatch(text.strip()) else None
    try:
        code = tokens.verify(db, text, now_s, seen=seen)
    except tokens.CodeError as exc:
        return CheckedCode(at, fp, exc.ref, exc.reason, exc.window)
    return CheckedCode(at, fp, code.ref)


def _elsewhere(owner: tuple[int | None, int | None, str | None], scanner: Scanner) -> bool:
    """Whether a claim's owner (device, staff user, provincial terminal) is another scanner than this one."""
    if scanner.terminal is not None:
        return owner[2] != scanner.terminal
    if scanner.device_id is not None:
        return owner[0] != scanner.device_id
    return owner[0] is not None or owner[2] is not None or owner[1] != scanner.staff_user_id


def _event(scanner: Scanner, result: str, at: dt.datetime, *, card_id=None, fp=None, voucher=None) -> dict:
    return {"at": at, "device_id": scanner.device_id, "staff_user_id": scanner.staff_user_id, "terminal": scanner.terminal,
            "site_name": scanner.site_name[:100], "card_id": card_id, "result": result,
            "token_fingerprint": fp, "voucher_no": voucher}


def _refused(result: str, event: dict) -> ScanOutcome:
    return ScanOutcome(422, result, {"error": result, "message": MESSAGES[result]}, event=event)


NOT_READ = object()  # record(card=…): the caller has not read the code's card in this transaction


def record(sql: ScanStatements, cursor, checked: CheckedCode, scanner: Scanner, card=NOT_READ) -> ScanOutcome:
    """Decide the verdict and write the scan's event (never the code text) on ``cursor``; ``card``:
    the code's card (or None) when the caller read it in this transaction already.

    The first acceptance of a code claims it for its scanner under the claim's primary key, in
    the same statement or transaction as its event, so two scanners racing on one code cannot
    both win: the loser writes a ``replayed`` event instead. On PostgreSQL a racing claim waits for
    the first claimant's commit, then does nothing, and the owner read afterwards sees it."""
    outcome, card = _decide(sql, cursor, checked, scanner, card)
    if card is None or card.claimed or checked.fp is None:
        sql.record(cursor, outcome.event)
        return outcome
    if sql.claim_and_record(cursor, outcome.event):
        return outcome
    owner = sql.owner(cursor, checked.fp)
    if owner is not None and not _elsewhere(owner, scanner):  # our own earlier claim, committed meanwhile
        sql.record(cursor, outcome.event)
        return outcome
    # claimed elsewhere (or the claimant rolled back in between: the next scan claims it)
    replayed = _refused("replayed", _event(scanner, "replayed", checked.at, card_id=card.id, fp=checked.fp))
    sql.record(cursor, replayed.event)
    return replayed


def scan(session: Session | Connection, text: object, scanner: Scanner, now: float | None = None) -> ScanOutcome:
    """Check and record one scan in the caller's transaction on ``session`` (console, tests)."""
    checked = check(session, text, now)
    conn = session if isinstance(session, Connection) else session.connection()
    return record(statements_for(conn.dialect), session_cursor(conn), checked, scanner)


def _decide(sql: ScanStatements, cursor, checked: CheckedCode, scanner: Scanner,
            card=NOT_READ) -> tuple[ScanOutcome, CardRow | None]:
    """The verdict from the code and its card; the card is returned when the code is to be
    accepted (the caller still has to claim it when ``card.claimed`` is false)."""
    at, fp = checked.at, checked.fp
    if checked.reason is not None:
        card_id = sql.card_id(cursor, checked.ref) if checked.ref is not None else None
        refused = _refused(checked.reason, _event(scanner, checked.reason, at, card_id=card_id, fp=fp))
        refused.window = checked.window
        return refused, None
    if card is NOT_READ:
        card = sql.card(cursor, checked.ref, fp)
    if card is None:
        return _refused("unknown_card", _event(scanner, "unknown_card", at, fp=fp)), None
    if card.status != "active":
        return _refused("revoked", _event(scanner, "revoked", at, card_id=card.id, fp=fp)), None
    if card.claimed and _elsewhere((card.owner_device_id, card.owner_staff_user_id, card.owner_terminal), scanner):
        return _refused("replayed", _event(scanner, "replayed", at, card_id=card.id, fp=fp)), None
    if card.recognize_flag != 1:
        return ScanOutcome(200, "not_authenticated", {"result": "not_authenticated", "message": NOT_AUTHENTICATED_MESSAGE},
                           event=_event(scanner, "not_authenticated", at, card_id=card.id, fp=fp)), card
    voucher = "JZ" + to_beijing(at).strftime("%Y%m%d") + secrets.token_hex(5).upper()
    body = {
        "result": "authenticated",
        "resident": card.resident,
        "authentication_method": card.authentication_method,
        "authenticated_at": fmt(card.authenticated_at),
        "voucher_no": voucher,
        "scanned_at": fmt(at),
    }
    return ScanOutcome(200, "authenticated", body, voucher, card.resident, card.authentication_method,
                       _event(scanner, "authenticated", at, card_id=card.id, fp=fp, voucher=voucher)), card


def voucher_visible(event: ScanEvent, scanner: Scanner) -> bool:
    """A voucher is shown at the site that scanned it: the same scanner, or the same named site."""
    if scanner.device_id is not None and event.device_id == scanner.device_id:
        return True
    if scanner.staff_user_id is not None and event.staff_user_id == scanner.staff_user_id:
        return True
    return bool(scanner.site_name) and event.site_name == scanner.site_name

"""The province's decision on a filing, recorded by the city from the stamped 申请表.

Only the province approves a filing: it assigns the 应用备案号 (app_record_no_recognize) and the
接入组件入网编码 (app_record_no), writes the 管理单位意见 and stamps a date. A reviewer copies those into
the registry here; the app may launch only after an approval is recorded. Formats:

- 应用备案号: AN20 as §5.2.2 gives it (letters, digits, '_' or '-', 1–20), the same rule the form used;
- 入网编码: 6–20 digits. §5.2.2 bounds it by AN20; the province's codes are numbers that begin with a
  division code (six digits at least), and the city's earlier ones (3301 00 nnnnnn) fit the same rule.

Both numbers are unique across apps. Recording locks the filing's row: of two reviewers recording at
once the first wins and the second is told the filing is no longer awaiting the province.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from erhc_h5.db import lock_row
from erhc_h5.filing import uploads
from erhc_h5.filing.models import DecisionOutcome, DecisionSource, FiledApp, FilingDecision
from erhc_h5.filing.services import (FilingError, audit_filing, check_filing_no, check_four_eyes, new_secret,
                                     record_refusal)
from erhc_h5.timefmt import beijing_now, to_beijing

ACCESS_CODE = re.compile(r"^[0-9]{6,20}$")
DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
OPINION_MAX = 500
ACTOR_TYPES = {DecisionSource.CONSOLE: "staff", DecisionSource.PROVINCE: "province"}


@dataclass(frozen=True)
class DecisionInput:
    """What the stamped 申请表 says, as typed (every field still unchecked)."""

    outcome: str
    opinion: str
    decided_on: str | dt.date
    app_filing_no: str = ""
    access_code: str = ""
    form_data: bytes | None = None


def parse_decided_on(value, app: FiledApp) -> dt.date:
    """The decision date: a real YYYY-MM-DD day, not after today nor before the filing went to the province
    (Beijing calendar, as on the stamp)."""
    if isinstance(value, dt.date):
        day = value
    else:
        text = str(value or "").strip()
        if not text:
            raise FilingError("date_required", "请填写省级审批日期", "decided_on")
        try:
            day = dt.date.fromisoformat(text) if DATE.match(text) else None
        except ValueError:
            day = None
        if day is None:
            raise FilingError("bad_date", "省级审批日期格式应为YYYY-MM-DD,且须是真实日期", "decided_on")
    if day > beijing_now().date():
        raise FilingError("date_in_future", "省级审批日期不能晚于今天", "decided_on")
    sent = app.reviewed_at or app.submitted_at
    if sent is not None and day < to_beijing(sent).date():
        raise FilingError("date_before_submission",
                          f"省级审批日期不能早于提交省级的日期({to_beijing(sent).date().isoformat()})", "decided_on")
    return day


def check_access_code(session: Session, value, app: FiledApp) -> str:
    """接入组件入网编码: 6–20 digits, unique across apps."""
    value = str(value or "").strip()
    if not value:
        raise FilingError("required", "请填写接入组件入网编码", "access_code")
    if not ACCESS_CODE.match(value):
        raise FilingError("bad_access_code", "接入组件入网编码应为6至20位数字", "access_code")
    clash = session.scalar(select(FiledApp.id).where(FiledApp.access_code == value))
    if clash is not None and clash != app.id:
        raise FilingError("duplicate_access_code", "该接入组件入网编码已被其他应用使用", "access_code")
    return value


def check_opinion(value) -> str:
    opinion = str(value or "").strip()
    if not opinion:
        raise FilingError("opinion_required", "请填写管理单位意见", "opinion")
    if len(opinion) > OPINION_MAX:
        raise FilingError("too_long", f"管理单位意见不能超过{OPINION_MAX}字", "opinion")
    return opinion


def record_decision(session: Session, app: FiledApp, given: DecisionInput, *, actor_id: int | None,
                    source: DecisionSource, issue_secret: bool = False,
                    require_form: bool = True) -> tuple[FilingDecision, str | None]:
    """Record the province's approval or rejection of a filing awaiting it; returns the decision and,
    with ``issue_secret`` on an approval, the new launch secret (to be shown once).

    A staff recorder must pass the four-eyes check (never the filing's author). Nothing is written
    unless every check passes; a number another app holds is refused in Chinese even when that app
    took it a moment earlier."""
    lock_row(session, app)
    if app.status != "province_pending":
        raise FilingError("not_pending", f"当前状态为“{app.status_label}”,不能登记省级审批结果"
                                         "(仅限“已提交省级,待省级审批”状态);如刚有他人登记,请刷新查看")
    if source is DecisionSource.CONSOLE:
        check_four_eyes(session, app, actor_id)
    if given.outcome not in (DecisionOutcome.APPROVED, DecisionOutcome.REJECTED):
        raise FilingError("bad_outcome", "请选择省级审批结果:通过或不通过", "outcome")
    approved = given.outcome == DecisionOutcome.APPROVED
    opinion = check_opinion(given.opinion)
    decided_on = parse_decided_on(given.decided_on, app)
    filing_no = check_filing_no(session, given.app_filing_no, app, required=True) if approved else None
    access_code = check_access_code(session, given.access_code, app) if approved else None
    suffix = None
    if given.form_data or (approved and require_form):
        suffix = uploads.check_stamped_form(given.form_data or b"")
    decision = FilingDecision(app_id=app.id, outcome=str(given.outcome), app_filing_no=filing_no,
                              access_code=access_code, opinion=opinion, decided_on=decided_on,
                              source=str(source), recorded_by_id=actor_id if source is DecisionSource.CONSOLE else None)
    _apply(app, decision)
    secret = new_secret(app) if approved and issue_secret else None
    _flush_unique(session, decision)
    if suffix:
        decision.form_file = uploads.store_stamped_form(given.form_data, suffix)
    audit_filing(session, app, f"filing.province_{'approve' if approved else 'reject'}", actor_id,
                 actor_type=ACTOR_TYPES.get(source, "cli"), to=app.status,
                 app_filing_no=filing_no, decided_on=decided_on.isoformat(), source=str(source),
                 form_file=decision.form_file)
    return decision, secret


def record_from_console(session: Session, app: FiledApp, given: DecisionInput, *, actor_id: int) -> str | None:
    """A staff member records the decision, in its own transaction (committed here); returns the new
    launch secret after an approval. A refusal is rolled back, a four-eyes refusal audited, and the
    FilingError raised again for the page."""
    app_id = app.id
    try:
        _, secret = record_decision(session, app, given, actor_id=actor_id, source=DecisionSource.CONSOLE,
                                    issue_secret=True)
    except FilingError as exc:
        session.rollback()
        record_refusal(session, app_id, "decide", actor_id, exc)
        session.commit()
        raise
    session.commit()
    return secret


def _apply(app: FiledApp, decision: FilingDecision) -> None:
    app.review_opinion = decision.opinion
    if decision.outcome == DecisionOutcome.APPROVED:
        app.app_filing_no, app.access_code = decision.app_filing_no, decision.access_code
        app.province_decided_on, app.status = decision.decided_on, "approved"
    else:
        app.status = "rejected"


def _flush_unique(session: Session, decision: FilingDecision) -> None:
    """Flush in a savepoint: a number taken by another app in a racing transaction becomes a
    FilingError (the caller rolls back), never a 500."""
    try:
        with session.begin_nested():
            session.add(decision)
            session.flush()
    except IntegrityError:
        raise FilingError("duplicate_numbers", "应用备案号或接入组件入网编码刚被其他应用登记,请核对省级批复后重试",
                          "access_code") from None


def latest_decision(session: Session, app: FiledApp) -> FilingDecision | None:
    """The most recent decision recorded on ``app``."""
    return session.scalar(select(FilingDecision).where(FilingDecision.app_id == app.id)
                          .order_by(FilingDecision.id.desc()).limit(1))

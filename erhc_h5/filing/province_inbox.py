"""The province's decision as it arrives electronically: checked, then recorded through
``decisions.record_decision`` (source ``province``; the signed call is the record, no stamped form).

Idempotent: the same decision sent again is ``already_recorded``; a different one for a decided
filing is refused ``already_decided``. The filing's row is locked first (``record_decision``), so of
decisions racing for one filing exactly one is recorded and the others see it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from erhc_h5.db import lock_row
from erhc_h5.errors import WireRefusal
from erhc_h5.filing.decisions import DecisionInput, latest_decision, record_decision
from erhc_h5.filing.models import DecisionSource, FiledApp, FilingDecision
from erhc_h5.filing.services import FilingError

DECISION_NO = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
DECIDED_STATES = ("approved", "rejected", "suspended")
FIELDS = ("filing_id", "outcome", "app_filing_no", "access_code", "opinion", "decided_on", "decision_no")


class InboxRefusal(WireRefusal):
    """A decision the city does not record: HTTP status, reason code (``error``), Chinese message."""


@dataclass(frozen=True)
class ProvinceDecision:
    """The decision call's body, each field of the right JSON type (values still unchecked)."""

    filing_id: int
    decision_no: str
    given: DecisionInput


def parse(body) -> ProvinceDecision:
    """The JSON object's fields; a wrong shape is refused 422 with the console's reason codes."""
    if not isinstance(body, dict):
        raise InboxRefusal(422, "bad_request", "请求体应为 JSON 对象")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InboxRefusal(422, "unknown_field", f"不认识的字段:{', '.join(unknown)}")
    filing_id = body.get("filing_id")
    if not isinstance(filing_id, int) or isinstance(filing_id, bool) or not 0 < filing_id < 2**31:
        raise InboxRefusal(422, "bad_filing_id", "filing_id 应为城市备案编号(正整数)")
    texts = {name: body.get(name, "") for name in FIELDS[1:]}
    for name, value in texts.items():
        if value is None:
            texts[name] = ""
        elif not isinstance(value, str):
            raise InboxRefusal(422, "bad_type", f"{name} 应为字符串")
    if not DECISION_NO.fullmatch(texts["decision_no"]):
        raise InboxRefusal(422, "bad_decision_no", "decision_no 应为1至64位字母、数字或 _ . -")
    given = DecisionInput(outcome=texts["outcome"], opinion=texts["opinion"], decided_on=texts["decided_on"],
                          app_filing_no=texts["app_filing_no"], access_code=texts["access_code"])
    return ProvinceDecision(filing_id, texts["decision_no"], given)


def receive(session: Session, asked: ProvinceDecision, body_sha256: str) -> str:
    """Record the decision; ``"recorded"`` or ``"already_recorded"``. InboxRefusal (404, 409) or
    FilingError (422) otherwise; the caller rolls back what this wrote."""
    app = session.get(FiledApp, asked.filing_id)
    if app is None:
        raise InboxRefusal(404, "unknown_filing", "找不到该备案申请")
    lock_row(session, app)
    if app.status != "province_pending":
        return _decided_already(session, app, asked)
    try:
        decision, _ = record_decision(session, app, asked.given, actor_id=None, source=DecisionSource.PROVINCE,
                                      require_form=False)
    except FilingError as exc:
        if exc.reason == "not_pending":
            raise InboxRefusal(409, "not_pending", str(exc)) from None
        raise
    decision.province_decision_no, decision.signed_body_sha256 = asked.decision_no, body_sha256
    session.flush()
    return "recorded"


def _decided_already(session: Session, app: FiledApp, asked: ProvinceDecision) -> str:
    latest = latest_decision(session, app)
    decided = (latest is not None and app.status in DECIDED_STATES
               and (app.reviewed_at is None or latest.recorded_at >= app.reviewed_at))
    if not decided:
        raise InboxRefusal(409, "not_pending", f"当前状态为“{app.status_label}”,不是“已提交省级,待省级审批”,"
                                               "不能登记省级审批结果")
    if _same(latest, asked):
        return "already_recorded"
    raise InboxRefusal(409, "already_decided", "该备案申请已登记过不同的省级审批结果")


def _same(latest: FilingDecision, asked: ProvinceDecision) -> bool:
    given = asked.given
    return (latest.province_decision_no == asked.decision_no and latest.outcome == given.outcome.strip()
            and (latest.app_filing_no or "") == given.app_filing_no.strip()
            and (latest.access_code or "") == given.access_code.strip()
            and latest.opinion == given.opinion.strip() and latest.decided_on.isoformat() == str(given.decided_on).strip())

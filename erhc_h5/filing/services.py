"""The 备案 state machine: create, edit, submit, review, suspend, reinstate, rotate the launch secret.

draft → submitted → (the city's review passes: sent to the province) province_pending | rejected;
the province's decision (filing/decisions.py) moves province_pending → approved | rejected;
approved ↔ suspended; a rejected application is revised back into a draft. The city never makes up
the numbers: 应用备案号 and 接入组件入网编码 come with the province's approval.
Every action is audited; a refused transition raises FilingError (Chinese message).
Four eyes: whoever created or submitted an application neither approves it, records the province's
decision, nor sees its launch secret, nor does an account they opened or issued a password to, nor
one opened after submission. A transition locks the application's row first, so of reviewers acting
at once one wins and the others are told the new state.
"""
from __future__ import annotations

import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.db import lock_row, utcnow
from erhc_h5.errors import DomainError
from erhc_h5.filing.delivery import queue_delivery
from erhc_h5.filing.models import FILING_STATES, FiledApp
from erhc_h5.logs import log_event
from erhc_h5.staff.models import StaffUser
from erhc_h5.records.codes import AUTH_METHODS

# action -> (allowed from-states, to-state)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "submit": (("draft",), "submitted"),
    "approve": (("submitted",), "province_pending"),
    "reject": (("submitted",), "rejected"),
    "suspend": (("approved",), "suspended"),
    "reinstate": (("suspended",), "approved"),
    "revise": (("rejected",), "draft"),
}
ACTION_LABELS = {"submit": "提交审核", "approve": "审核通过并提交省级", "reject": "驳回", "suspend": "暂停",
                 "reinstate": "恢复", "revise": "退回修改", "rotate": "重置接入密钥"}
EDITABLE_STATES = ("draft", "rejected")
TEXT_FIELDS = {  # field -> (中文 label, max length)
    "app_name": ("应用名称", 100),
    "org_name": ("应用所属机构", 100),
    "org_filing_no": ("机构备案号", 50),
    "builder_unit": ("建设单位", 100),
    "builder_contact": ("建设单位联系人", 100),
    "developer_unit": ("开发单位", 100),
    "developer_contact": ("开发单位联系人", 100),
}
FILING_NO = re.compile(r"^[A-Za-z0-9_-]{1,20}$")  # AN20, as app_record_no_recognize
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")


class FilingError(DomainError, ValueError):
    """A filing request that cannot be carried out: a stable ``reason`` and a Chinese message."""

    status = 422

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(reason, message)
        self.field = field


def parse_methods(methods) -> str:
    """Normalise 实名认证方式 (list or '2^3') to sorted unique codes joined by '^'; refuse unknown ones."""
    items = methods.split("^") if isinstance(methods, str) else list(methods or [])
    codes = sorted({str(m).strip() for m in items if str(m).strip()})
    if not codes:
        raise FilingError("methods_required", "请至少选择一种实名认证方式", "auth_methods")
    unknown = [c for c in codes if c not in AUTH_METHODS]
    if unknown:
        raise FilingError("bad_method", "实名认证方式只能是1至4(二要素、三要素、面部识别、现场认证)", "auth_methods")
    return "^".join(codes)


def parse_origins(text: str) -> str:
    """Space/newline separated https origins allowed to frame the H5 (may be empty)."""
    origins = [o.strip().rstrip("/") for o in (text or "").split()]
    for origin in origins:
        if not ORIGIN.match(origin):
            raise FilingError("bad_origin", "来源地址格式不正确:应形如 https://app.example.cn", "allowed_origins")
    return " ".join(dict.fromkeys(origins))


def _clean(session: Session, data: dict, app: FiledApp | None) -> dict:
    values = {}
    for name, (label, max_len) in TEXT_FIELDS.items():
        value = str(data.get(name) or "").strip()
        if not value:
            raise FilingError("required", f"请填写{label}", name)
        if len(value) > max_len:
            raise FilingError("too_long", f"{label}不能超过{max_len}个字", name)
        values[name] = value
    values["app_filing_no"] = check_filing_no(session, data.get("app_filing_no"), app, required=False)
    values["auth_methods"] = parse_methods(data.get("auth_methods"))
    values["allowed_origins"] = parse_origins(str(data.get("allowed_origins") or ""))
    return values


def check_filing_no(session: Session, value, app: FiledApp | None, *, required: bool) -> str | None:
    """应用备案号: AN20 (letters, digits, '_' or '-'), unique across apps; None when optional and empty."""
    value = str(value or "").strip()
    if not value:
        if required:
            raise FilingError("required", "请填写应用备案号", "app_filing_no")
        return None
    if len(value) > 20:
        raise FilingError("too_long", "应用备案号不能超过20位", "app_filing_no")
    if not FILING_NO.match(value):
        raise FilingError("bad_filing_no", "应用备案号只能由字母、数字、下划线或连字符组成,最多20位", "app_filing_no")
    clash = session.scalar(select(FiledApp.id).where(FiledApp.app_filing_no == value))
    if clash is not None and (app is None or clash != app.id):
        raise FilingError("duplicate_filing_no", "该应用备案号已被其他应用使用", "app_filing_no")
    return value


def create_application(session: Session, data: dict, *, actor_id: int | None, actor_type: str = "staff") -> FiledApp:
    """A new draft application from the 申请表 fields."""
    values = _clean(session, data, None)
    app = FiledApp(**values, status="draft", ui_design_files=[], review_opinion="", created_by_id=actor_id)
    session.add(app)
    session.flush()
    audit_filing(session, app, "filing.create", actor_id, actor_type=actor_type)
    return app


def update_application(session: Session, app: FiledApp, data: dict, *, actor_id: int) -> FiledApp:
    """Edit a draft (editing a rejected application re-opens it as a draft)."""
    if app.status not in EDITABLE_STATES:
        raise FilingError("not_editable", f"“{app.status_label}”状态的申请不能修改")
    values = _clean(session, data, app)
    if app.status == "rejected":
        transition(session, app, "revise", actor_id=actor_id)
    for name, value in values.items():
        setattr(app, name, value)
    session.flush()
    audit_filing(session, app, "filing.update", actor_id)
    return app


def transition(session: Session, app: FiledApp, action: str, *, actor_id: int, opinion: str = "") -> None:
    """Move the application by ``action`` (a city approval sends it to the province)."""
    if action not in TRANSITIONS:
        raise FilingError("unknown_action", "不支持的操作")
    allowed, target = TRANSITIONS[action]
    if app.id is not None:
        lock_row(session, app)
    if app.status not in allowed:
        need = "、".join(FILING_STATES[s] for s in allowed)
        raise FilingError("invalid_transition",
                          f"当前状态为“{app.status_label}”,不能{ACTION_LABELS[action]}(仅限{need}状态)")
    opinion = (opinion or "").strip()
    if len(opinion) > 1000:
        raise FilingError("too_long", "管理单位意见不能超过1000字", "review_opinion")
    if action == "reject" and not opinion:
        raise FilingError("opinion_required", "驳回时请填写管理单位意见", "review_opinion")
    if action == "submit" and not app.ui_design_files:
        raise FilingError("screens_required", "请先上传实名认证界面设计截图", "screens")
    if action == "approve":
        check_four_eyes(session, app, actor_id)
    now = utcnow()
    if action == "submit":
        app.submitted_at, app.submitted_by_id = now, actor_id
    if action in ("approve", "reject"):
        app.review_opinion = opinion or "同意备案"
        app.reviewed_by_id, app.reviewed_at = actor_id, now
    if action == "suspend":
        app.suspended_at = now
    if action == "reinstate":
        app.suspended_at = None
    app.status = target
    session.flush()
    audit_filing(session, app, f"filing.{action}", actor_id, to=target)
    if target == "province_pending":
        queue_delivery(session, app)


def send_to_province(session: Session, app: FiledApp, *, actor_type: str = "cli") -> None:
    """The server's operator files a draft with the province in one step (production bootstrap): no
    city reviewer exists yet, so there is no screenshot or four-eyes step; audited as ``actor_type``."""
    lock_row(session, app)
    if app.status != "draft":
        raise FilingError("invalid_transition", f"当前状态为“{app.status_label}”,不能提交省级")
    now = utcnow()
    app.submitted_at = app.reviewed_at = now
    app.status = "province_pending"
    session.flush()
    audit_filing(session, app, "filing.send_to_province", None, actor_type=actor_type, to=app.status)
    queue_delivery(session, app)


def rotate_secret(session: Session, app: FiledApp, *, actor_id: int | None, actor_type: str = "staff") -> str:
    """A new launch secret (old one stops working at once); returns it to be shown once.
    A staff member must pass the four-eyes check; the server's operator (CLI) needs none."""
    lock_row(session, app)
    if app.status not in ("approved", "suspended"):
        raise FilingError("invalid_transition", "只有已通过或已暂停的应用可以重置接入密钥")
    if actor_type == "staff":
        check_four_eyes(session, app, actor_id)
    secret = new_secret(app)
    session.flush()
    audit_filing(session, app, "filing.rotate_secret", actor_id, actor_type=actor_type)
    return secret


def check_four_eyes(session: Session, app: FiledApp, actor_id: int) -> None:
    """Refuse an approver (or recorder of the province's decision, or secret rotator) who is the
    application's author, or whose account could be the author's puppet: opened, or given a password,
    by the creator or submitter, or opened after the application was submitted."""
    authors = {app.created_by_id, app.submitted_by_id} - {None}
    if actor_id in authors:
        raise FilingError("four_eyes", "您创建或提交了该备案申请,按“双人审核”要求不能由您本人审核通过、"
                                       "登记省级审批结果或查看接入密钥,请由另一名审核员办理")
    account = session.get(StaffUser, actor_id)
    if account is None:
        raise FilingError("four_eyes", "找不到您的工作人员账号")
    if {account.created_by_id, account.password_issued_by_id} & authors:
        raise FilingError("four_eyes_account_origin", "您的账号由该备案申请的创建人或提交人开设或重置过密码,"
                                                      "按“双人审核”要求不能审核通过、登记省级审批结果或查看接入密钥,请由另一名审核员办理")
    if app.submitted_at is not None and account.created_at >= app.submitted_at:
        raise FilingError("four_eyes_new_account", "您的账号开设于该备案申请提交之后,按“双人审核”要求不能审核通过、"
                                                   "登记省级审批结果或查看接入密钥,请由申请提交前已有的审核员办理")


FOUR_EYES_REASONS = ("four_eyes", "four_eyes_account_origin", "four_eyes_new_account")


def record_refusal(session: Session, app_id: int, action: str, actor_id: int, error: FilingError) -> None:
    """Audit a four-eyes refusal (after the refused transaction was rolled back)."""
    if error.reason in FOUR_EYES_REASONS:
        audit(session, "filing.four_eyes_refused", actor_type="staff", actor_id=actor_id, target_type="filed_app",
              target_id=app_id, detail={"action": action, "reason": error.reason})
        log_event("filing.four_eyes_refused", filed_app_id=app_id, reason=error.reason)


def list_applications(session: Session, status: str | None = None) -> list[FiledApp]:
    query = select(FiledApp).order_by(FiledApp.id.desc())
    if status in FILING_STATES:
        query = query.where(FiledApp.status == status)
    return list(session.scalars(query))


def new_secret(app: FiledApp) -> str:
    secret = secrets.token_hex(32)
    app.launch_secret = secret
    app.secret_version = int(app.secret_version or 0) + 1
    return secret


def audit_filing(session: Session, app: FiledApp, action: str, actor_id: int | None, *, actor_type: str = "staff",
                 **detail) -> None:
    """Audit an action on a filing (numbers and secret version, never the secret) and log it."""
    detail = {"status": app.status, **detail}
    if app.access_code:
        detail["access_code"] = app.access_code
    if action in ("filing.province_approve", "filing.rotate_secret"):
        detail["secret_version"] = app.secret_version
    audit(session, action, actor_type=actor_type, actor_id="" if actor_id is None else actor_id,
          target_type="filed_app", target_id=app.id, detail=detail)
    log_event(action, filed_app_id=app.id, status=app.status)

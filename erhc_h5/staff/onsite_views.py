"""The operator's on-site console: find a resident's code, check the document, confirm; register without a phone."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from erhc_h5.db import get_session, writes_on_get
from erhc_h5.extensions import limiter
from erhc_h5.filing.models import FiledApp
from erhc_h5.records.versions import RecordInvalid
from erhc_h5.resident import onsite
from erhc_h5.records.fields import apply_violations, choices, county_choices
from erhc_h5.resident.forms import OnsiteConfirmForm, OnsiteFindForm, OnsiteRegisterForm
from erhc_h5.security.masking import mask_name
from erhc_h5.staff.auth import role_required

bp = Blueprint("onsite", __name__, url_prefix="/staff/onsite")
POST_LIMIT = "60 per minute"


@bp.route("/", methods=["GET", "POST"])
@limiter.limit(POST_LIMIT, methods=["POST"])
@role_required("operator")
def home():
    form = OnsiteFindForm()
    if form.validate_on_submit():
        vs = onsite.find_pending(get_session(), form.code.data)
        if vs is not None:
            return redirect(url_for(".review", code=vs.onsite_code))
        form.code.errors = ["未找到待现场认证的记录:认证码不存在、已使用或已过期(有效期内请核对8位认证码)"]
    return render_template("staff/onsite/home.html", form=form)


@bp.route("/<code>", methods=["GET", "POST"])
@writes_on_get
@limiter.limit(POST_LIMIT, methods=["POST"])
@role_required("operator")
def review(code: str):
    """The registration in full beside a field for the number on the document in hand (opening it is
    audited; never cached); confirm passes only when that number is the registered one."""
    session = get_session()
    vs = onsite.find_pending(session, code)
    if vs is None:
        flash("该认证码已失效或已处理,请重新输入", "error")
        return redirect(url_for(".home"))
    form = OnsiteConfirmForm()
    if form.validate_on_submit():
        done = _decide(session, vs, form)
        if done is not None:
            return done
    elif request.method == "GET":
        onsite.opened(session, vs, current_user.id)
    page = render_template("staff/onsite/review.html", form=form, info=onsite.summary(vs), code=vs.onsite_code)
    return page, {"Cache-Control": "no-store"}


def _decide(session, vs, form: OnsiteConfirmForm):
    """Reject, or confirm after the typed document number matched; None to show the form again."""
    note = (form.note.data or "").strip()
    action = request.form.get("action", "confirm")
    if not note:
        form.note.errors.append("请填写核验备注(如核验的证件类型、核验情况)")
    elif action == "reject":
        try:
            onsite.reject(session, vs, current_user.id, note)
        except onsite.AlreadyHandled as exc:
            return _handled_elsewhere(exc)
        flash("已记录:人证不一致,本次认证未通过", "info")
        return redirect(url_for(".home"))
    elif not (form.document_number.data or "").strip():
        form.document_number.errors.append("请输入居民出示的证件原件上的证件号码")
    elif not form.document_checked.data:
        form.document_checked.errors.append("请核对证件原件后勾选")
    else:
        try:
            onsite.confirm(session, vs, current_user.id, note, form.document_number.data)
        except onsite.AlreadyHandled as exc:
            return _handled_elsewhere(exc)
        except onsite.DocumentMismatch as exc:  # its audit row is committed (onsite.confirm)
            form.document_number.errors.append(exc.message)
        except RecordInvalid as exc:
            form.form_errors.extend(v.message for v in exc.violations)
        else:
            flash("现场认证已确认,居民已完成实名认证", "info")
            return redirect(url_for(".home"))
    return None


def _handled_elsewhere(exc: onsite.AlreadyHandled):
    flash(exc.message, "error")
    return redirect(url_for(".home"))


def _approved_apps(session) -> list[FiledApp]:
    return list(session.scalars(select(FiledApp).where(FiledApp.status == "approved").order_by(FiledApp.id)))


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(POST_LIMIT, methods=["POST"])
@role_required("operator")
def register():
    session = get_session()
    apps = [a for a in _approved_apps(session) if a.can_launch]
    form = OnsiteRegisterForm()
    form.app.choices = choices((a.access_code, f"{a.app_name}({a.app_filing_no})") for a in apps)
    form.county_code.choices = county_choices(current_app.config["CD_SOURCE"])
    if form.validate_on_submit():
        app = next((a for a in apps if a.access_code == form.app.data), None)
        note = (form.note.data or "").strip()
        if app is None:
            form.app.errors.append("请选择已备案通过的应用")
        elif not note:
            form.note.errors.append("请填写核验备注(如核验的证件类型、核验情况)")
        else:
            try:
                card, violations = onsite.register_without_phone(session, app, request.form, current_user.id, note)
            except RecordInvalid as exc:
                card, violations = None, exc.violations
            if card is not None:
                flash(f"已完成现场登记:{mask_name(card.name)},认证方式:现场认证", "info")
                return redirect(url_for(".register"))
            apply_violations(form, violations)
    return render_template("staff/onsite/register.html", form=form, has_apps=bool(apps))

"""The sandbox province's filing pages (``/sandbox-province/filings``, sandbox mode only): the endpoint
cities deliver their 申请表 to, and the provincial reviewer's list, review and decision, which reach
the city by a signed call (``filing_books.notify_city``)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from erhc_h5.db import get_session, writing
from erhc_h5.extensions import csrf
from erhc_h5.logs import log_event
from erhc_h5.records.codes import AUTH_METHODS
from erhc_h5.sandbox import filing_books
from erhc_h5.sandbox.models import SandboxProvinceFiling
from erhc_h5.sandbox.province_books import Refusal, check_request
from erhc_h5.timefmt import beijing_now

bp = Blueprint("sandbox_filings", __name__, url_prefix="/sandbox-province/filings")
MAX_BODY = 65536


class ReviewForm(FlaskForm):
    outcome = RadioField("审批结果", choices=[SelectChoice("approved", "批准备案"),
                                                SelectChoice("rejected", "不予批准")], default="approved")
    app_filing_no = StringField("应用备案号")
    access_code = StringField("接入组件入网编码")
    opinion = TextAreaField("管理单位意见")


@bp.post("/applications")
@csrf.exempt
def receive():
    """A city's signed 申请表 → 200 ``{"result": "received", "application_id"}`` or 400/401/413."""
    if (request.content_length or 0) > MAX_BODY:
        return jsonify(error="too_large", message="请求内容过大"), 413
    body = request.get_data(cache=False)
    session = get_session()
    try:
        nonce = check_request(current_app.config, request.path, request.headers, body)
        row = filing_books.receive_application(session, filing_books.parse_application(body), nonce)
        session.commit()
    except Refusal as refusal:
        session.rollback()
        log_event("sandbox_province.filing_refused", error=refusal.error, status=refusal.status)
        return jsonify(refusal.as_reply()), refusal.status
    log_event("sandbox_province.filing_received", application=row.id, city=row.cd_source)
    return jsonify(result="received", application_id=row.id)


@bp.get("/")
def index():
    """Every application received, newest first."""
    rows = get_session().scalars(select(SandboxProvinceFiling).order_by(SandboxProvinceFiling.id.desc())
                                 .limit(200)).all()
    return render_template("sandbox/filings.html", rows=rows)


def _load(application_id: int) -> SandboxProvinceFiling:
    row = get_session().get(SandboxProvinceFiling, application_id)
    if row is None:
        abort(404)
    return row


def _page(row: SandboxProvinceFiling, form: ReviewForm | None = None, status: int = 200):
    if form is None:
        filing_no, access_code = filing_books.suggested_numbers(get_session(), row, beijing_now().year)
        form = ReviewForm(formdata=None, data={"outcome": "approved", "app_filing_no": filing_no,
                                               "access_code": access_code, "opinion": "同意备案"})
    return render_template("sandbox/filing.html", row=row, form=form, methods=AUTH_METHODS), status


@bp.get("/<int:application_id>")
def detail(application_id: int):
    return _page(_load(application_id))


@bp.post("/<int:application_id>/decide")
def decide(application_id: int):
    """Record the reviewer's decision, then tell the city (a failed call can be sent again)."""
    row, form = _load(application_id), ReviewForm()
    if not form.validate_on_submit():
        flash("请求无效,请刷新后重试", "error")
        return _page(row, form, 422)
    session = get_session()
    try:
        filing_books.decide(session, row, approve=form.outcome.data == "approved",
                            app_filing_no=form.app_filing_no.data, access_code=form.access_code.data,
                            opinion=form.opinion.data, today=beijing_now().date())
    except filing_books.ReviewError as exc:
        session.rollback()
        getattr(form, exc.field).errors = [exc.message]
        return _page(_load(application_id), form, 422)
    session.commit()
    return _notify(row)


@bp.post("/<int:application_id>/notify")
def notify(application_id: int):
    row = _load(application_id)
    if row.status == "received" or not ReviewForm().validate_on_submit():
        abort(400)
    return _notify(row)


def _notify(row: SandboxProvinceFiling):
    """Tell the city, holding no transaction during the call (the city writes to its own database)."""
    session, application_id = get_session(), row.id
    notice = filing_books.prepare_notice(row, request.environ.get("SERVER_PORT", ""))
    session.rollback()
    reply = filing_books.send_notice(notice)
    with writing():
        row = _load(application_id)
        row.city_reply = reply
        session.commit()
    log_event("sandbox_province.filing_decided", application=application_id, outcome=row.status, city_reply=reply)
    if reply in ("recorded", "already_recorded"):
        flash("审批结果已送达城市平台", "info")
    else:
        flash(f"审批结果未能送达城市平台({reply}),可重新发送", "error")
    return redirect(url_for("sandbox_filings.detail", application_id=application_id))

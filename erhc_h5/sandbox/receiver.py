"""The sandbox provincial receiver (mounted in sandbox mode): upload endpoint, browsable books, faults."""
from __future__ import annotations

import json
import random
import socket
import threading
import time

from flask import Blueprint, Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from wtforms import BooleanField, FloatField, IntegerField, StringField
from wtforms.validators import Optional

from erhc_h5.security.inputs import InRange
from erhc_h5.db import get_session
from erhc_h5.extensions import csrf
from erhc_h5.logs import log_event
from erhc_h5.security.masking import mask_idcode, mask_name
from erhc_h5.sandbox.models import ProvinceRecord
from erhc_h5.sandbox.province_books import Refusal, check_request, parse_envelope, receive

bp = Blueprint("province", __name__, url_prefix="/sandbox-province")

FAULT_KEYS = ("error_rate", "latency_ms", "drop_connection", "garbled_reply", "stored_then_500", "status",
              "retry_after", "reject_field", "reject_every", "count")
_lock = threading.Lock()


def _parse_faults(raw) -> dict:
    if isinstance(raw, str):
        raw = json.loads(raw) if raw.strip() else {}
    return {k: v for k, v in dict(raw or {}).items() if k in FAULT_KEYS and v not in (None, "", False, 0)}


def current_faults(app=None) -> dict:
    """Faults in force: set at runtime (``set_faults``) or from SANDBOX_PROVINCE_FAULTS."""
    app = app or current_app
    state = app.extensions.get("province_faults")
    if state is None:
        state = app.extensions["province_faults"] = {"faults": _parse_faults(app.config["SANDBOX_PROVINCE_FAULTS"])}
    return state["faults"]


def set_faults(app, faults: dict | str | None) -> dict:
    """Replace the faults of this process (demos, tests); ``count`` limits how many requests they hit."""
    with _lock:
        app.extensions["province_faults"] = {"faults": _parse_faults(faults)}
    return app.extensions["province_faults"]["faults"]


def _take_faults() -> dict:
    """The faults for this request; a ``count`` budget is spent one request at a time."""
    with _lock:
        faults = dict(current_faults())
        if "count" in faults:
            remaining = int(faults["count"]) - 1
            current_app.extensions["province_faults"]["faults"] = (
                {**faults, "count": remaining} if remaining > 0 else {}
            )
    return faults


def _hit(value) -> bool:
    if value is True:
        return True
    try:
        return random.random() < float(value)
    except (TypeError, ValueError):
        return False


def _drop_connection() -> Response:
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    # Elsewhere: promise a body we never send, so the client sees a cut connection.
    return Response(b"", status=200, headers={"Content-Length": "1000", "Connection": "close"})


@bp.route("/erhc/v1/auth-records", methods=["POST"])
@csrf.exempt
def upload():
    """Receive one batch of 5.2.2 records."""
    faults = _take_faults()
    if faults.get("latency_ms"):
        time.sleep(float(faults["latency_ms"]) / 1000.0)
    if faults.get("drop_connection") and _hit(faults["drop_connection"]):
        return _drop_connection()
    if faults.get("status"):
        headers = {"Retry-After": str(faults["retry_after"])} if faults.get("retry_after") is not None else {}
        return jsonify(error="sandbox_fault", message="沙箱故障注入"), int(faults["status"]), headers
    if faults.get("error_rate") and _hit(faults["error_rate"]):
        return jsonify(error="sandbox_fault", message="沙箱故障注入"), 503
    body = request.get_data(cache=False)
    session = get_session()
    try:
        nonce = check_request(current_app.config, request.path, request.headers, body)
        envelope = parse_envelope(body)
        if faults.get("garbled_reply"):
            return Response(b"<html>\x00garbled{", status=200, mimetype="application/json")
        reply = receive(session, envelope, nonce, str(faults.get("reject_field") or ""),
                        int(faults.get("reject_every") or 1))
        session.commit()
    except Refusal as refusal:
        session.rollback()
        log_event("province.refused", error=refusal.error, status=refusal.status)
        return jsonify(refusal.as_reply()), refusal.status
    except IntegrityError:  # the same version arrived twice at once; the retry finds it held
        session.rollback()
        return jsonify(error="conflict", message="记录正在被并发写入,请稍后重试"), 503
    log_event("province.batch", cd_batch=reply["cd_batch"], accepted=len(reply["accepted"]),
              rejected=len(reply["rejected"]))
    if faults.get("stored_then_500"):
        return jsonify(error="sandbox_fault", message="已入库但返回500(沙箱故障注入)"), 500
    return jsonify(reply)


class FaultsForm(FlaskForm):
    """The fault-injection settings, for demos."""

    error_rate = FloatField("随机失败比例(0–1)", validators=[Optional(), InRange(0, 1)])
    latency_ms = IntegerField("延迟(毫秒)", validators=[Optional(), InRange(0, 120000)])
    status = IntegerField("固定返回状态码(如429、503、401)", validators=[Optional(), InRange(200, 599)])
    retry_after = IntegerField("Retry-After(秒)", validators=[Optional(), InRange(0, 3600)])
    drop_connection = BooleanField("断开连接")
    garbled_reply = BooleanField("返回乱码")
    stored_then_500 = BooleanField("入库后返回500")
    reject_field = StringField("拒收字段(如phone)", validators=[Optional()])
    count = IntegerField("只影响接下来的请求数", validators=[Optional(), InRange(1, 100000)])


@bp.route("/", methods=["GET"])
def index():
    """The records the sandbox province holds, newest first, masked."""
    session = get_session()
    total = session.scalar(select(func.count()).select_from(ProvinceRecord))
    batches = session.scalar(select(func.count(func.distinct(ProvinceRecord.cd_batch))))
    rows = session.scalars(select(ProvinceRecord).order_by(ProvinceRecord.id.desc()).limit(100)).all()
    shown = [
        {
            "cd_batch": r.cd_batch, "cd_time": r.cd_time, "cd_operation": r.cd_operation,
            "name": mask_name(r.payload.get("name")), "idcode": mask_idcode(r.payload.get("idcode")),
            "recognize_flag": r.payload.get("recognize_flag"),
            "authentication_method": r.payload.get("authentication_method") or "",
        }
        for r in rows
    ]
    form = FaultsForm(data=current_faults())
    return render_template("sync/province.html", rows=shown, total=total, batches=batches, form=form,
                           faults=current_faults())


@bp.route("/faults", methods=["POST"])
def faults():
    """Change the fault injection of this receiver process (sandbox only)."""
    form = FaultsForm()
    if not form.validate_on_submit():
        flash("故障设置无效,请检查输入", "error")
        return redirect(url_for("province.index"))
    chosen = set_faults(current_app, {k: form.data.get(k) for k in FAULT_KEYS if k in form.data})
    log_event("province.faults", keys=sorted(chosen))
    flash("故障设置已更新" if chosen else "已清除全部故障", "info")
    return redirect(url_for("province.index"))

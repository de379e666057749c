"""Views of the ops domain: health, readiness, the dashboard, status JSON, Prometheus metrics, requeue."""
from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from wtforms import IntegerField
from wtforms.validators import Optional

from erhc_h5.config import environment
from erhc_h5.security.inputs import InRange
from erhc_h5.db import get_session
from erhc_h5.ops import charts, metrics, services
from erhc_h5.ops.status import get_status
from erhc_h5.records.codes import method_label
from erhc_h5.staff.auth import role_required

bp = Blueprint("ops", __name__)
bp.record_once(lambda state: metrics.init_app(state.app))
bp.before_app_request(metrics.before_request)
bp.after_app_request(metrics.after_request)


class RequeueForm(FlaskForm):
    entry_id = IntegerField(validators=[Optional(), InRange(1, 2**31 - 1)])  # a database integer


@bp.route("/healthz")
def healthz():
    """Liveness: the process answers (no database access)."""
    return {"status": "ok"}


@bp.route("/readyz")
def readyz():
    """Readiness of each dependency. The database (reachable, schema at the newest migration, and a
    committed write within 2 s: a full disk or a read-only database is not ready) decides: 503 without it. A limiter store that is down leaves the app serving with limits kept in process
    memory: 200 with status ``degraded``, so every instance is not taken out of rotation at once."""
    from erhc_h5.extensions import limiter_store_state
    from erhc_h5.migrate import at_head

    checks = {"database": "ok", "migrations": "ok"}
    try:
        get_session().execute(text("SELECT 1"))
    except SQLAlchemyError:
        checks["database"] = "unavailable"
    try:
        if checks["database"] != "ok" or not at_head(current_app):
            checks["migrations"] = "behind" if checks["database"] == "ok" else "unknown"
    except SQLAlchemyError:
        checks["migrations"] = "unknown"
    if checks["migrations"] == "ok":  # a schema at head can take the probe's write
        checks["database"] = services.probe_write(get_session())
    checks["limiter_store"] = limiter_store_state(current_app)
    ready = checks["database"] == "ok" and checks["migrations"] == "ok"
    status = ("degraded" if checks["limiter_store"] == "unavailable" else "ready") if ready else "not_ready"
    response = jsonify(status=status, checks=checks)
    response.status_code = 200 if ready else 503
    if not ready:
        response.headers["Retry-After"] = str(int(current_app.config["DATABASE_RETRY_AFTER_SECONDS"]))
    return response


def _bearer_ok() -> bool:
    token = str(current_app.config.get("OPS_TOKEN") or "")
    given = request.headers.get("Authorization", "")
    return bool(token) and given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip(), token)


def _ops_user() -> bool:
    return current_user.is_authenticated and current_user.role in ("ops", "admin")


def _status() -> dict:
    """The ops figures, with whether the database takes a write now (the readiness probe's write)."""
    session = get_session()
    return get_status(session, database=services.probe_write(session))


@bp.route("/ops/status.json")
def status_json():
    """The figures as JSON: an ops/admin sign-in, or ``Authorization: Bearer $ERHC_OPS_TOKEN``."""
    if not (_bearer_ok() or _ops_user()):
        if current_user.is_authenticated:
            return jsonify(error="forbidden", message="您没有权限访问此页面"), 403
        return jsonify(error="unauthorized", message="请先登录或提供有效的运维令牌"), 401
    return jsonify(_status() | {"environment": environment(current_app.config)})


@bp.route("/metrics")
def prometheus():
    """Prometheus text; open unless ERHC_OPS_TOKEN is set, then the bearer token (or an ops sign-in)."""
    if not current_app.config["METRICS_ENABLED"]:
        abort(404)
    if current_app.config.get("OPS_TOKEN") and not (_bearer_ok() or _ops_user()):
        return Response("unauthorized\n", status=401, mimetype="text/plain")
    body = metrics.render(current_app, _status())
    return Response(body, content_type=metrics.CONTENT_TYPE)


@bp.route("/ops")
@role_required("ops")
def dashboard():
    status = _status()
    return render_template("ops/dashboard.html", s=status, environment=environment(current_app.config),
                           hourly=charts.hourly_bars(status["sync"]["hours"]),
                           reasons=charts.reason_bars(status["sync"]["failures_by_reason"]), form=RequeueForm(),
                           method_label=method_label)


@bp.route("/ops/requeue", methods=["POST"])
@role_required("ops")
def requeue():
    """Requeue one rejected version (entry_id) or every rejected and dead one."""
    form = RequeueForm()
    if not form.validate_on_submit():
        flash("请求无效,请刷新页面后重试", "error")
        return redirect(url_for("ops.dashboard"))
    count = services.requeue(get_session(), form.entry_id.data, staff_id=current_user.id)
    flash(f"已重新排队 {count} 条记录版本" if count else "没有可重新排队的记录(被驳回的记录请先更正居民信息)", "info")
    return redirect(url_for("ops.dashboard"))

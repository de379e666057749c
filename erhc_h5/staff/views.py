"""Staff sign-in, sign-out and the console home."""
from __future__ import annotations

import math
import time

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_login import current_user, login_required, login_user, logout_user

from erhc_h5.db import get_session, utcnow
from erhc_h5.extensions import limiter
from erhc_h5.security.redirects import safe_next
from erhc_h5.staff import auth  # noqa: F401  (registers the user loader)
from erhc_h5.staff.forms import LoginForm, PasswordChangeForm
from erhc_h5.staff.models import StaffUser
from erhc_h5.staff.services import StaffError, sign_in, sign_out
from erhc_h5.staff.services import change_password as change_password_of
from erhc_h5.timefmt import fmt
from erhc_h5.text import ascii_digits

bp = Blueprint("staff", __name__, url_prefix="/staff")
PENDING, PENDING_SECONDS = "staff_password_change", 600

# What each role finds on the console home: (endpoint, label, roles); admin sees every link.
CONSOLE_LINKS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("filing.index", "应用备案", ("reviewer",)),
    ("onsite.home", "现场认证", ("operator",)),
    ("onsite.register", "无手机居民现场登记", ("operator",)),
    ("cards.find", "注销电子健康码", ("operator",)),
    ("scan.console", "扫码核验", ("nurse",)),
    ("ops.dashboard", "运行监控", ("ops",)),
    ("admin.users", "工作人员管理", ("admin",)),
    ("admin.devices", "扫码设备管理", ("admin",)),
    ("admin.audit_log", "审计日志", ("admin",)),
)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute; 50 per hour", methods=["POST"])
def login():
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("staff/login.html", form=form)
    outcome = sign_in(get_session(), form.username.data, form.password.data)
    if outcome.backing_off:
        return _backing_off(form, outcome.retry_at)
    if outcome.user is None:
        form.password.errors.append("用户名或密码不正确")
        return render_template("staff/login.html", form=form)
    if outcome.must_change:
        # Not signed in: only the change page knows this browser, for a few minutes.
        flask_session[PENDING] = {"user": outcome.user.get_id(), "at": int(time.time())}
        return redirect(url_for("staff.change_password"))
    login_user(outcome.user)
    return redirect(safe_next(request.args.get("next"), url_for("staff.home")))


def _backing_off(form: LoginForm, retry_at):
    """429: a backoff is running (until ``retry_at``), or (None) the account's attempts are all in flight."""
    if retry_at is None:
        seconds, message = 2, "该账号同时有多个登录请求正在处理或登录失败次数过多,请稍候几秒再试。"
    else:
        seconds = max(1, math.ceil((retry_at - utcnow()).total_seconds()))
        message = (f"该账号登录失败次数过多,已暂停登录,请于北京时间{fmt(retry_at, '%H:%M')}后再试。"
                   "如忘记密码,请联系管理员重置。")
    form.password.errors.append(message)
    response = make_response(render_template("staff/login.html", form=form), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.route("/password", methods=["GET", "POST"])
def change_password():
    """The forced change after an admin-chosen or reset password; the only page open to such a sign-in."""
    session, pending = get_session(), flask_session.get(PENDING) or {}
    user = _pending_user(session, pending)
    if user is None:
        flask_session.pop(PENDING, None)
        flash("请先使用临时密码登录", "info")
        return redirect(url_for("staff.login"))
    form, status = PasswordChangeForm(), 200
    if form.validate_on_submit():
        if form.new_password.data != form.confirm.data:
            form.confirm.errors.append("两次输入的新密码不一致")
            return render_template("staff/password_change.html", form=form), 422
        try:
            change_password_of(session, user, form.new_password.data)
        except StaffError as exc:
            form.new_password.errors.append(str(exc))
            return render_template("staff/password_change.html", form=form), 422
        flask_session.pop(PENDING, None)
        login_user(user)
        flash("新密码已设置", "info")
        return redirect(url_for("staff.home"))
    if request.method == "POST":
        status = 422
    return render_template("staff/password_change.html", form=form), status


def _pending_user(session, pending: dict) -> StaffUser | None:
    """The user a temporary-password sign-in left in this browser, while it is recent and still current."""
    key, _, version = str(pending.get("user") or "").partition(":")
    at = pending.get("at")
    if not (ascii_digits(key) and ascii_digits(version) and isinstance(at, int)) or time.time() - at > PENDING_SECONDS:
        return None
    user = session.get(StaffUser, int(key))
    if user is None or not user.active or not user.must_change_password or user.session_version != int(version):
        return None
    return user


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    sign_out(get_session(), current_user.id)
    logout_user()
    flash("已安全退出", "info")
    return redirect(url_for("staff.login"))


@bp.route("/")
@login_required
def home():
    links = [(ep, label) for ep, label, roles in CONSOLE_LINKS
             if current_user.role in roles or current_user.role == "admin"]
    return render_template("staff/home.html", links=links)

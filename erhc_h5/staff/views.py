"""Staff sign-in, sign-out and the console home."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from erhc_h5.audit import audit
from erhc_h5.db import get_session, utcnow
from erhc_h5.extensions import limiter
from erhc_h5.security.redirects import safe_next
from erhc_h5.staff import auth  # noqa: F401  (registers the user loader)
from erhc_h5.staff.forms import LoginForm
from erhc_h5.staff.models import StaffUser
from erhc_h5.staff.services import authenticate

bp = Blueprint("staff", __name__, url_prefix="/staff")

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
    if form.validate_on_submit():
        session = get_session()
        user = authenticate(session, form.username.data, form.password.data)
        if user is None:
            audit(session, "staff.login_failed", actor_type="system", detail={})
            session.commit()
            form.password.errors.append("用户名或密码不正确")
        else:
            user.last_login_at = utcnow()
            audit(session, "staff.login", actor_type="staff", actor_id=user.id)
            session.commit()
            login_user(user)
            return redirect(safe_next(request.args.get("next"), url_for("staff.home")))
    return render_template("staff/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    session = get_session()
    user = session.get(StaffUser, current_user.id)
    if user is not None:
        user.end_sessions()  # a copy of this cookie elsewhere must not outlive the sign-out
    audit(session, "staff.logout", actor_type="staff", actor_id=current_user.id)
    session.commit()
    logout_user()
    flash("已安全退出", "info")
    return redirect(url_for("staff.login"))


@bp.route("/")
@login_required
def home():
    links = [(ep, label) for ep, label, roles in CONSOLE_LINKS
             if current_user.role in roles or current_user.role == "admin"]
    return render_template("staff/home.html", links=links)

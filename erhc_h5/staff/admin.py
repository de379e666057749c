"""Administration pages (admin role): staff users, scan devices and the audit log viewer."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from erhc_h5.audit import audit
from erhc_h5.db import get_session
from erhc_h5.staff import accounts
from erhc_h5.staff.auth import role_required
from erhc_h5.staff.models import ROLES
from erhc_h5.staff.services import StaffError, create_user
from erhc_h5.text import ascii_digits

bp = Blueprint("admin", __name__, url_prefix="/staff/admin")
ROLE_CHOICES = [SelectChoice(key, label) for key, label in ROLES.items()]


class UserForm(FlaskForm):
    username = StringField("用户名", validators=[Length(max=64)])
    display_name = StringField("姓名(显示名)", validators=[Length(max=64)])
    role = SelectField("角色", choices=ROLE_CHOICES)
    site_name = StringField("所在接种点(可选)", validators=[Length(max=100)])
    password = PasswordField("初始密码(至少10位,不含用户名,不能是常见密码;本人首次登录时须修改)",
                             validators=[Length(max=128, message="密码不能超过128位")])


class RoleForm(FlaskForm):
    role = SelectField("角色", choices=ROLE_CHOICES)


class DeviceForm(FlaskForm):
    name = StringField("设备名称", validators=[Length(max=100, message="设备名称不超过100个字")])
    site_name = StringField("接种点名称", validators=[Length(max=100, message="接种点名称不超过100个字")])


class ActionForm(FlaskForm):
    """A bare POST carrying only the CSRF token."""


@bp.route("/")
@role_required("admin")
def index():
    return redirect(url_for("admin.users"))


@bp.route("/users", methods=["GET", "POST"])
@role_required("admin")
def users():
    session, form = get_session(), UserForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = create_user(session, form.username.data or "", form.password.data or "", form.role.data,
                               display_name=(form.display_name.data or "").strip(),
                               site_name=(form.site_name.data or "").strip(), actor_id=str(current_user.id))
        except StaffError as exc:
            session.rollback()
            field = form.password if exc.reason.startswith("password") else form.username
            field.errors = [str(exc)]
            status = 422
        else:
            session.commit()
            flash(f"已创建工作人员账号 {user.username}", "info")
            return redirect(url_for("admin.users"))
    elif request.method == "POST":
        status = 422
    return render_template("staff/admin/users.html", form=form, users=accounts.list_users(session),
                           role_form=RoleForm(), action_form=ActionForm(), roles=ROLES), status


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@role_required("admin")
def user_role(user_id: int):
    form = RoleForm()
    if form.validate_on_submit():
        _apply(lambda s: accounts.change_role(s, user_id, form.role.data, actor_id=current_user.id), "角色已修改")
    else:
        flash("未知的角色", "error")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/<any(deactivate, activate):what>", methods=["POST"])
@role_required("admin")
def user_active(user_id: int, what: str):
    if ActionForm().validate_on_submit():
        _apply(lambda s: accounts.set_active(s, user_id, what == "activate", actor_id=current_user.id),
               "账号已启用" if what == "activate" else "账号已停用")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@role_required("admin")
def user_password(user_id: int):
    if not ActionForm().validate_on_submit():
        return redirect(url_for("admin.users"))
    session = get_session()
    try:
        user, password = accounts.reset_password(session, user_id, actor_id=current_user.id)
    except StaffError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.users"))
    session.commit()
    return render_template("staff/admin/shown_once.html", title="密码已重置", what=f"{user.username} 的新密码",
                           value=password, back=url_for("admin.users"))


def _apply(change, done: str) -> None:
    session = get_session()
    try:
        change(session)
    except StaffError as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        session.commit()
        flash(done, "info")


@bp.route("/devices", methods=["GET", "POST"])
@role_required("admin")
def devices():
    from erhc_h5.scan.devices import DeviceError, enrol_device, list_devices

    session, form = get_session(), DeviceForm()
    status = 200
    if form.validate_on_submit():
        try:
            device, token = enrol_device(session, form.name.data or "", form.site_name.data or "")
        except DeviceError as exc:
            session.rollback()
            form.name.errors = [str(exc)]
            status = 422
        else:
            audit(session, "admin.device_enrol", actor_type="staff", actor_id=current_user.id,
                  target_type="scan_device", target_id=device.id, detail={"token_hint": device.token_hint})
            session.commit()
            return render_template("staff/admin/shown_once.html", title="扫码设备已登记",
                                   what=f"“{device.name}”({device.site_name or '未指定接种点'})的设备令牌",
                                   value=token, back=url_for("admin.devices"))
    elif request.method == "POST":
        status = 422
    return render_template("staff/admin/devices.html", form=form, devices=list_devices(session),
                           action_form=ActionForm()), status


@bp.route("/devices/<int:device_id>/revoke", methods=["POST"])
@role_required("admin")
def device_revoke(device_id: int):
    from erhc_h5.scan.devices import DeviceError, revoke_device

    if ActionForm().validate_on_submit():
        session = get_session()
        try:
            device = revoke_device(session, device_id)
        except DeviceError as exc:
            session.rollback()
            flash(str(exc), "error")
        else:
            audit(session, "admin.device_revoke", actor_type="staff", actor_id=current_user.id,
                  target_type="scan_device", target_id=device.id)
            session.commit()
            flash(f"已吊销设备“{device.name}”,其令牌立即失效", "info")
    return redirect(url_for("admin.devices"))


@bp.route("/audit")
@role_required("admin")
def audit_log():
    from erhc_h5.ops.auditlog import AuditQueryError, known_actions, search

    session, args = get_session(), request.args
    filters = {k: (args.get(k) or "").strip()[:64] for k in ("action", "actor", "date_from", "date_to")}
    page, error = request.args.get("page", "1"), None
    try:
        result = search(session, action=filters["action"], actor=filters["actor"],
                        date_from=filters["date_from"] or None, date_to=filters["date_to"] or None,
                        page=int(page) if ascii_digits(page) else 1)
    except AuditQueryError as exc:
        result, error = search(session, action=filters["action"], actor=filters["actor"]), str(exc)
    return render_template("staff/admin/audit.html", result=result, filters=filters, error=error,
                           actions=known_actions(session)), 422 if error else 200

"""Staff pages of the 备案 registry: application form, screenshots, review, the province's decision,
secret, print view."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from erhc_h5.db import get_session
from erhc_h5.filing import console, decisions, services, uploads
from erhc_h5.filing.forms import ActionForm, DecisionForm, FilingForm, ReviewForm, ScreenForm
from erhc_h5.filing.models import FILING_STATES, FiledApp, FilingDecision
from erhc_h5.records.codes import AUTH_METHODS
from erhc_h5.staff.auth import role_required

bp = Blueprint("filing", __name__)
REVIEWER = ("reviewer",)


def _load(app_id: int) -> FiledApp:
    app = get_session().get(FiledApp, app_id)
    if app is None:
        abort(404)
    return app


def _show_error(form, exc: services.FilingError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*list(field.errors or []), str(exc)]
    else:
        flash(str(exc), "error")


def _save(form, write, done: str):
    """A submitted, valid application form written by ``write`` (the saved application): the detail
    page with ``done``; None (the form again, with the refusal beside its field) otherwise."""
    if not form.validate_on_submit():
        return None
    try:
        app = write(form.values())
    except services.FilingError as exc:
        _show_error(form, exc)
        return None
    flash(done, "info")
    return redirect(url_for("filing.detail", app_id=app.id))


@bp.route("/staff/filing/")
@role_required(*REVIEWER)
def index():
    status = request.args.get("status") or None
    apps = services.list_applications(get_session(), status)
    return render_template("filing/list.html", apps=apps, states=FILING_STATES, status=status)


@bp.route("/staff/filing/new", methods=["GET", "POST"])
@role_required(*REVIEWER)
def create():
    form = FilingForm()
    saved = _save(form, lambda values: console.create(get_session(), values, actor_id=current_user.id),
                  "备案申请草稿已保存,请上传实名认证界面设计截图后提交审核")
    return saved or (render_template("filing/form.html", form=form, app=None), 200 if request.method == "GET" else 422)


@bp.route("/staff/filing/<int:app_id>/edit", methods=["GET", "POST"])
@role_required(*REVIEWER)
def edit(app_id: int):
    app = _load(app_id)
    if app.status not in services.EDITABLE_STATES:
        flash(f"“{app.status_label}”状态的申请不能修改", "error")
        return redirect(url_for("filing.detail", app_id=app.id))
    form = FilingForm(obj=None if request.method == "POST" else app)
    if request.method == "GET":
        form.auth_methods.data = [m for m in (app.auth_methods or "").split("^") if m]
    saved = _save(form, lambda values: console.update(get_session(), app, values, actor_id=current_user.id),
                  "备案申请已保存")
    return saved or (render_template("filing/form.html", form=form, app=app), 200 if request.method == "GET" else 422)


def _detail_page(app: FiledApp, **overrides):
    forms = {"screen_form": ScreenForm(), "review_form": ReviewForm(), "action_form": ActionForm(),
             "decision_form": DecisionForm(formdata=None)}
    return render_template("filing/detail.html", app=app, methods=AUTH_METHODS,
                           decision=decisions.latest_decision(get_session(), app), **{**forms, **overrides})


@bp.route("/staff/filing/<int:app_id>")
@role_required(*REVIEWER)
def detail(app_id: int):
    return _detail_page(_load(app_id))


@bp.route("/staff/filing/<int:app_id>/screens", methods=["POST"])
@role_required(*REVIEWER)
def upload_screen(app_id: int):
    app = _load(app_id)
    form = ScreenForm()
    if form.validate_on_submit():
        upload = form.screen.data
        try:
            data = upload.read(int(_cfg("UPLOAD_MAX_BYTES")) + 1) if upload else b""
            console.add_screen(get_session(), app, data, actor_id=current_user.id)
        except services.FilingError as exc:
            flash(str(exc), "error")
            return _detail_page(_load(app_id), screen_form=form, upload_error=str(exc)), 422
        flash("截图已上传", "info")
    return redirect(url_for("filing.detail", app_id=app.id))


@bp.route("/staff/filing/<int:app_id>/screens/<name>/delete", methods=["POST"])
@role_required(*REVIEWER)
def delete_screen(app_id: int, name: str):
    app = _load(app_id)
    if ActionForm().validate_on_submit():
        try:
            console.remove_screen(get_session(), app, name, actor_id=current_user.id)
        except services.FilingError as exc:
            flash(str(exc), "error")
        else:
            flash("截图已删除", "info")
    return redirect(url_for("filing.detail", app_id=app.id))


@bp.route("/staff/filing/<int:app_id>/screens/<name>")
@role_required(*REVIEWER)
def screen(app_id: int, name: str):
    path = uploads.screen_path(_load(app_id), name)
    if path is None:
        abort(404)
    # small files (UPLOAD_MAX_BYTES): read whole, no open handle outlives the request
    return Response(path.read_bytes(), mimetype=uploads.MIMETYPES[path.suffix],
                    headers={"Cache-Control": "private, no-store"})


@bp.route("/staff/filing/<int:app_id>/<any(submit, approve, reject, suspend, reinstate):action>",
          methods=["POST"])
@role_required(*REVIEWER)
def act(app_id: int, action: str):
    app = _load(app_id)
    form = ReviewForm()
    if not form.validate_on_submit():
        flash(form.review_opinion.errors[0] if form.review_opinion.errors else "请求无效,请重试", "error")
        return redirect(url_for("filing.detail", app_id=app.id))
    try:
        secret = console.transition(get_session(), app, action, actor_id=current_user.id,
                                    opinion=form.review_opinion.data or "")
    except services.FilingError as exc:
        flash(str(exc), "error")
        return redirect(url_for("filing.detail", app_id=app_id))
    if secret:
        return render_template("filing/secret.html", app=app, secret=secret, first=True)
    flash(f"已{services.ACTION_LABELS[action]}:{app.app_name}", "info")
    return redirect(url_for("filing.detail", app_id=app.id))


@bp.route("/staff/filing/<int:app_id>/rotate", methods=["POST"])
@role_required(*REVIEWER)
def rotate(app_id: int):
    app = _load(app_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        secret = console.rotate_secret(get_session(), app, actor_id=current_user.id)
    except services.FilingError as exc:
        flash(str(exc), "error")
        return redirect(url_for("filing.detail", app_id=app_id))
    return render_template("filing/secret.html", app=app, secret=secret, first=False)


@bp.route("/staff/filing/<int:app_id>/decision", methods=["POST"])
@role_required(*REVIEWER)
def decide(app_id: int):
    """Record the province's decision from the stamped 申请表; an approval shows the launch secret once."""
    app = _load(app_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _detail_page(app, decision_form=form), 422
    session = get_session()
    upload = form.stamped_form.data
    given = decisions.DecisionInput(
        outcome=form.outcome.data or "", opinion=form.opinion.data or "", decided_on=form.decided_on.data or "",
        app_filing_no=form.app_filing_no.data or "", access_code=form.access_code.data or "",
        form_data=upload.read(int(_cfg("UPLOAD_MAX_BYTES")) + 1) if upload else None)
    try:
        secret = decisions.record_from_console(session, app, given, actor_id=current_user.id)
    except services.FilingError as exc:
        _show_error(form, exc)
        return _detail_page(_load(app_id), decision_form=form), 422
    if secret:
        return render_template("filing/secret.html", app=app, secret=secret, first=True)
    flash(f"已登记省级审批结果(不予通过):{app.app_name}", "info")
    return redirect(url_for("filing.detail", app_id=app.id))


@bp.route("/staff/filing/<int:app_id>/decisions/<int:decision_id>/form")
@role_required(*REVIEWER)
def stamped_form(app_id: int, decision_id: int):
    decision = get_session().get(FilingDecision, decision_id)
    path = uploads.stamped_form_path(decision.form_file) if decision and decision.app_id == app_id else None
    if path is None:
        abort(404)
    return Response(path.read_bytes(), mimetype=uploads.MIMETYPES[path.suffix],
                    headers={"Cache-Control": "private, no-store",
                             "Content-Disposition": f"attachment; filename=stamped-form-{app_id}{path.suffix}"})


@bp.route("/staff/filing/<int:app_id>/print")
@role_required(*REVIEWER)
def print_view(app_id: int):
    return render_template("filing/print.html", app=_load(app_id), methods=AUTH_METHODS)


def _cfg(key: str):
    from flask import current_app

    return current_app.config[key]

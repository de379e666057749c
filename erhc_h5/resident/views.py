"""Resident pages: launch, service choice, consent, identity, profile, methods, status, a11y, environment check."""
from __future__ import annotations

import re
import secrets

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from erhc_h5.sandbox import demo
from erhc_h5.code.service import card_of
from erhc_h5.db import get_session, writes_on_get
from erhc_h5.extensions import limiter
from erhc_h5.filing.models import FiledApp
from erhc_h5.logs import log_event
from erhc_h5.records.codes import ID_CARD_TYPES, AuthMethod, method_label
from erhc_h5.resident import launch as launching
from erhc_h5 import helpdesk
from erhc_h5.resident import limits, presence
from erhc_h5.resident import session as resident_session
from erhc_h5.resident import verification
from erhc_h5.records.fields import apply_violations, county_choices, shown
from erhc_h5.resident.forms import ConsentForm, IdentityForm, LaunchConfirmForm, ProfileForm
from erhc_h5.resident.journey import CODE_FACE, journey_required, resident_required
from erhc_h5.cards.models import AppUser
from erhc_h5.resident.models import VerificationSession
from erhc_h5.resident.states import ENDED_WITHOUT_PASS, VerificationState
from erhc_h5.resident.verify_views import bp as verify_bp
from erhc_h5.security.masking import mask_idcode, mask_name
from erhc_h5.security.redirects import safe_next

bp = Blueprint("resident", __name__)
bp.register_blueprint(verify_bp)

POST_LIMIT = "30 per minute; 300 per hour"
DEMO_UID_COOKIE = "erhc_demo_uid"
_DEMO_UID = re.compile(r"^demo-[0-9a-f]{16}$")


@bp.route("/")
def index():
    """Sandbox: a demo launch of the demo app for this browser. Production: enter from the city app."""
    if not current_app.config["SANDBOX"]:
        return render_template("resident/enter_from_app.html", reason="enter_from_app")
    user = resident_session.current_app_user()
    if user is not None:
        return redirect(url_for("resident.service"))
    app = demo.sandbox_app(current_app, get_session())
    uid = request.cookies.get(DEMO_UID_COOKIE, "")
    if not _DEMO_UID.match(uid):
        uid = "demo-" + secrets.token_hex(8)
    response = redirect(launching.make_launch_url(app, uid, app.launch_secret))
    response.set_cookie(DEMO_UID_COOKIE, uid, max_age=365 * 86400, httponly=True, samesite="Lax",
                        secure=current_app.config["PRODUCTION_CHECKS"])
    return response


@bp.route("/h5/launch")
@writes_on_get
@limiter.limit("60 per minute")
def launch():
    """Verify the ticket and bind this browser; a cross-site navigation is refused (the session
    kept), and replacing another account's session waits for the person's go-ahead."""
    if presence.cross_site(request):
        log_event("resident.launch_refused", reason="cross_site")
        return _launch_error(launching.LaunchError("cross_site"))
    try:
        result = launching.enter(get_session(), request.args,
                                 max_skew=int(current_app.config["LAUNCH_MAX_SKEW_SECONDS"]))
    except launching.LaunchError as exc:
        return _launch_error(exc)
    if result.held:
        presence.hold(result.app_user.id, result.app.id, result.hint)
        return redirect(url_for("resident.launch_confirm"))
    return redirect(url_for("resident.service"))


def _launch_error(exc: launching.LaunchError):
    return render_template("resident/launch_error.html", reason=exc.reason, message=exc.message), exc.status


@bp.route("/h5/launch/confirm", methods=["GET", "POST"])
@limiter.limit(POST_LIMIT, methods=["POST"])
def launch_confirm():
    """Switch this browser to the held launch's account, only on the person's POST (CSRF token)."""
    held = presence.held()
    if held is None:
        presence.drop()
        return redirect(url_for("resident.service"))
    form = LaunchConfirmForm()
    session = get_session()
    if form.validate_on_submit():
        user = session.get(AppUser, held["app_user"])
        if request.form.get("action") != "switch" or user is None or user.app_id != held["app"]:
            presence.drop()
            return redirect(url_for("resident.service"))
        resident_session.start(session, user)
        return redirect(url_for("resident.service"))
    app = session.get(FiledApp, held["app"])
    return render_template("resident/launch_confirm.html", form=form, hint=held.get("hint") or "",
                           app_name=app.app_name if app else "")


@bp.route("/h5/service")
@resident_required
def service():
    user = g.app_user
    card = user.card
    pending = get_session().scalar(
        select(VerificationSession).where(VerificationSession.app_user_id == user.id,
                                          VerificationSession.state == VerificationState.PENDING_ONSITE)
        .order_by(VerificationSession.created_at.desc()).limit(1))
    return render_template("resident/service.html", app=user.app, card=card, pending=pending, code_face=CODE_FACE,
                           method_label=method_label)


@bp.route("/h5/consent", methods=["GET", "POST"])
@limiter.limit(POST_LIMIT, methods=["POST"])
@resident_required
def consent():
    form = ConsentForm()
    version = current_app.config["CONSENT_VERSION"]
    if form.validate_on_submit():
        if not form.agree.data:
            form.agree.errors = ["请阅读并勾选同意后继续;不同意将无法进行实名认证"]
        else:
            vs = verification.start(get_session(), g.app_user, version, request.remote_addr)
            resident_session.set_consent(version)
            resident_session.set_verification(vs.id)
            return redirect(url_for("resident.identity"))
    return render_template("resident/consent.html", form=form, version=version)


@bp.route("/h5/identity", methods=["GET", "POST"])
@limiter.limit(POST_LIMIT, methods=["POST"])
@journey_required(VerificationState.CREATED, VerificationState.IN_PROGRESS)
def identity():
    vs = g.vs
    form = IdentityForm(data=verification.data(vs) if request.method == "GET" else None)
    if form.validate_on_submit():
        violations, lock = verification.set_identity(get_session(), vs, request.form)
        if lock is not None:
            return redirect(url_for("resident.status"))
        if not violations:
            return redirect(url_for("resident.profile"))
        apply_violations(form, violations)
    return render_template("resident/identity.html", form=form, step=1)


@bp.route("/h5/profile", methods=["GET", "POST"])
@limiter.limit(POST_LIMIT, methods=["POST"])
@journey_required(VerificationState.IN_PROGRESS)
def profile():
    vs = g.vs
    if not verification.draft(vs).identity_done:
        return redirect(url_for("resident.identity"))
    form = ProfileForm(data=shown(verification.data(vs)) if request.method == "GET" else None)
    form.county_code.choices = county_choices(current_app.config["CD_SOURCE"])
    asks = verification.asks_sex_and_birthday(vs)
    if form.validate_on_submit():
        violations = verification.set_profile(get_session(), vs, request.form)
        if not violations:
            return redirect(url_for("resident.methods"))
        apply_violations(form, violations)
    return render_template("resident/profile.html", form=form, asks_sex_birthday=asks, step=2)


@bp.route("/h5/methods")
@journey_required(VerificationState.IN_PROGRESS)
def methods():
    vs = g.vs
    if not verification.ready_for_check(vs):
        return redirect(url_for("resident.profile" if verification.draft(vs).identity_done else "resident.identity"))
    values = verification.data(vs)
    offered = set((g.app_user.app.auth_methods or "").split("^"))
    if verification.app_refusal(get_session(), vs, AuthMethod.ONSITE) == verification.OutcomeKind.APP_SUSPENDED:
        offered = set()
    who = {"name": mask_name(values["name"]), "idcode": mask_idcode(values["idcode"]),
           "type": ID_CARD_TYPES.get(values["id_card_type_code"], "")}
    left = limits.tries_left(get_session(), limits.Who.of(vs)) if vs.subject_hash else verification.max_attempts()
    return render_template("resident/methods.html", offered=offered, who=who, vs=vs, step=3, attempts_left=left)


@bp.route("/h5/status")
@resident_required
def status():
    """The end of a session that did not pass: failed, locked (with the unlock time) or expired."""
    session = get_session()
    vs = verification.load(session, resident_session.verification_id(), g.app_user)
    if vs is None:
        return redirect(url_for("resident.service"))
    lock = limits.identity_lock(session, limits.Who.of(vs)) if vs.state == VerificationState.LOCKED and vs.subject_hash else None
    if vs.state not in ENDED_WITHOUT_PASS:
        return redirect(CODE_FACE if vs.state == VerificationState.PASSED else url_for("resident.methods"))
    return render_template("resident/status.html", vs=vs, lock=lock, card=card_of(g.app_user), **helpdesk.context())


@bp.route("/h5/status.json")
@resident_required
def status_json():
    vs = verification.load(get_session(), resident_session.verification_id(), g.app_user)
    return jsonify(state=vs.state if vs else None, next=CODE_FACE if vs and vs.state == VerificationState.PASSED else None)


@bp.route("/h5/onsite-points")
def onsite_points():
    """The city's on-site verification points and hotline; open without a session (looked up before going)."""
    back = safe_next(request.args.get("next"), url_for("resident.service"))
    return render_template("resident/onsite_points.html", back=back, **helpdesk.context())


@bp.route("/h5/a11y")
def a11y():
    """适老化: large text on or off, kept in a cookie that base.html reads."""
    response = redirect(safe_next(request.args.get("next"), url_for("resident.service")))
    if request.args.get("large") == "1":
        response.set_cookie("erhc_large", "1", max_age=365 * 86400, samesite="Lax", httponly=True)
    else:
        response.delete_cookie("erhc_large")
    return response


def environment() -> dict:
    """What the server can tell about this browser (the page adds camera and JavaScript)."""
    return {
        "cookies": bool(request.cookies),
        "session": resident_session.current_app_user() is not None,
        "secure_context_expected": request.is_secure or request.host.split(":")[0] in ("127.0.0.1", "localhost"),
        "large_text": request.cookies.get("erhc_large") == "1",
        "sandbox": bool(current_app.config["SANDBOX"]),
    }


@bp.route("/h5/check")
def check():
    return render_template("resident/check.html", env=environment())


@bp.route("/h5/check.json")
def check_json():
    return jsonify(environment())


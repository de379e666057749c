"""Resident pages of the method checks: two-factor, SMS + three-factor, face, on-site waiting."""
from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for

from erhc_h5.db import get_session
from erhc_h5.extensions import limiter
from erhc_h5.identity.base import ProviderUnavailable, device_info_problem
from erhc_h5.cards.assurance import step_up_message
from erhc_h5 import helpdesk
from erhc_h5.resident import checks
from erhc_h5.resident.forms import FaceDeviceForm, FaceForm, OtpForm
from erhc_h5.resident.journey import CODE_FACE, journey_required, provider_unavailable
from erhc_h5.identity import sandbox_last_code
from erhc_h5.resident import verification
from erhc_h5.records.codes import AuthMethod, has_method
from erhc_h5.resident.states import VerificationState
from erhc_h5.resident.verification import METHOD_REFUSALS, OutcomeKind, data, ready_for_check
from erhc_h5.security.headers import allow_script
from erhc_h5.security.masking import mask_phone

bp = Blueprint("verify", __name__, url_prefix="/h5/verify")
POST_LIMIT = "20 per minute; 200 per hour"

REASON_TEXT = {
    "no_record": "权威数据中未查询到该证件的登记信息",
    "face_mismatch": "人脸比对未通过",
    "liveness_failed": "活体检测未通过",
    "phone_mismatch": "手机号与本人身份信息不一致",
}
PHOTO_ERRORS = {
    "no_image": "请先拍摄或选择一张本人正面照片",
    "too_large": "照片过大,请重新拍摄",
    "not_an_image": "无法识别该文件,请上传照片(JPG或PNG)",
    "bad_image": "照片不清晰或过小,请正对镜头重新拍摄",
}
DEVICE_ERRORS = {
    "no_device_info": "刷脸组件未能启动。请开启浏览器的JavaScript后刷新本页重试,或改为到现场核验",
    "bad_device_info": "刷脸组件返回的信息无法识别,请刷新本页重试,或改为到现场核验",
}
OTP_ERRORS = {
    "no_code": "请先获取短信验证码",
    "expired": "验证码已过期(5分钟内有效),请重新获取",
    "too_many_tries": "验证码错误次数过多,请重新获取验证码",
    "bad_format": "验证码应为6位数字",
    "wrong": "验证码不正确,请核对短信后重新输入",
}


def _respond(outcome, retry_action: str | None = None, retry_link: str | None = None):
    """Where an outcome sends the resident (the transaction is the service's: nothing is committed here)."""
    if outcome.kind == OutcomeKind.PASSED:
        return redirect(CODE_FACE)
    if outcome.kind == OutcomeKind.PENDING_ONSITE:
        return redirect(url_for(".onsite"))
    if outcome.kind == OutcomeKind.UNAVAILABLE:
        return provider_unavailable(outcome.error, retry_action, retry_link)
    if outcome.kind == OutcomeKind.INVALID:
        for violation in outcome.error.violations:
            flash(f"信息不符合上报标准:{violation.message},请修改后重试", "error")
        return redirect(url_for("resident.profile"))
    if outcome.kind == OutcomeKind.BAD_IMAGE:
        flash(PHOTO_ERRORS["bad_image"], "error")
        return redirect(url_for(".face"))
    if outcome.kind == OutcomeKind.RETRY:
        why = REASON_TEXT.get(outcome.reason, "您填写的信息与权威数据核验不一致")
        flash(f"核验未通过:{why}。请核对信息后重试。本账号还可尝试{outcome.attempts_left}次,"
              "用完后该证件在本账号上将被锁定24小时。", "error")
        return redirect(url_for("resident.methods"))
    if outcome.kind == OutcomeKind.STEP_UP:
        flash(step_up_message(outcome.required, g.app_user.app.auth_methods), "error")
        return redirect(url_for("resident.methods"))
    if outcome.kind == OutcomeKind.SLOWED:
        flash(f"该证件近期有多次核验未通过,为防止他人冒用,姓名+身份证号核验需等待{_wait_text(outcome.wait_seconds)}后再试;"
              "您也可以改用加手机短信验证、刷脸核验或到现场核验,不受影响。", "error")
        return redirect(url_for("resident.methods"))
    if outcome.kind == OutcomeKind.ONSITE_TAKEN:
        flash("该证件已有一条刷脸通过、等待现场核验的登记,请携带本人证件到现场核验点办理。", "error")
        return redirect(url_for("resident.methods"))
    if outcome.kind == OutcomeKind.PHONE_UNPROVEN:
        return redirect(url_for(".sms"))
    if outcome.kind in METHOD_REFUSALS:
        flash(METHOD_REFUSALS[outcome.kind], "error")
        return redirect(url_for("resident.methods"))
    return redirect(url_for("resident.status"))


def _wait_text(seconds: int) -> str:
    return f"{seconds}秒" if seconds < 120 else f"约{(seconds + 59) // 60}分钟"


def _outcome(methods: str, run, retry_action: str | None = None, retry_link: str | None = None, *, guess: bool = True):
    """Run the check through the service (which owns the transaction) and answer with its outcome."""
    outcome = verification.run_check(get_session(), g.vs, methods, run, guess=guess)
    return _respond(outcome, retry_action, retry_link)


def _require_ready():
    return None if ready_for_check(g.vs) else redirect(url_for("resident.methods"))


@bp.route("/two-factor", methods=["POST"])
@limiter.limit(POST_LIMIT)
@journey_required(VerificationState.IN_PROGRESS)
def two_factor():
    return _require_ready() or _outcome(AuthMethod.TWO_FACTOR, lambda: checks.two_factor(get_session(), g.vs),
                                        retry_action=url_for(".two_factor"))


@bp.route("/sms", methods=["GET", "POST"])
@limiter.limit(POST_LIMIT, methods=["POST"])
@journey_required(VerificationState.IN_PROGRESS)
def sms():
    if (blocked := _require_ready()) is not None:
        return blocked
    vs, form = g.vs, OtpForm()
    if checks.phone_verified(vs):
        return render_template("resident/sms.html", form=form, vs=vs, phone=mask_phone(data(vs)["phone"]),
                               verified=True, wait=0, sandbox=None, step=3)
    if form.validate_on_submit():
        if (refusal := verification.app_refusal(get_session(), vs, AuthMethod.THREE_FACTOR)) is not None:
            flash(METHOD_REFUSALS[refusal], "error")
            return redirect(url_for("resident.methods"))
        result = checks.check_code(get_session(), vs, request.form.get("otp", ""))
        if result == "ok":
            return _outcome(AuthMethod.THREE_FACTOR, lambda: checks.three_factor(get_session(), vs), retry_action=url_for(".three_factor"))
        form.otp.errors = [OTP_ERRORS[result]]
    phone = data(vs)["phone"]
    return render_template("resident/sms.html", form=form, vs=vs, phone=mask_phone(phone), verified=False,
                           wait=checks.cooldown_left(vs), sandbox=sandbox_last_code(phone) if vs.otp_hash else None,
                           step=3)


@bp.route("/sms/send", methods=["POST"])
@limiter.limit(POST_LIMIT)
@journey_required(VerificationState.IN_PROGRESS)
def sms_send():
    if (blocked := _require_ready()) is not None:
        return blocked
    if not OtpForm().validate_on_submit():
        return redirect(url_for(".sms"))
    session = get_session()
    if (refusal := verification.app_refusal(session, g.vs, AuthMethod.THREE_FACTOR)) is not None:
        flash(METHOD_REFUSALS[refusal], "error")
        return redirect(url_for("resident.methods"))
    try:
        result = checks.send_code(session, g.vs)
    except ProviderUnavailable as exc:
        return provider_unavailable(exc, retry_action=url_for(".sms_send"))
    if result.sent:
        flash(f"验证码已发送至{mask_phone(data(g.vs)['phone'])},5分钟内有效", "info")
    elif result.reason == "cooldown":
        flash(f"验证码已发送,请{result.wait_seconds}秒后再重新获取", "info")
    else:
        flash("该手机号获取验证码过于频繁,请1小时后再试,或选择其他认证方式", "error")
    return redirect(url_for(".sms"))


@bp.route("/three-factor", methods=["POST"])
@limiter.limit(POST_LIMIT)
@journey_required(VerificationState.IN_PROGRESS)
def three_factor():
    if not checks.phone_verified(g.vs):
        return redirect(url_for(".sms"))
    return _outcome(AuthMethod.THREE_FACTOR, lambda: checks.three_factor(get_session(), g.vs), retry_action=url_for(".three_factor"))


@bp.route("/face", methods=["GET", "POST"])
@limiter.limit(POST_LIMIT, methods=["POST"])
@journey_required(VerificationState.IN_PROGRESS)
def face():
    if (blocked := _require_ready()) is not None:
        return blocked
    vs, form, session = g.vs, FaceForm(), get_session()
    if (refusal := verification.app_refusal(session, vs, AuthMethod.FACE)) is not None:
        flash(METHOD_REFUSALS[refusal], "error")
        return redirect(url_for("resident.methods"))
    if request.method == "POST" and form.validate_on_submit():
        image = _photo()
        problem = checks.image_problem(image)
        if problem is None and checks.face_token(vs):
            return _outcome(AuthMethod.FACE, lambda: checks.face_verify_image(session, vs, image), retry_link=url_for(".face"))
        form.photo.errors = [PHOTO_ERRORS.get(problem, PHOTO_ERRORS["bad_image"])]
    if not checks.face_token(vs):
        if script := checks.face_device_script():
            return _device_page(script, FaceDeviceForm())
        return _start_face(session, vs, "") or render_template("resident/face.html", form=form, step=3)
    return render_template("resident/face.html", form=form, step=3)


def _start_face(session, vs, device_info: str, after_post: bool = False):
    """Start the check; a redirect-style vendor's page is where the resident goes next (else None).
    After a form post the browser may not be redirected to another site (form-action 'self'): our own
    page then sends the resident on."""
    try:
        started = checks.face_start(session, vs, url_for(".face_return", _external=True), device_info=device_info)
    except ProviderUnavailable as exc:
        return provider_unavailable(exc, retry_link=url_for(".face"))
    if isinstance(started, verification.Outcome):  # another start under way, or the session may not check
        return _respond(started, retry_link=url_for(".face"))
    if not started.redirect_url:
        return None
    if after_post:
        return render_template("resident/face_leave.html", url=started.redirect_url)
    return redirect(started.redirect_url)


def _device_page(script: str, form: FaceDeviceForm, status: int = 200):
    """The page that runs the vendor's script (its origin alone joins script-src) and posts its device data."""
    allow_script(script)
    return render_template("resident/face_device.html", form=form, script=script, step=3), status


@bp.route("/face/device", methods=["POST"])
@limiter.limit(POST_LIMIT)
@journey_required("in_progress")
def face_device():
    """The device data the vendor's script gathered in the page: start the check with it, then go to the vendor."""
    vs, form, session = g.vs, FaceDeviceForm(), get_session()
    script = checks.face_device_script()
    if not (script and ready_for_check(vs) and form.validate_on_submit()) or checks.face_token(vs):
        return redirect(url_for(".face"))  # which says where the resident belongs
    if (refusal := verification.app_refusal(session, vs, AuthMethod.FACE)) is not None:
        flash(METHOD_REFUSALS[refusal], "error")
        return redirect(url_for("resident.methods"))
    if (problem := device_info_problem(form.meta_info.data or "")) is not None:
        form.meta_info.errors = [DEVICE_ERRORS[problem]]
        return _device_page(script, form, 400)
    return _start_face(session, vs, form.meta_info.data, after_post=True) or redirect(url_for(".face"))


def _photo() -> bytes:
    """The photo of the page's camera or album input (both are named ``photo``; the unused one arrives empty)."""
    for upload in request.files.getlist("photo"):
        image = upload.read()
        if image:
            return image
    return b""


@bp.route("/face/return")
@journey_required(VerificationState.PENDING_PROVIDER, VerificationState.IN_PROGRESS)
def face_return():
    """Back from the provider's own page: fetch the verdict server-side."""
    if not checks.face_token(g.vs):
        return redirect(url_for(".face"))
    return _outcome(AuthMethod.FACE, lambda: checks.face_fetch(get_session(), g.vs), retry_link=url_for(".face_return"))


@bp.route("/onsite", methods=["POST"])
@limiter.limit(POST_LIMIT)
@journey_required(VerificationState.IN_PROGRESS)
def onsite_choose():
    """No camera or no phone: go to an on-site point (method 4)."""
    if (blocked := _require_ready()) is not None:
        return blocked
    return _outcome(AuthMethod.ONSITE, lambda: checks.to_onsite(get_session(), g.vs, AuthMethod.ONSITE), guess=False)


@bp.route("/onsite")
@journey_required(VerificationState.PENDING_ONSITE, VerificationState.PASSED)
def onsite():
    if g.vs.state == VerificationState.PASSED:
        return redirect(CODE_FACE)
    return render_template("resident/onsite.html", vs=g.vs, face=has_method(g.vs.method, AuthMethod.FACE), **helpdesk.context())


@bp.route("/onsite/qr.svg")
@limiter.limit("30 per minute")
@journey_required(VerificationState.PENDING_ONSITE)
def onsite_qr():
    image = qrcode.make(g.vs.onsite_code, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return Response(buffer.getvalue(), mimetype="image/svg+xml", headers={"Cache-Control": "no-store"})

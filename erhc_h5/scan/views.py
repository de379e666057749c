"""Scan API for devices, the scan console for nurses and enrolled devices, and the voucher."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from functools import wraps

from flask import Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, session as cookie, url_for
from flask_login import current_user
from sqlalchemy import select

from erhc_h5.db import get_session, utcnow
from erhc_h5.extensions import csrf, limiter
from erhc_h5.records.codes import ID_CARD_TYPES, NATIONS, SEX, method_label
from erhc_h5.cards.models import EHealthCard
from erhc_h5.scan import clock, devices
from erhc_h5.scan.forms import DeviceTokenForm, ScanForm
from erhc_h5.scan.models import ScanDevice, ScanEvent
from erhc_h5.scan.service import NOT_READ, RESULT_LABELS, Scanner, check, record, voucher_visible
from erhc_h5.scan.transactions import OnDemandSession, api_transaction, console_scan
from erhc_h5.security import revocation
from erhc_h5.sync.clock import latest_offset
from erhc_h5.security.masking import mask_idcode

bp = Blueprint("scan", __name__)
MAX_BODY = 4096
DEVICE_KEY = "scan_device"


def _api_error(status: int, reason: str, message: str):
    response = jsonify(error=reason, message=message)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="erhc-scan"'
    return response


def _parse_code(raw: bytes) -> tuple[str | None, float | None]:
    """The code text (None: not a JSON object with a string ``code``) and the optional device time."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None, None
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        return None, None
    return body["code"], clock.device_time(body.get("device_time"))


OFFSET_MAX_AGE = dt.timedelta(hours=24)  # an older measurement says nothing about the clock now


def clock_advice(outcome, device_now: float | None) -> None:
    """Replace the refresh advice of an expired/not-yet-valid refusal when a clock is the likely cause."""
    if outcome.result not in clock.CLOCK_REASONS or outcome.window is None:
        return
    measured = latest_offset(get_session())
    offset = measured.seconds if measured and utcnow() - measured.measured_at <= OFFSET_MAX_AGE else None
    message = clock.hint(outcome.result, outcome.window, time.time(), device_now, offset,
                         float(current_app.config["CODE_CLOCK_SKEW_SECONDS"]))
    if message:
        outcome.body["message"] = message


SCAN_API_LIMIT = "600 per minute"
REVOCATION_RETRIES = 3  # a scan meeting a revocation checks again; three in a row would be an attack


def device_key() -> str:
    """Scan API limits count per device: a hash of its bearer token (never the token), else the address."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "scan-device:" + hashlib.sha256(token.strip().encode()).hexdigest()[:32]
    return request.remote_addr or "127.0.0.1"


@bp.post("/api/v1/scan")
@limiter.limit(SCAN_API_LIMIT, key_func=device_key)
def api_scan():
    """POST {"code": "<QR text>"} with a device bearer token → verdict JSON (never a 500).

    One transaction: one SELECT (card + replay check + the revocation counter), one INSERT (the
    scan's audit event), commit; device and signing key come from per-process caches checked
    against that counter (a revoked device or key is refused by every worker at its next scan);
    no cookie session, no Flask-Login on this path."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return _api_error(401, "unauthorized", "缺少设备令牌(Authorization: Bearer …)")
    too_large = (request.content_length or 0) > MAX_BODY
    raw = b"" if too_large else request.stream.read(MAX_BODY + 1)
    too_large = too_large or len(raw) > MAX_BODY
    code, device_now = (None, None) if too_large else _parse_code(raw)
    session = OnDemandSession()
    seen = revocation.known()
    if seen is None:  # this process's first scan
        seen = revocation.read(session)
    device = devices.lookup(session, token, seen)
    refused = _device_refused(device)
    if refused is not None:
        return refused
    if too_large:
        return _api_error(413, "too_large", "请求内容过大")
    if code is None:
        return _api_error(400, "bad_request", '请求体应为 JSON:{"code": "二维码内容"}')
    # The device and the code are checked outside the write lock, against the counter this process
    # read last; the transaction reads the counter again and writes only if it is unchanged. After a
    # revocation (rare) both are checked again under the newer counter, outside the lock again (the
    # caches reload through the request session, which must not wait on the scan's own write lock).
    for _ in range(REVOCATION_RETRIES):
        checked = check(session, code, seen=seen)
        outcome = None
        with api_transaction() as (statements, cursor):
            card = NOT_READ
            if checked.reason is None:  # a good code: its card and the counter in one statement
                card, current = statements.card_and_counter(cursor, checked.ref, checked.fp)
            else:
                current = statements.revocation_version(cursor)
            if current == seen:
                scanner = Scanner(device_id=device.id, site_name=device.site_name)
                outcome = record(statements, cursor, checked, scanner, card)
                if devices.touch_due(token):
                    statements.touch_device(cursor, device.id, checked.at)
        if outcome is not None:  # committed
            clock_advice(outcome, device_now)
            return jsonify(outcome.body), outcome.status
        revocation.note(current)
        seen = current
        device = devices.lookup(session, token, seen)
        refused = _device_refused(device)
        if refused is not None:
            return refused
    return _api_error(503, "unavailable", "服务暂不可用,请稍后再试")


def _device_refused(device: devices.DeviceInfo | None):
    """The 401 for a missing or revoked device, or None when it may scan."""
    if device is None:
        return _api_error(401, "unauthorized", "设备令牌无效")
    if not device.active:
        return _api_error(401, "device_revoked", "该扫码设备已停用")
    return None


csrf.exempt(api_scan)


def current_scanner() -> Scanner | None:
    """The console's scanner: an enrolled device kept in the session, else a signed-in nurse."""
    data = cookie.get(DEVICE_KEY)
    if isinstance(data, dict) and isinstance(data.get("id"), int):
        device = get_session().get(ScanDevice, data["id"])
        if device is not None and device.active and device.token_hash[:16] == data.get("h"):
            return Scanner(device_id=device.id, site_name=device.site_name)
        cookie.pop(DEVICE_KEY, None)
    if current_user.is_authenticated and current_user.role in ("nurse", "admin"):
        return Scanner(staff_user_id=current_user.id, site_name=current_user.site_name or "")
    return None


def scanner_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        g.scanner = current_scanner()
        if g.scanner is None:
            return redirect(url_for("scan.device"))
        return view(*args, **kwargs)

    return wrapped


def labels(resident: dict, methods: str) -> dict:
    """Chinese labels for the console and the voucher."""
    return {
        "sex": SEX.get(resident.get("sex") or "", resident.get("sex") or ""),
        "nation": NATIONS.get(resident.get("nation") or "", resident.get("nation") or ""),
        "id_card_type": ID_CARD_TYPES.get(resident.get("id_card_type_code") or "", ""),
        "methods": method_label(methods),
    }


def voucher_data(voucher_no: str, resident: dict, methods: str, site_name: str, at) -> dict:
    """What a printed voucher shows (the console's print and the voucher page): the number masked."""
    shown = {k: resident.get(k) for k in ("name", "birthday")}
    return {"voucher_no": voucher_no, "resident": {**shown, "idcode_masked": mask_idcode(resident.get("idcode") or "")},
            "extra": labels(resident, methods), "site_name": site_name, "at": at}


@bp.route("/scan", methods=["GET", "POST"])
@limiter.limit("120 per minute", methods=["POST"])
@scanner_required
def console():
    form = ScanForm()
    outcome = None
    if form.validate_on_submit():
        outcome = console_scan(get_session(), form.code.data, g.scanner)
        clock_advice(outcome, clock.device_time(form.device_time.data))
        form.code.data = ""
    extra = labels(outcome.resident, outcome.authentication_method) if outcome and outcome.resident else {}
    voucher = None
    if outcome is not None and outcome.voucher_no:
        voucher = voucher_data(outcome.voucher_no, outcome.resident, outcome.authentication_method,
                               outcome.event["site_name"], outcome.event["at"])
    return render_template("scan/console.html", form=form, outcome=outcome, extra=extra, scanner=g.scanner,
                           result_labels=RESULT_LABELS, voucher=voucher)


@bp.route("/scan/device", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def device():
    """Enter an enrolled device's token once; the console then works as that device."""
    form = DeviceTokenForm()
    if form.validate_on_submit():
        found = devices.device_for_token(get_session(), form.token.data.strip())
        if found is None:
            form.token.errors.append("设备令牌无效或已停用")
        else:
            cookie[DEVICE_KEY] = {"id": found.id, "h": found.token_hash[:16]}
            return redirect(url_for("scan.console"))
    return render_template("scan/device.html", form=form)


@bp.post("/scan/device/forget")
def forget_device():
    cookie.pop(DEVICE_KEY, None)
    return redirect(url_for("scan.device"))


@bp.route("/scan/voucher/<voucher_no>")
@scanner_required
def voucher(voucher_no: str):
    """The print-ready vaccination voucher of an authenticated scan."""
    session = get_session()
    event = session.scalar(select(ScanEvent).where(ScanEvent.voucher_no == voucher_no[:32]))
    if event is None or event.result != "authenticated" or event.card_id is None:
        abort(404)
    if not voucher_visible(event, g.scanner):
        abort(404)
    card = session.get(EHealthCard, event.card_id)
    resident = {"name": card.name, "sex": card.sex, "birthday": card.birthday, "nation": card.nation,
                "id_card_type_code": card.id_card_type_code, "idcode": card.idcode}
    voucher = voucher_data(event.voucher_no, resident, card.authentication_method, event.site_name, event.at)
    return render_template("scan/voucher.html", voucher=voucher)



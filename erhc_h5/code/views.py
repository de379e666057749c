"""The resident's code face, its refresh endpoint and the privacy receipt of scans."""
from __future__ import annotations

import time

from flask import Blueprint, flash, jsonify, redirect, render_template, request

from erhc_h5.code import service
from erhc_h5.db import get_session
from erhc_h5.extensions import limiter
from erhc_h5.records.codes import method_label
from erhc_h5.cards.assurance import step_up_message
from erhc_h5.cards.service import authority
from erhc_h5.cards.models import CARD_LINK_VERIFIED
from erhc_h5.resident.session import current_app_user, loaded_card_ref
from erhc_h5.scan.service import RESULT_LABELS
from erhc_h5.db import utcnow
from erhc_h5 import helpdesk
from erhc_h5.timefmt import fmt
from erhc_h5.security.masking import mask_idcode, mask_name

bp = Blueprint("code", __name__)
SERVICE_PATH = "/h5/service"


def _card():
    return service.card_of(current_app_user(with_card=True))


@bp.route("/h5/code")
@limiter.limit("60 per minute")
def face():
    card = _card()
    if card is None:
        return redirect(SERVICE_PATH)
    session = get_session()
    image = service.show_code(session, card, loaded_ref=loaded_card_ref(card.id))
    now = time.time()
    face_waiting = not card.is_authenticated and service.face_passed_waiting(session, current_app_user())
    return render_template(
        "code/face.html", card=card, image=image, expires_in=max(0, image.expires_at - int(now)),
        now_ms=int(now * 1000), now_text=fmt(utcnow(), "%Y-%m-%d %H:%M:%S"), face_waiting=face_waiting,
        **(helpdesk.context() if face_waiting else {}),
        masked_name=mask_name(card.name), masked_idcode=mask_idcode(card.idcode),
        methods=method_label(card.authentication_method) if card.is_authenticated else "",
        service_path=SERVICE_PATH, can_cancel=current_app_user().card_link == CARD_LINK_VERIFIED,  # this request's user, not read again
    )


@bp.route("/h5/code/token.json")
@limiter.limit("60 per minute")
def token_json():
    """A fresh code for the page's timer: {"src": data URI, "expires_in": s, "ttl": s}."""
    card = _card()
    if card is None:
        return jsonify(error="no_card", message="请先完成实名认证并领取电子健康码"), 404
    image = service.show_code(get_session(), card, "svg" if request.args.get("format") == "svg" else "png",
                              loaded_ref=loaded_card_ref(card.id))
    response = jsonify(src=image.src, expires_in=max(0, image.expires_at - int(time.time())), ttl=image.ttl)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/h5/code/history")
def history():
    card = _card()
    if card is None:
        return redirect(SERVICE_PATH)
    events = service.receipt(get_session(), card)
    rows = [{"at": fmt(e.at), "site": e.site_name or "—", "result": RESULT_LABELS.get(e.result, e.result)}
            for e in events]
    return render_template("code/history.html", rows=rows, days=service.RECEIPT_DAYS)


@bp.route("/h5/code/cancel", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def cancel():
    """The resident cancels their own card, after a confirmation; only a holder linked at the card's
    level may (a weaker link is told which stronger method to pass first)."""
    user = current_app_user(with_card=True)
    card = service.card_of(user)
    if card is None or user.card_link != CARD_LINK_VERIFIED:
        return redirect(SERVICE_PATH)
    if authority(card, user, 0) < card.assurance_level:
        message = step_up_message(card.assurance_level, user.app.auth_methods if user.app else "")
        return render_template("code/cancel.html", masked_name=mask_name(card.name),
                               masked_idcode=mask_idcode(card.idcode), step_up=message), 403
    error = None
    if request.method == "POST":
        if request.form.get("confirm") != "y":
            error = "请勾选确认后再注销"
        else:
            service.cancel(get_session(), card, user)
            flash("您的电子健康码已注销", "info")
            return redirect(SERVICE_PATH)
    return render_template("code/cancel.html", masked_name=mask_name(card.name), masked_idcode=mask_idcode(card.idcode),
                           error=error), (400 if error else 200)

"""Card cancellation by staff, on the resident's request: find the card, state the reason, cancel (audited)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import Length

from erhc_h5.audit import audit
from erhc_h5.db import get_session
from erhc_h5.extensions import limiter
from erhc_h5.records.codes import ID_CARD_TYPES, method_label
from erhc_h5.records.standard import normalize_record
from erhc_h5.cards.service import cancel_card, find_card
from erhc_h5.records.fields import ID_TYPE_CHOICES, CachedOptionsSelect, nationality_choices
from erhc_h5.cards.models import EHealthCard
from erhc_h5.security.logfilter import redact
from erhc_h5.security.masking import mask_idcode, mask_name, mask_phone
from erhc_h5.staff.auth import role_required

bp = Blueprint("cards", __name__, url_prefix="/staff/cards")
ROLES = ("operator",)


class FindForm(FlaskForm):
    id_card_type_code = SelectField("证件类型", choices=ID_TYPE_CHOICES, default="01", validate_choice=False)
    idcode = StringField("证件号码", validators=[Length(max=64, message="证件号码过长")])
    nationality = SelectField("国籍(护照等外国证件)", choices=nationality_choices, default="CHN",
                              validate_choice=False, widget=CachedOptionsSelect())


class CancelForm(FlaskForm):
    reason = TextAreaField("注销原因(请勿填写证件号码等个人信息)",
                           validators=[Length(min=4, max=200, message="请填写4至200字的注销原因")])
    confirmed = BooleanField("已核对居民本人证件原件,居民本人申请注销")


def summary(card: EHealthCard) -> dict:
    return {"name": mask_name(card.name), "type": ID_CARD_TYPES.get(card.id_card_type_code, ""),
            "idcode": mask_idcode(card.idcode), "phone": mask_phone(card.phone),
            "authenticated": card.is_authenticated, "methods": method_label(card.authentication_method),
            "status": card.status}


@bp.route("/", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
@role_required(*ROLES)
def find():
    """Look a card up by document (sent in the form body, never in a URL)."""
    form = FindForm()
    if form.validate_on_submit():
        values = normalize_record({k: request.form.get(k) or "" for k in ("id_card_type_code", "idcode", "nationality")})
        card = find_card(get_session(), values["id_card_type_code"], values["idcode"], values.get("nationality"))
        if card is None:
            form.idcode.errors = ["未找到该证件对应的电子健康码"]
        else:
            return render_template("staff/card_cancel.html", card=card, who=summary(card), form=CancelForm())
    return render_template("staff/card_find.html", form=form)


@bp.route("/<int(max=2147483647):card_id>/cancel", methods=["POST"])
@limiter.limit("30 per minute")
@role_required(*ROLES)
def cancel(card_id: int):
    session = get_session()
    card = session.get(EHealthCard, card_id)
    if card is None:
        flash("未找到该电子健康码", "error")
        return redirect(url_for(".find"))
    form = CancelForm()
    if not form.validate_on_submit() or not form.confirmed.data:
        if not form.confirmed.data:
            form.confirmed.errors = ["请核对证件原件后勾选"]
        return render_template("staff/card_cancel.html", card=card, who=summary(card), form=form), 400
    if not cancel_card(session, card):
        session.commit()
        flash("该电子健康码已注销", "info")
        return redirect(url_for(".find"))
    # Free text typed by staff: ID numbers and phones in it are masked before it is kept.
    audit(session, "card.cancelled", actor_type="staff", actor_id=current_user.id, target_type="card",
          target_id=card.id, detail={"by": "staff", "reason": redact(form.reason.data.strip())})
    session.commit()
    flash("已注销该电子健康码,注销记录将上报省级平台", "info")
    return redirect(url_for(".find"))

"""Lifting a person's verification lock at the on-site desk, after the operator checked the document.

A lock (too many refuted checks from one account or one address) protects the person; the person in
front of the operator with the original document is who it protects, so the operator may end every
lock, guess count and wait of that person. The document number is typed from the card in hand and
never stored or logged in clear: the audit row names the keyed person hash's prefix only.
"""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import Length

from erhc_h5.audit import audit
from erhc_h5.db import get_session
from erhc_h5.extensions import limiter
from erhc_h5.logs import log_event
from erhc_h5.records.standard import Violation, normalize_record, validate_record
from erhc_h5.resident import limits
from erhc_h5.records.fields import ID_TYPE_CHOICES, apply_violations
from erhc_h5.staff.auth import role_required

bp = Blueprint("unlock", __name__, url_prefix="/staff/onsite/unlock")
FIELDS = ("id_card_type_code", "idcode", "nationality")


class UnlockForm(FlaskForm):
    id_card_type_code = SelectField("证件类型", choices=ID_TYPE_CHOICES, default="01", validate_choice=False)
    idcode = StringField("证件号码(按证件原件录入或用读卡器读取)")
    nationality = StringField("国籍(护照等外国证件填写,如USA)")
    document_checked = BooleanField("已核对证件原件,确认是证件本人")
    note = TextAreaField("核验备注(请勿填写证件号码等个人信息)", validators=[Length(max=500, message="备注不能超过500字")])


def lift_lock(session: Session, form: dict, staff_id: int, note: str) -> tuple[int | None, list[Violation]]:
    """End the person's locks and waits; (counters ended, []) or (None, violations). The caller commits."""
    record = normalize_record({k: form.get(k) or "" for k in FIELDS})
    violations = validate_record(record, fields=FIELDS)
    if violations:
        return None, violations
    subject = limits.subject_hash(record["id_card_type_code"], record["idcode"], record.get("nationality"))
    ended = limits.lift(session, subject)
    audit(session, "onsite.lock_lifted", actor_type="staff", actor_id=staff_id, target_type="person",
          target_id=subject[:16], detail={"counters": ended, "note_len": len(note)})
    log_event("onsite.lock_lifted", person=subject[:8], counters=ended)
    return ended, []


@bp.route("/", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
@role_required("operator")
def lift():
    form = UnlockForm()
    if form.validate_on_submit():
        note = (form.note.data or "").strip()
        if not form.document_checked.data:
            form.document_checked.errors.append("请核对证件原件后勾选")
        elif not note:
            form.note.errors.append("请填写核验备注(如核验的证件类型、核验情况)")
        else:
            session = get_session()
            ended, violations = lift_lock(session, request.form, current_user.id, note)
            if ended is not None:
                session.commit()
                flash("已解除该证件的认证锁定,居民可重新进行实名认证" if ended else
                      "该证件当前没有锁定或等待,居民可直接进行实名认证", "info")
                return redirect(url_for(".lift"))
            session.rollback()
            apply_violations(form, violations)
    return render_template("staff/onsite/unlock.html", form=form)

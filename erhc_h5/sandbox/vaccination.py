"""The sandbox province's vaccination page (``/sandbox-province/vaccination``): the reference
integration a province would copy. The nurse scans (a wedge scanner types the code and Enter, or
the camera reads it); the page routes the code to its issuing city, asks the city's verification
(验码) API through the province's own signed client, shows case one or case two, checks the answer
against the records the province holds, and prints the voucher on the same page.

Personal data: the check panel shows the full name, birthday and document number (the nurse
compares them with the document in hand); the printed voucher masks the number; phone, addresses,
empi and card number are never shown. The code travels by POST only, and logs carry the city,
the outcome and reason codes, never the code or a personal value.
"""
from __future__ import annotations

import re
import secrets

from flask import Blueprint, current_app, render_template, request
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import ValidationError

from erhc_h5.db import get_session
from erhc_h5.logs import log_event
from erhc_h5.records.codes import ID_CARD_TYPES, NATIONS, SEX, method_label
from erhc_h5.sandbox.answers import Answer, ask_city, problem
from erhc_h5.sandbox.cities import Unroutable, route
from erhc_h5.sandbox.crosscheck import cross_check
from erhc_h5.security.masking import mask_idcode
from erhc_h5.timefmt import SECONDS, beijing_now

bp = Blueprint("sandbox_vaccination", __name__, url_prefix="/sandbox-province")
CODE_TEXT = re.compile(r"[\x21-\x7e]{1,100}")  # SPEC "Code text": printable ASCII, at most 100 characters


def code_text(form, field) -> None:
    """What a scanner can have read from a health code; anything else never leaves the page."""
    value = (field.data or "").strip()
    if not value:
        raise ValidationError("请扫描居民的电子健康码,或输入码内容后按回车")
    if not CODE_TEXT.fullmatch(value):
        raise ValidationError("无法识别的码内容:电子健康码只含英文字母、数字和符号,最长100个字符")
    field.data = value


class ScanCodeForm(FlaskForm):
    code = StringField("电子健康码内容", validators=[code_text])


def shown_resident(record: dict) -> dict:
    """The record's basic information in plain Chinese for the check panel and the voucher."""
    def text(name: str) -> str:
        value = record.get(name)
        return value if isinstance(value, str) and value else "—"

    methods = record.get("authentication_method")
    return {
        "name": text("name"), "sex": SEX.get(text("sex"), text("sex")), "birthday": text("birthday"),
        "nation": NATIONS.get(text("nation"), text("nation")),
        "id_card_type": ID_CARD_TYPES.get(text("id_card_type_code"), text("id_card_type_code")),
        "idcode": text("idcode"), "idcode_masked": mask_idcode(text("idcode")),
        "methods": method_label(methods) if isinstance(methods, str) and methods else "—",
    }


def make_voucher(cd_source: str) -> dict:
    """The voucher's own number, time (Beijing), issuing city and terminal; nothing is stored."""
    now = beijing_now()
    return {"no": f"PV{now:%Y%m%d%H%M%S}{secrets.token_hex(2).upper()}", "at": now.strftime(SECONDS),
            "city": cd_source, "terminal": current_app.config["SANDBOX_PROVINCE_TERMINAL"]}


def verify(code: str) -> tuple[Answer, str]:
    """Route the code to its city and ask it; returns the answer and the city's cd_source ('' if none)."""
    try:
        city = route(current_app.config, code, request.environ.get("SERVER_PORT", ""))
    except Unroutable as unroutable:
        return problem(unroutable.reason, unroutable.message), ""
    return ask_city(current_app.config, city, code), city.cd_source


@bp.route("/vaccination", methods=["GET", "POST"])
def vaccination():
    """Scan, verify with the issuing city, cross-check, show and print (POST only: no code in a URL)."""
    form = ScanCodeForm()
    answer = check = resident = voucher = None
    if form.validate_on_submit():
        answer, cd_source = verify(form.code.data)
        if answer.record is not None:
            check = cross_check(get_session(), answer.record)
            resident, voucher = shown_resident(answer.record), make_voucher(cd_source)
        log_event("sandbox_province.vaccination", city=cd_source, case=answer.case, reason=answer.reason,
                  status=answer.status, check=check.status if check else "")
    form.code.data = ""  # the next scan starts on an empty field
    return render_template("sandbox/vaccination.html", form=form, answer=answer, check=check, resident=resident,
                           voucher=voucher)

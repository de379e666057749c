"""Request input guards applied before any view: database-sized URL ids, no NUL, files only where uploads go."""
from __future__ import annotations

from flask import Flask, request
from werkzeug.routing import IntegerConverter

# The only form fields that take a file (filing screenshots and stamped form, face photo): a file anywhere else is a 400,
# never a TypeError inside a text field's validators.
UPLOAD_FIELDS = frozenset({"screen", "stamped_form", "photo"})


class DatabaseInt(IntegerConverter):
    """``<int:…>`` URL ids that fit a database integer; larger ones are a 404, not a PostgreSQL DataError."""

    def __init__(self, map, fixed_digits=0, min=None, max=2**31 - 1, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def has_nul(values) -> bool:
    """PostgreSQL text cannot hold NUL: such input is refused up front instead of failing in a query."""
    return any("\x00" in str(key) or any("\x00" in str(v) for v in values.getlist(key)) for key in values)


def init_app(app: Flask) -> None:
    """Install the guards; must run before the blueprints add their URL rules."""
    from erhc_h5.errors import error_response

    app.url_map.converters["int"] = DatabaseInt

    @app.before_request
    def _refuse_malformed_input():
        form_body = request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded")
        if "\x00" in request.path or has_nul(request.args) or (form_body and has_nul(request.form)):
            return error_response(400, "bad_characters", "请求中含有无法处理的字符,请检查后重试")
        if request.mimetype == "multipart/form-data" and set(request.files) - UPLOAD_FIELDS:
            return error_response(400, "unexpected_file", "此处不能上传文件")
        return None


# Free text a resident or an operator types, shown later in staff pages and exported to spreadsheets:
# markup is refused, and so is a leading formula character (CSV/spreadsheet injection).
FREE_TEXT_FIELDS = ("name", "address", "current_address", "birthplace", "linkman")
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def unsafe_text(record: dict, fields=FREE_TEXT_FIELDS) -> list:
    """Violations for free-text values that carry markup or start like a spreadsheet formula."""
    from erhc_h5.records.standard import Violation

    found = []
    for name in fields:
        value = record.get(name)
        if not isinstance(value, str) or not value:
            continue
        if "<" in value or ">" in value:
            found.append(Violation(name, "unsafe_text", "不能包含“<”或“>”等符号,请只填写文字、数字和常用标点"))
        elif value.lstrip(" ").startswith(FORMULA_LEADS):
            found.append(Violation(name, "unsafe_text", "不能以“=”“+”“-”“@”开头,请以文字或数字开头"))
    return found


class InRange:
    """WTForms' NumberRange for numbers of any size: NumberRange converts the value to a float to look
    for NaN, and a typed 400-digit integer overflows that conversion (a 500 instead of a message)."""

    def __init__(self, low, high, message: str | None = None) -> None:
        self.low, self.high = low, high
        self.message = message or f"请输入 {low} 至 {high} 之间的数"

    def __call__(self, form, field) -> None:
        from wtforms.validators import ValidationError

        value = field.data
        if value is None:
            return
        if value != value or not (self.low <= value <= self.high):  # NaN is unequal to itself
            raise ValidationError(self.message)

"""Journey and on-site forms; field names are the 5.2.2 record fields (contract), rules come from records.standard."""
from __future__ import annotations

from functools import lru_cache

from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length
from wtforms.widgets import Select, html_params

from erhc_h5.records.codes import ID_CARD_TYPES, NATIONS, SEX, counties_of



class CachedOptionsSelect(Select):
    """A select whose options are rendered once per distinct list: the nationality list has ~250
    options, and rendering them was the largest single cost of a resident's journey (bench/README.md)."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        options = tuple((value, label, selected) for value, label, selected, _ in field.iter_choices())
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>{_options_html(options)}</select>")


@lru_cache(maxsize=1024)
def _options_html(options: tuple) -> str:
    return "".join(f"<option {html_params(value=value, selected=selected)}>{escape(label or value)}</option>"
                   for value, label, selected in options)


def choices(pairs) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


# Residence permits of HK/MO/TW residents have no code of their own: they go under 06 and 07.
ID_TYPE_LABELS = {**ID_CARD_TYPES, "06": "港澳居民来往内地通行证 / 港澳居民居住证",
                  "07": "台湾居民来往内地通行证 / 台湾居民居住证"}
ID_TYPE_CHOICES = choices(ID_TYPE_LABELS.items())
NATION_CHOICES = choices([("", "请选择民族")] + list(NATIONS.items()))
SEX_CHOICES = choices([("", "请选择性别")] + [(k, v) for k, v in SEX.items() if k in ("1", "2", "9", "0")])


def county_choices(prefix: str) -> list[SelectChoice]:
    """Current counties under a 4-digit city prefix (6-digit values, stored in the 9-digit form), blank first."""
    return choices(_counties(prefix))


@lru_cache(maxsize=8)
def _counties(prefix: str) -> tuple[tuple[str, str], ...]:
    return (("", "请选择居住的区县(可不填)"),) + tuple(counties_of(prefix))


def shown(values: dict) -> dict:
    """Stored values as the form's choices show them: a county stored as 330106000 is the option 330106."""
    county = values.get("county_code") or ""
    if len(county) == 9 and county.endswith("000"):
        return {**values, "county_code": county[:6]}
    return values


@lru_cache(maxsize=1)
def nationality_choices() -> list[SelectChoice]:
    """GB/T 2659 countries by alpha-3, China first (Chinese names where known, else the English one)."""
    import pycountry

    pairs = [("CHN", "中国")]
    for country in sorted(pycountry.countries, key=lambda c: c.alpha_3):
        if country.alpha_3 != "CHN":
            pairs.append((country.alpha_3, f"{country.alpha_3} {getattr(country, 'common_name', None) or country.name}"))
    return choices([("", "请选择国籍")] + pairs)


def _residence_fields():
    """Where the resident lives and comes from (the H5 profile and the on-site console ask the same)."""
    return (SelectField("居住地所在区县", choices=[], validate_choice=False), StringField("居住地详细地址(可不填)"),
            StringField("户籍地址(可不填)"), StringField("出生地(可不填)"))


class LaunchConfirmForm(FlaskForm):
    """The person's go-ahead to switch this browser to another app account (CSRF token only)."""


class ConsentForm(FlaskForm):
    agree = BooleanField("我已阅读并同意上述个人信息处理说明")


class IdentityForm(FlaskForm):
    name = StringField("姓名", validators=[Length(max=64, message="姓名过长")])
    id_card_type_code = SelectField("证件类型", choices=ID_TYPE_CHOICES, default="01", validate_choice=False)
    idcode = StringField("证件号码", validators=[Length(max=64, message="证件号码过长")])
    nationality = SelectField("国籍", choices=nationality_choices, default="CHN", validate_choice=False,
                              widget=CachedOptionsSelect())


class ProfileForm(FlaskForm):
    sex = SelectField("性别", choices=SEX_CHOICES, validate_choice=False)
    birthday = StringField("出生日期")
    nation = SelectField("民族", choices=NATION_CHOICES, validate_choice=False, widget=CachedOptionsSelect())
    phone = StringField("手机号")
    county_code, current_address, address, birthplace = _residence_fields()
    linkman = StringField("联系人姓名(可不填)")
    telephone = StringField("联系人电话(可不填)")


class OtpForm(FlaskForm):
    otp = StringField("短信验证码")


class FaceForm(FlaskForm):
    photo = FileField("拍摄或选择本人正面照片")


class FaceDeviceForm(FlaskForm):
    """The device data (MetaInfo) the face vendor's own script gathered in the page, posted to start the check."""

    meta_info = StringField("设备信息")


class OnsiteFindForm(FlaskForm):
    code = StringField("现场认证码")


class OnsiteConfirmForm(FlaskForm):
    document_number = StringField("证件原件上的证件号码(手工输入或用身份证阅读器读入)",
                                  validators=[Length(max=64, message="证件号码过长")])
    document_checked = BooleanField("已核对证件原件,人证一致")
    note = TextAreaField("核验备注(请勿填写证件号码等个人信息)", validators=[Length(max=500, message="备注不能超过500字")])


class OnsiteRegisterForm(FlaskForm):
    app = SelectField("登记所属应用", choices=[], validate_choice=False)
    name = StringField("姓名")
    id_card_type_code = SelectField("证件类型", choices=ID_TYPE_CHOICES, default="01", validate_choice=False)
    idcode = StringField("证件号码")
    nationality = SelectField("国籍", choices=nationality_choices, default="CHN", validate_choice=False,
                              widget=CachedOptionsSelect())
    sex = SelectField("性别(非居民身份证号码时填写)", choices=SEX_CHOICES, validate_choice=False)
    birthday = StringField("出生日期(非居民身份证号码时填写,yyyy-MM-dd)")
    nation = SelectField("民族", choices=NATION_CHOICES, validate_choice=False, widget=CachedOptionsSelect())
    county_code, current_address, address, birthplace = _residence_fields()
    linkman = StringField("联系人姓名")
    telephone = StringField("联系人手机号")
    note = TextAreaField("核验备注(请勿填写证件号码等个人信息)", validators=[Length(max=500, message="备注不能超过500字")])


def apply_violations(form: FlaskForm, violations) -> None:
    """Put each violation's Chinese message beside its field (form-level when the field is not shown)."""
    for violation in violations:
        field = getattr(form, violation.field, None)
        if field is None:
            form.form_errors.append(violation.message)
            continue
        if not isinstance(field.errors, list):
            field.errors = list(field.errors)
        if violation.message not in field.errors:
            field.errors.append(violation.message)

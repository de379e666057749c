"""Journey and on-site forms; field names are the 5.2.2 record fields (contract), rules come from records.standard."""
from __future__ import annotations


from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import Length

from erhc_h5.records.fields import ID_TYPE_CHOICES, NATION_CHOICES, SEX_CHOICES, CachedOptionsSelect, nationality_choices



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

"""Forms of the 备案 application and its review (rules live in filing/services.py)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length
from wtforms.widgets import CheckboxInput, ListWidget

from erhc_h5.records.codes import AUTH_METHODS


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):  # unknown codes are refused by the service, in Chinese
        pass


class FilingForm(FlaskForm):
    app_name = StringField("应用名称", validators=[Length(max=100)])
    app_filing_no = StringField("应用备案号(可选)", validators=[Length(max=20)])
    org_name = StringField("应用所属机构", validators=[Length(max=100)])
    org_filing_no = StringField("机构备案号", validators=[Length(max=50)])
    builder_unit = StringField("建设单位", validators=[Length(max=100)])
    builder_contact = StringField("建设单位联系人", validators=[Length(max=100)])
    developer_unit = StringField("开发单位", validators=[Length(max=100)])
    developer_contact = StringField("开发单位联系人", validators=[Length(max=100)])
    auth_methods = MultiCheckboxField("实名认证方式", choices=[SelectChoice(k, f"{k} {v}")
                                                           for k, v in AUTH_METHODS.items()])
    allowed_origins = TextAreaField("允许嵌入H5的应用来源地址(可选,每行一个)", validators=[Length(max=2000)])

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in (
            "app_name", "app_filing_no", "org_name", "org_filing_no", "builder_unit", "builder_contact",
            "developer_unit", "developer_contact", "auth_methods", "allowed_origins")}


class ScreenForm(FlaskForm):
    screen = FileField("实名认证界面设计截图(PNG或JPEG)")


class ReviewForm(FlaskForm):
    review_opinion = TextAreaField("管理单位意见", validators=[Length(max=1000, message="管理单位意见不能超过1000字")])


class ActionForm(FlaskForm):
    """A bare POST carrying only the CSRF token."""


class DecisionForm(FlaskForm):
    """The province's decision as written on the stamped 申请表 (checks live in filing/decisions.py)."""

    outcome = RadioField("省级审批结果 *", choices=[SelectChoice("approved", "通过"),
                                                    SelectChoice("rejected", "不予通过")], default="approved",
                         validate_choice=False)
    app_filing_no = StringField("应用备案号(省级分配)*", validators=[Length(max=20, message="应用备案号最多20位")])
    access_code = StringField("接入组件入网编码(省级分配)*",
                              validators=[Length(max=20, message="接入组件入网编码最多20位数字")])
    opinion = TextAreaField("管理单位意见 *", validators=[Length(max=500, message="管理单位意见不能超过500字")])
    decided_on = StringField("省级审批日期 *")
    stamped_form = FileField("加盖管理单位印章的申请表(PDF、PNG或JPEG)*")

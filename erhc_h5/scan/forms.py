"""Forms of the scan console."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class ScanForm(FlaskForm):
    code = StringField("扫码内容", validators=[DataRequired("请扫描或输入电子健康码"), Length(max=500, message="内容过长")])
    # The browser's clock (unix seconds) at submission, filled by scan.js: only to explain a refusal.
    device_time = HiddenField()


class DeviceTokenForm(FlaskForm):
    token = PasswordField("设备令牌", validators=[DataRequired("请输入设备令牌"), Length(max=200, message="令牌过长")])

"""Staff forms."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=128)])


class PasswordChangeForm(FlaskForm):
    new_password = PasswordField("新密码(至少10位,不含用户名,不能是常见密码)",
                                 validators=[DataRequired("请输入新密码"), Length(max=128, message="密码不能超过128位")])
    confirm = PasswordField("再次输入新密码", validators=[DataRequired("请再次输入新密码"), Length(max=128)])

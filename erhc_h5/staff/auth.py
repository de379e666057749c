"""Staff sign-in plumbing: the user loader and the role-required decorator."""
from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from erhc_h5.db import get_session
from erhc_h5.extensions import login_manager
from erhc_h5.staff.models import StaffUser
from erhc_h5.text import ascii_digits

login_manager.login_view = "staff.login"
login_manager.login_message = "请先登录"
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"


@login_manager.user_loader
def _load_user(user_id: str) -> StaffUser | None:
    """The user of a session cookie ("id:version"), while that version is still the user's current one:
    logout, password reset, role change and deactivation raise it and end every older session. A user
who must change a temporary password is signed in nowhere until it is changed."""
    key, _, version = user_id.partition(":")
    if not (ascii_digits(key) and ascii_digits(version)) or len(key) > 12 or len(version) > 12:
        return None
    user = get_session().get(StaffUser, int(key))
    if user is None or not user.active or user.session_version != int(version) or user.must_change_password:
        return None
    return user


def role_required(*roles: str):
    """Require a signed-in staff user holding one of ``roles`` (admin passes everywhere)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles and current_user.role != "admin":
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator

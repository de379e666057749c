"""The resident's browser session: which app user this is, bound at launch."""
from __future__ import annotations

from flask import session as cookie

from erhc_h5.db import get_session
from erhc_h5.resident.models import AppUser

KEY = "resident"


def bind(app_user: AppUser, consent_version: str | None = None) -> None:
    """Start a resident session for this app user (after a verified launch)."""
    cookie.clear()
    cookie[KEY] = {"app_user": app_user.id, "app": app_user.app_id, "consent": consent_version}
    cookie.permanent = True


def current_app_user() -> AppUser | None:
    """The launched app user of this browser, or None."""
    data = cookie.get(KEY)
    if not isinstance(data, dict) or not isinstance(data.get("app_user"), int):
        return None
    user = get_session().get(AppUser, data["app_user"])
    if user is None or user.app_id != data.get("app"):
        return None
    return user


def set_consent(version: str) -> None:
    data = dict(cookie.get(KEY) or {})
    data["consent"] = version
    cookie[KEY] = data


def consent_version() -> str | None:
    data = cookie.get(KEY)
    return data.get("consent") if isinstance(data, dict) else None


def set_verification(session_id: str | None) -> None:
    """Remember this browser's current verification session (or forget it with None)."""
    data = dict(cookie.get(KEY) or {})
    data["vs"] = session_id
    cookie[KEY] = data


def verification_id() -> str | None:
    data = cookie.get(KEY)
    value = data.get("vs") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None

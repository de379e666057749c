"""Staff account services."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.staff.models import ROLES, StaffUser

USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{2,63}$")


class StaffError(ValueError):
    """A staff account request that cannot be carried out; message in Chinese."""


def create_user(session: Session, username: str, password: str, role: str, *, display_name: str = "",
                site_name: str = "", actor_id: str = "system") -> StaffUser:
    """Create a staff user; refuse a bad username, weak password, unknown role or a duplicate."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise StaffError("用户名应为3至64位小写字母、数字、下划线、点或连字符,且以字母开头")
    if role not in ROLES:
        raise StaffError(f"角色应为以下之一:{', '.join(ROLES)}")
    if len(password) < 10:
        raise StaffError("密码至少10位")
    if session.scalar(select(StaffUser).where(StaffUser.username == username)):
        raise StaffError(f"用户名{username}已存在")
    user = StaffUser(username=username, role=role, display_name=display_name or username, site_name=site_name)
    user.set_password(password)
    session.add(user)
    session.flush()
    audit(session, "staff.create", actor_type="system" if actor_id == "system" else "staff",
          actor_id=actor_id, target_type="staff_user", target_id=user.id, detail={"role": role})
    return user


def authenticate(session: Session, username: str, password: str) -> StaffUser | None:
    """The active user with these credentials, or None (same cost whether or not the user exists)."""
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    if user is None:
        StaffUser(password_hash="").set_password(password)  # equalise timing
        return None
    if not user.check_password(password) or not user.active:
        return None
    return user

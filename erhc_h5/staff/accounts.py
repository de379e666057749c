"""Administration of staff accounts beyond creation: role changes, (de)activation, password resets."""
from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.db import lock_row
from erhc_h5.staff import throttle
from erhc_h5.staff.models import ROLES, StaffUser
from erhc_h5.staff.services import StaffError


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(select(StaffUser).order_by(StaffUser.active.desc(), StaffUser.username)))


def _get(session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise StaffError("找不到该工作人员")
    return user


def _lock_admins(session: Session, actor_id: int) -> list[int]:
    """Lock every active admin's row (in id order, so two admins acting at once cannot deadlock) and
    return their ids: a demotion or deactivation racing with another one waits here and then counts
    the admins that are left. The acting admin must still be one of them."""
    admins = list(session.scalars(select(StaffUser.id).where(StaffUser.role == "admin", StaffUser.active.is_(True))
                                  .order_by(StaffUser.id).with_for_update()))
    if actor_id not in admins:
        raise StaffError("您已不是管理员,不能修改工作人员账号")
    return admins


def _last_admin(session: Session, user: StaffUser, admins: list[int]) -> bool:
    return user.role == "admin" and bool(user.active) and admins == [user.id]


def change_role(session: Session, user_id: int, role: str, *, actor_id: int) -> StaffUser:
    """Give a user another role; an admin cannot demote themselves or the last active admin."""
    user = _get(session, user_id)
    if role not in ROLES:
        raise StaffError("未知的角色")
    if user.role == role:
        return user
    if user.id == actor_id:
        raise StaffError("不能修改自己的角色")
    admins = _lock_admins(session, actor_id)
    lock_row(session, user)
    if user.role == role:
        return user
    if _last_admin(session, user, admins):
        raise StaffError("不能撤销最后一名管理员")
    old, user.role = user.role, role
    user.end_sessions()
    session.flush()
    audit(session, "staff.role_change", actor_type="staff", actor_id=actor_id, target_type="staff_user",
          target_id=user.id, detail={"from": old, "to": role})
    return user


def set_active(session: Session, user_id: int, active: bool, *, actor_id: int) -> StaffUser:
    """Deactivate (sign-in refused, open sessions end on the next request) or reactivate a user."""
    user = _get(session, user_id)
    if not active and user.id == actor_id:
        raise StaffError("不能停用自己的账号")
    admins = _lock_admins(session, actor_id)
    lock_row(session, user)
    if not active and _last_admin(session, user, admins):
        raise StaffError("不能停用最后一名管理员")
    if user.active != active:
        user.active = active
        user.end_sessions()
        session.flush()
        audit(session, "staff.activate" if active else "staff.deactivate", actor_type="staff",
              actor_id=actor_id, target_type="staff_user", target_id=user.id)
    return user


def reset_password(session: Session, user_id: int, *, actor_id: int) -> tuple[StaffUser, str]:
    """A new random one-time password, returned once for the acting admin to hand over in person; the
    old one stops working, every session ends, the owner must replace it at the next sign-in, and the
    admin becomes the account's password issuer (four eyes: it cannot approve the admin's filings)."""
    user = _get(session, user_id)
    lock_row(session, user)
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.must_change_password = True
    user.password_issued_by_id = actor_id
    user.end_sessions()
    throttle.clear(session, user.username)
    session.flush()
    audit(session, "staff.password_reset", actor_type="staff", actor_id=actor_id, target_type="staff_user",
          target_id=user.id)
    return user, password

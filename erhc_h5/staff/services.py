"""Staff account services: creating accounts, signing in (with the per-username backoff) and the
password change a reset or an admin-chosen password demands."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from erhc_h5.audit import audit
from erhc_h5.db import utcnow
from erhc_h5.errors import DomainError
from erhc_h5.logs import log_event
from erhc_h5.staff import throttle
from erhc_h5.staff.models import ROLES, StaffUser
from erhc_h5.staff.passwords import WeakPassword, check_strength
from erhc_h5.uow import unit_of_work

USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{2,63}$")


class StaffError(DomainError, ValueError):
    """A staff account request that cannot be carried out: message in Chinese, ``reason`` stable."""

    status = 422

    def __init__(self, message: str, reason: str = "refused") -> None:
        super().__init__(reason, message)


def check_password(password: str, user: StaffUser | None = None, *, username: str = "",
                   display_name: str = "") -> None:
    """Raise StaffError unless the password passes the rules (see passwords.py) for this account."""
    try:
        check_strength(password, username=user.username if user else username,
                       display_name=user.display_name if user else display_name)
    except WeakPassword as exc:
        raise StaffError(str(exc), exc.reason) from None


def create_user(session: Session, username: str, password: str, role: str, *, display_name: str = "",
                site_name: str = "", actor_id: str | int = "system", must_change: bool = False) -> StaffUser:
    """Create a staff user; refuse a bad username, weak password, unknown role or a duplicate.

    An account opened by an admin (``actor_id`` a staff id) records the admin as its creator and
    password issuer, and must change the admin-chosen password at its first sign-in; so must one
    created with ``must_change`` (a one-time password made on the command line)."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise StaffError("用户名应为3至64位小写字母、数字、下划线、点或连字符,且以字母开头", "bad_username")
    if role not in ROLES:
        raise StaffError(f"角色应为以下之一:{', '.join(ROLES)}", "bad_role")
    check_password(password, username=username, display_name=display_name)
    if session.scalar(select(StaffUser).where(StaffUser.username == username)):
        raise StaffError(f"用户名{username}已存在", "duplicate_username")
    by_staff = str(actor_id) != "system"
    creator = int(actor_id) if by_staff else None
    user = StaffUser(username=username, role=role, display_name=display_name or username, site_name=site_name,
                     created_by_id=creator, password_issued_by_id=creator,
                     must_change_password=by_staff or must_change)
    user.set_password(password)
    session.add(user)
    session.flush()
    audit(session, "staff.create", actor_type="staff" if by_staff else "system",
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


@dataclass(frozen=True)
class SignIn:
    """What a sign-in attempt came to: ``user`` on success (``must_change`` when only the change page
    is open to it), ``retry_at`` when the username is backing off (no password was checked)."""

    user: StaffUser | None = None
    retry_at: dt.datetime | None = None
    backing_off: bool = False

    @property
    def must_change(self) -> bool:
        return self.user is not None and bool(self.user.must_change_password)


def sign_in(session: Session, username: str, password: str) -> SignIn:
    """Check a password under the per-username backoff; commits.

    The attempt's slot is committed before the password is checked, so parallel callers count it;
    of N parallel wrong attempts at most STAFF_LOGIN_MAX_FAILURES reach a check, the others (and a
    right password while the backoff runs) come back ``backing_off`` without one."""
    with unit_of_work(session):  # committed on purpose before the check: parallel attempts count it
        slot = throttle.take(session, username)
    if slot is None:
        log_event("staff.login_backoff")
        return SignIn(retry_at=throttle.blocked_until(session, username), backing_off=True)
    with unit_of_work(session):
        user = authenticate(session, username, password)
        if user is None:
            until = throttle.failed(session, slot)
            known = session.scalar(select(StaffUser.id).where(StaffUser.username == throttle.key_of(username)))
            audit(session, "staff.login_failed", actor_type="system", target_type="staff_user" if known else "",
                  target_id=known or "", detail={"backoff_until": until.isoformat()} if until else {})
            return SignIn()
        throttle.clear(session, username)
        user.last_login_at = utcnow()
        audit(session, "staff.login", actor_type="staff", actor_id=user.id,
              detail={"must_change_password": True} if user.must_change_password else {})
    return SignIn(user=user)


def change_password(session: Session, user: StaffUser, new_password: str) -> StaffUser:
    """Replace a temporary password with the owner's own, committed; refuse a weak one or the same
    one again (StaffError, nothing written). Ends every other session of the user."""
    with unit_of_work(session):
        check_password(new_password, user)
        if user.check_password(new_password):
            raise StaffError("新密码不能与临时密码相同", "password_reused")
        user.set_password(new_password)
        user.must_change_password = False
        user.end_sessions()
        session.flush()
        audit(session, "staff.password_change", actor_type="staff", actor_id=user.id, target_type="staff_user",
              target_id=user.id)
    return user


def sign_out(session: Session, staff_id: int) -> None:
    """End every session of the account (a copy of the cookie elsewhere must not outlive the
    sign-out), audited, committed before the browser's own session is cleared."""
    with unit_of_work(session):
        user = session.get(StaffUser, staff_id)
        if user is not None:
            user.end_sessions()
        audit(session, "staff.logout", actor_type="staff", actor_id=staff_id)

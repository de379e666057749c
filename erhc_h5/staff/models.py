"""Staff accounts and their roles."""
from __future__ import annotations

import datetime as dt

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from erhc_h5.db import Base, utcnow

ROLES = {
    "admin": "管理员",
    "reviewer": "备案审核员",
    "operator": "现场核验员",
    "ops": "运维人员",
    "nurse": "接种点医护人员",
}


class StaffUser(UserMixin, Base):
    """A member of city platform staff who signs in to the console."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(64), default="")
    site_name: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # Part of every session cookie's user id: raising it ends all of this user's sessions at once.
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Four eyes: who opened the account, and who last set a password they knew (creation or reset);
    # neither may approve a filing through it. None: the command line or the demo seed.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    password_issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), nullable=True)
    # Set by an admin-chosen or reset password: the next sign-in leads only to the change page.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:  # Flask-Login: what the session cookie carries
        return f"{self.id}:{self.session_version}"

    def end_sessions(self) -> None:
        """Every session signed in before now stops working on its next request."""
        self.session_version = int(self.session_version or 1) + 1

    @property
    def is_active(self) -> bool:  # Flask-Login
        return bool(self.active)

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)


class LoginThrottle(Base):
    """Sign-in failures of one username (existing or not), shared by every worker: ``failures`` counts
    attempts under way or failed since the last backoff, ``lockouts`` how many backoffs in a row."""

    __tablename__ = "staff_login_throttles"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)

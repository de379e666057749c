"""The first admin from the command line: `flask users create … --one-time-password` shows a random
password once and the account must replace it at its first sign-in; whoever later finds that
password (a terminal's scrollback, a note) gets nothing with it."""
from __future__ import annotations

import json
import logging

from sqlalchemy import select

from erhc_h5.audit import AuditEntry
from erhc_h5.staff.models import StaffUser

OWN_PASSWORD = "Tidal-ledger-window-58"


def create_first_admin(runner) -> tuple[dict, str]:
    result = runner.invoke(args=["users", "create", "first.admin", "--role", "admin", "--one-time-password"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_the_one_time_password_is_random_shown_once_and_must_be_changed(runner, db_session, caplog):
    caplog.set_level(logging.DEBUG)
    first, notice = create_first_admin(runner)
    second = json.loads(runner.invoke(args=["users", "create", "second.admin", "--role", "admin",
                                            "--one-time-password"]).stdout.strip().splitlines()[-1])
    password = first["one_time_password"]
    assert len(password) >= 16 and password != second["one_time_password"]
    assert first["must_change_password"] is True
    user = db_session.scalar(select(StaffUser).where(StaffUser.username == "first.admin"))
    assert user.must_change_password and user.check_password(password)
    assert password not in notice and "一次性密码只显示这一次" in notice
    assert password not in caplog.text
    audit_rows = db_session.scalars(select(AuditEntry)).all()
    assert audit_rows and all(password not in json.dumps(row.detail, ensure_ascii=False) for row in audit_rows)


def test_the_one_time_password_opens_only_the_change_page_and_dies_with_it(runner, client, db_session):
    first, _ = create_first_admin(runner)
    signed = client.post("/staff/login", data={"username": "first.admin", "password": first["one_time_password"]})
    assert signed.status_code == 302 and signed.headers["Location"].endswith("/staff/password")
    assert client.get("/staff/").status_code != 200  # signed in nowhere yet
    changed = client.post("/staff/password", data={"new_password": OWN_PASSWORD, "confirm": OWN_PASSWORD})
    assert changed.status_code == 302
    assert client.get("/staff/").status_code == 200
    client.post("/staff/logout")
    finder = client.post("/staff/login", data={"username": "first.admin", "password": first["one_time_password"]})
    assert finder.status_code == 200 and "用户名或密码不正确" in finder.get_data(as_text=True)
    assert client.get("/staff/").status_code != 200


def test_a_password_and_a_one_time_password_are_not_both_taken(runner, db_session):
    result = runner.invoke(args=["users", "create", "x.admin", "--role", "admin", "--password", OWN_PASSWORD,
                                 "--one-time-password"])
    assert result.exit_code != 0 and "只能选一个" in result.output
    assert db_session.scalar(select(StaffUser).where(StaffUser.username == "x.admin")) is None

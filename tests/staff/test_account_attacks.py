"""One admin against four eyes: a puppet reviewer of their own making, a guessable password, a reset
whose password stays readable. Each test composes the attack from the admin's real powers (create
accounts, reset passwords, draft and submit filings) and expects the approval or sign-in refused."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from erhc_h5.sandbox import demo
from erhc_h5.audit import AuditEntry
from erhc_h5.db import session_scope
from erhc_h5.filing import services as filing
from erhc_h5.filing.models import FiledApp
from erhc_h5.staff.models import StaffUser
from erhc_h5.staff.services import create_user

SECRET_MARK = 'id="launch-secret"'
SHOWN_ONCE = re.compile(r'<code id="shown-once" class="secret">([^<]+)</code>')
CHANGE_PAGE = "/staff/password"
# Passwords chosen by the test (not by the code under test): long, no dictionary words in a row.
STRONG = "Tq7-vorbi-Klamm-29"
STRONG_2 = "Hx4_plimsoll~Quern81"


@pytest.fixture
def world(fresh_app):
    """Demo seed on a fresh database; every request gets its own app context."""
    with fresh_app.app_context(), session_scope(fresh_app) as session:
        seeded = demo.seed(fresh_app, session)
    return fresh_app, seeded


def _sign_in(app, username: str, password: str, new_password: str | None = None):
    """A client signed in as ``username``; a forced password change is completed with ``new_password``."""
    client = app.test_client()
    reply = client.post("/staff/login", data={"username": username, "password": password})
    assert reply.status_code == 302, reply.status_code
    if reply.headers["Location"].endswith(CHANGE_PAGE):
        assert new_password, "a password change was demanded"
        done = client.post(CHANGE_PAGE, data={"new_password": new_password, "confirm": new_password})
        assert done.status_code == 302 and done.headers["Location"].endswith("/staff/"), done.status_code
    return client


def _submitted_filing(app, author_name: str, filing_no: str) -> int:
    with app.app_context(), session_scope(app) as session:
        author = session.scalar(select(StaffUser).where(StaffUser.username == author_name))
        filed = filing.create_application(session, {
            "app_name": "傀儡审核测试App", "app_filing_no": filing_no, "org_name": "某卫健委",
            "org_filing_no": "ORG-P", "builder_unit": "某建设单位", "builder_contact": "张三 0571-1",
            "developer_unit": "某开发单位", "developer_contact": "李四 0571-2", "auth_methods": "1^2"},
            actor_id=author.id)
        filed.ui_design_files = ["screen.png"]
        filing.transition(session, filed, "submit", actor_id=author.id)
        session.flush()
        return filed.id


def _approve(client, app_id: int) -> str:
    return client.post(f"/staff/filing/{app_id}/approve", data={"review_opinion": "同意"},
                       follow_redirects=True).get_data(as_text=True)


def _status_and_refusals(app, app_id: int) -> tuple[str, list[dict]]:
    with app.app_context(), session_scope(app) as session:
        status = session.get(FiledApp, app_id).status
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action == "filing.four_eyes_refused",
                                                        AuditEntry.target_id == str(app_id))).all()
        return status, [dict(r.detail or {}) for r in rows]


def _admin_creates(admin, username: str, role: str = "reviewer", password: str = STRONG):
    return admin.post("/staff/admin/users", data={"username": username, "display_name": "傀儡", "role": role,
                                                  "site_name": "", "password": password})


def test_puppet_created_after_submission_cannot_approve(world):
    app, seeded = world
    creds = seeded["users"]["admin"]
    app_id = _submitted_filing(app, creds["username"], "PUPPET-1")
    admin = _sign_in(app, **creds)
    assert _admin_creates(admin, "puppet.one").status_code == 302
    puppet = _sign_in(app, "puppet.one", STRONG, STRONG_2)
    html = _approve(puppet, app_id)
    assert SECRET_MARK not in html and "双人审核" in html
    status, refusals = _status_and_refusals(app, app_id)
    assert status == "submitted"
    assert [r["reason"] for r in refusals] == ["four_eyes_account_origin"]


def test_puppet_created_before_the_filing_cannot_approve_either(world):
    app, seeded = world
    creds = seeded["users"]["admin"]
    admin = _sign_in(app, **creds)
    assert _admin_creates(admin, "puppet.two").status_code == 302
    app_id = _submitted_filing(app, creds["username"], "PUPPET-2")
    html = _approve(_sign_in(app, "puppet.two", STRONG, STRONG_2), app_id)
    assert SECRET_MARK not in html
    assert _status_and_refusals(app, app_id)[0] == "submitted"


def test_account_opened_after_submission_cannot_approve(world):
    app, seeded = world
    app_id = _submitted_filing(app, seeded["users"]["admin"]["username"], "PUPPET-3")
    with app.app_context(), session_scope(app) as session:
        create_user(session, "late.reviewer", STRONG, "reviewer")  # opened from the shell, not by the admin
    html = _approve(_sign_in(app, "late.reviewer", STRONG), app_id)
    assert SECRET_MARK not in html and "双人审核" in html
    status, refusals = _status_and_refusals(app, app_id)
    assert status == "submitted" and [r["reason"] for r in refusals] == ["four_eyes_new_account"]


def test_reviewer_whose_password_the_submitter_reset_cannot_approve(world):
    app, seeded = world
    creds, reviewer = seeded["users"]["admin"], seeded["users"]["reviewer"]
    app_id = _submitted_filing(app, creds["username"], "PUPPET-4")
    admin = _sign_in(app, **creds)
    with app.app_context(), session_scope(app) as session:
        reviewer_id = session.scalar(select(StaffUser.id).where(StaffUser.username == reviewer["username"]))
    temporary = SHOWN_ONCE.search(admin.post(f"/staff/admin/users/{reviewer_id}/password")
                                  .get_data(as_text=True)).group(1)
    html = _approve(_sign_in(app, reviewer["username"], temporary, STRONG_2), app_id)
    assert SECRET_MARK not in html
    assert _status_and_refusals(app, app_id)[0] == "submitted"


def test_an_independent_reviewer_still_approves(world):
    app, seeded = world
    app_id = _submitted_filing(app, seeded["users"]["admin"]["username"], "PUPPET-5")
    html = _approve(_sign_in(app, **seeded["users"]["reviewer"]), app_id)
    assert "已审核通过并提交省级" in html and SECRET_MARK not in html  # the secret comes with the province's approval
    assert _status_and_refusals(app, app_id) == ("province_pending", [])


# Common and guessable passwords (from published leaked-password top lists and keyboard walks),
# and ones built on the username.
WEAK = ["aaaaaaaaaa", "1234567890", "qwertyuiop", "password123", "P@ssw0rd2024", "iloveyou12",
        "abcdefghij", "1qaz2wsx3edc", "woaini1314520", "zxcvbnm123"]


@pytest.mark.parametrize("password", WEAK + ["puppet.six#Q7x!2026"])
def test_common_and_guessable_passwords_are_refused(world, password):
    app, seeded = world
    admin = _sign_in(app, **seeded["users"]["admin"])
    reply = _admin_creates(admin, "puppet.six", password=password)
    assert reply.status_code == 422
    assert re.search("密码(太容易被猜到|不能包含用户名)", reply.get_data(as_text=True))
    with app.app_context(), session_scope(app) as session:
        assert session.scalar(select(StaffUser).where(StaffUser.username == "puppet.six")) is None


def test_the_command_line_refuses_a_common_password(world):
    app, _ = world
    result = app.test_cli_runner().invoke(args=["users", "create", "cli.weak", "--role", "reviewer",
                                                "--password", "aaaaaaaaaa"])
    assert result.exit_code != 0 and "密码太容易被猜到" in result.output


def test_reset_password_is_shown_once_and_must_be_changed_at_first_sign_in(world):
    app, seeded = world
    admin, nurse_creds = _sign_in(app, **seeded["users"]["admin"]), seeded["users"]["nurse"]
    with app.app_context(), session_scope(app) as session:
        nurse_id = session.scalar(select(StaffUser.id).where(StaffUser.username == nurse_creds["username"]))
    shown = admin.post(f"/staff/admin/users/{nurse_id}/password")
    temporary = SHOWN_ONCE.search(shown.get_data(as_text=True)).group(1)
    assert "no-store" in shown.headers["Cache-Control"]
    for path in ("/staff/admin/users", "/staff/admin/audit", "/staff/admin/audit?action=staff.password_reset",
                 "/staff/"):
        assert temporary not in admin.get(path).get_data(as_text=True), path
    with app.app_context(), session_scope(app) as session:
        assert not any(temporary in str(e.detail) for e in session.scalars(select(AuditEntry)))
    # The owner signs in with it: nothing but the change page until the password is changed.
    owner = app.test_client()
    reply = owner.post("/staff/login", data={"username": nurse_creds["username"], "password": temporary})
    assert reply.status_code == 302 and reply.headers["Location"].endswith(CHANGE_PAGE)
    for path in ("/staff/", "/scan"):
        assert owner.get(path).status_code in (302, 403), path
    for bad in ("aaaaaaaaaa", temporary):
        refused = owner.post(CHANGE_PAGE, data={"new_password": bad, "confirm": bad})
        assert refused.status_code == 422
    assert owner.get("/staff/").status_code == 302
    done = owner.post(CHANGE_PAGE, data={"new_password": STRONG, "confirm": STRONG})
    assert done.status_code == 302 and owner.get("/staff/").status_code == 200
    again = app.test_client()
    assert "用户名或密码不正确" in again.post("/staff/login", data={
        "username": nurse_creds["username"], "password": temporary}).get_data(as_text=True)
    assert again.post("/staff/login", data={"username": nurse_creds["username"], "password": STRONG}
                      ).headers["Location"].endswith("/staff/")

"""Staff accounts: hashed passwords, login/logout, roles, the users CLI."""
from __future__ import annotations

import json

from sqlalchemy import select

from erhc_h5.staff.models import StaffUser


def test_password_is_hashed(seeded, db_session):
    user = db_session.scalar(select(StaffUser).where(StaffUser.username == "demo-admin"))
    assert seeded["users"]["admin"]["password"] not in user.password_hash
    assert user.check_password(seeded["users"]["admin"]["password"])


def test_login_logout(client, auth):
    assert client.get("/staff/").status_code == 302
    response = auth.login("ops")
    assert response.status_code == 302 and response.headers["Location"].endswith("/staff/")
    assert client.get("/staff/").status_code == 200
    auth.logout()
    assert client.get("/staff/").status_code == 302


def test_wrong_password_is_refused_in_chinese(client, seeded):
    response = client.post("/staff/login", data={"username": "demo-admin", "password": "nope"})
    assert response.status_code == 200
    assert "用户名或密码不正确" in response.get_data(as_text=True)


def test_open_redirect_is_ignored(client, seeded):
    creds = seeded["users"]["ops"]
    response = client.post("/staff/login?next=https://evil.example/", data=creds)
    assert response.headers["Location"].endswith("/staff/")


def test_role_required(app, client, auth):
    from erhc_h5.staff.auth import role_required

    @app.route("/staff/_only_reviewer")
    @role_required("reviewer")
    def only_reviewer():
        return "ok"

    auth.login("ops")
    assert client.get("/staff/_only_reviewer").status_code == 403
    auth.logout()
    auth.login("reviewer")
    assert client.get("/staff/_only_reviewer").status_code == 200


def test_users_create_cli(runner, db_session):
    result = runner.invoke(args=["users", "create", "alice", "--role", "reviewer", "--password", "long-enough-pass"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["role"] == "reviewer"
    dup = runner.invoke(args=["users", "create", "alice", "--role", "reviewer", "--password", "long-enough-pass"])
    assert dup.exit_code != 0 and "已存在" in dup.output
    bad = runner.invoke(args=["users", "create", "bob", "--role", "wizard", "--password", "long-enough-pass"])
    assert bad.exit_code != 0 and "角色" in bad.output

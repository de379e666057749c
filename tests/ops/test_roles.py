"""Every page of filing, administration and ops, as each role and anonymously: allowed or turned away."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from erhc_h5.sandbox.demo import DEMO_APP_FILING_NO
from erhc_h5.filing.models import FiledApp

ROLES = ("admin", "reviewer", "operator", "ops", "nurse")
# (method, path template, roles allowed besides admin)
PAGES = [
    ("GET", "/staff/filing/", ("reviewer",)),
    ("GET", "/staff/filing/new", ("reviewer",)),
    ("GET", "/staff/filing/{demo}", ("reviewer",)),
    ("GET", "/staff/filing/{demo}/print", ("reviewer",)),
    ("GET", "/staff/filing/{demo}/edit", ("reviewer",)),  # approved: redirected back to the detail page
    ("POST", "/staff/filing/{demo}/submit", ("reviewer",)),  # refused by the state machine: redirect
    ("POST", "/staff/filing/{demo}/rotate", ("reviewer",)),
    ("GET", "/staff/admin/", ("",)),
    ("GET", "/staff/admin/users", ("",)),
    ("GET", "/staff/admin/devices", ("",)),
    ("GET", "/staff/admin/audit", ("",)),
    ("POST", "/staff/admin/users/1/password", ("",)),
    ("POST", "/staff/admin/devices/999999/revoke", ("",)),
    ("GET", "/ops", ("ops",)),
    ("POST", "/ops/requeue", ("ops",)),
]
OK = {200, 302}


def _demo_id(db_session) -> int:
    return db_session.scalar(select(FiledApp.id).where(FiledApp.app_filing_no == DEMO_APP_FILING_NO))


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(client, auth, db_session, role):
    """One sign-in per role, every page: allowed (200/302 not to login) or 403 with the Chinese page."""
    auth.login(role)
    demo, wrong = _demo_id(db_session), []
    for method, path, allowed in PAGES:
        url = path.format(demo=demo)
        response = client.open(url, method=method)
        if role == "admin" or role in allowed:
            ok = response.status_code in OK and "/staff/login" not in response.headers.get("Location", "")
        else:
            ok = response.status_code == 403 and "您没有权限访问此页面" in response.get_data(as_text=True)
        if not ok:
            wrong.append((method, url, response.status_code))
    assert wrong == []


def test_anonymous_is_sent_to_login(client, seeded, db_session):
    demo, wrong = _demo_id(db_session), []
    for method, path, _ in PAGES:
        response = client.open(path.format(demo=demo), method=method)
        if response.status_code != 302 or "/staff/login" not in response.headers["Location"]:
            wrong.append((method, path, response.status_code))
    assert wrong == []


def test_pages_render_for_their_role(client, auth, db_session):
    auth.login("reviewer")
    demo = _demo_id(db_session)
    assert "示范城市健康服务App" in client.get(f"/staff/filing/{demo}").get_data(as_text=True)
    auth.logout()
    auth.login("ops")
    assert "待上传积压" in client.get("/ops").get_data(as_text=True)
    auth.logout()
    auth.login("admin")
    for path, text in (("/staff/admin/users", "demo-nurse"), ("/staff/admin/devices", "示范接种点扫码枪"),
                       ("/staff/admin/audit", "staff.login")):
        assert text in client.get(path).get_data(as_text=True), path


@pytest.mark.parametrize("role,links", [
    ("reviewer", ["应用备案"]), ("ops", ["运行监控"]), ("admin", ["应用备案", "运行监控", "工作人员管理", "审计日志"]),
    ("nurse", []), ("operator", []),
])
def test_console_home_links(client, auth, role, links):
    auth.login(role)
    html = client.get("/staff/").get_data(as_text=True)
    for label in links:
        assert label in html
    if role in ("nurse", "operator"):
        assert "应用备案" not in html and "运行监控" not in html and "工作人员管理" not in html


@pytest.mark.parametrize("role,status", [("ops", 200), ("admin", 200), ("reviewer", 403), ("nurse", 403),
                                         ("operator", 403)])
def test_status_json_by_role(client, auth, role, status):
    auth.login(role)
    response = client.get("/ops/status.json")
    assert response.status_code == status
    assert response.is_json


def test_status_json_anonymous_and_bearer(app, client, seeded):
    response = client.get("/ops/status.json")
    assert response.status_code == 401 and response.get_json()["error"] == "unauthorized"
    assert client.get("/ops/status.json", headers={"Authorization": "Bearer x"}).status_code == 401
    app.config["OPS_TOKEN"] = "t" * 40
    assert client.get("/ops/status.json", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get("/ops/status.json", headers={"Authorization": "Bearer " + "t" * 40})
    assert response.status_code == 200 and "outbox" in response.get_json()

"""Administration: staff users, scan devices and the audit log viewer."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from erhc_h5.sandbox import demo
from erhc_h5.audit import AuditEntry, audit
from erhc_h5.db import session_scope
from erhc_h5.scan.models import ScanDevice
from erhc_h5.staff.models import StaffUser
from tests.factories import staff_user


@pytest.fixture
def admin(client, auth):
    auth.login("admin")
    return client


def _user(db_session, username) -> StaffUser:
    db_session.expire_all()
    return db_session.scalar(select(StaffUser).where(StaffUser.username == username))


def test_create_user_and_sign_in(admin, client, db_session):
    response = admin.post("/staff/admin/users", data={"username": "nurse.wang", "display_name": "王护士",
                                                      "role": "nurse", "site_name": "一号接种点",
                                                      "password": "a-long-password-1"})
    assert response.status_code == 302
    user = _user(db_session, "nurse.wang")
    assert user.role == "nurse" and user.site_name == "一号接种点" and "a-long-password-1" not in user.password_hash
    assert user.created_by_id == _user(db_session, "demo-admin").id and user.must_change_password
    client.post("/staff/logout")
    first = client.post("/staff/login", data={"username": "nurse.wang", "password": "a-long-password-1"})
    assert first.status_code == 302 and first.headers["Location"].endswith("/staff/password")


@pytest.mark.parametrize("data,message", [
    ({"username": "Bad Name!", "role": "nurse", "password": "a-long-password-1"}, "用户名应为"),
    ({"username": "short.pw", "role": "nurse", "password": "short"}, "密码至少10位"),
    ({"username": "demo-nurse", "role": "nurse", "password": "a-long-password-1"}, "已存在"),
])
def test_create_user_errors(admin, db_session, data, message):
    before = db_session.query(StaffUser).count()
    response = admin.post("/staff/admin/users", data=data)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert db_session.query(StaffUser).count() == before


def test_change_role_deactivate_and_reset(admin, client, seeded, db_session):
    nurse = _user(db_session, "demo-nurse")
    assert admin.post(f"/staff/admin/users/{nurse.id}/role", data={"role": "operator"}).status_code == 302
    assert _user(db_session, "demo-nurse").role == "operator"
    html = admin.post(f"/staff/admin/users/{nurse.id}/password").get_data(as_text=True)
    new_password = re.search(r'<code id="shown-once" class="secret">([^<]+)</code>', html).group(1)
    assert len(new_password) >= 12
    admin.post(f"/staff/admin/users/{nurse.id}/deactivate")
    assert _user(db_session, "demo-nurse").active is False
    client.post("/staff/logout")
    refused = client.post("/staff/login", data={"username": "demo-nurse", "password": new_password})
    assert refused.status_code == 200 and "用户名或密码不正确" in refused.get_data(as_text=True)
    actions = db_session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == str(nurse.id),
                                                                 AuditEntry.target_type == "staff_user")).all()
    assert {"staff.role_change", "staff.password_reset", "staff.deactivate"} <= set(actions)
    entry = db_session.scalar(select(AuditEntry).where(AuditEntry.action == "staff.password_reset"))
    assert new_password not in str(entry.detail)


def test_deactivation_ends_open_session(fresh_app):
    # fresh_app: each request gets its own app context (the rolled-back ``app`` fixture shares ``g``)
    with fresh_app.app_context(), session_scope(fresh_app) as session:
        users = demo.seed(fresh_app, session)["users"]
        ops_id = session.scalar(select(StaffUser.id).where(StaffUser.username == "demo-ops"))
    ops, admin = fresh_app.test_client(), fresh_app.test_client()
    ops.post("/staff/login", data=users["ops"])
    assert ops.get("/ops").status_code == 200
    admin.post("/staff/login", data=users["admin"])
    assert admin.post(f"/staff/admin/users/{ops_id}/deactivate").status_code == 302
    assert ops.get("/ops").status_code == 302


def test_admin_cannot_lock_themselves_out(admin, db_session):
    me = _user(db_session, "demo-admin")
    html = admin.post(f"/staff/admin/users/{me.id}/deactivate", follow_redirects=True).get_data(as_text=True)
    assert "不能停用自己的账号" in html
    html = admin.post(f"/staff/admin/users/{me.id}/role", data={"role": "nurse"},
                      follow_redirects=True).get_data(as_text=True)
    assert "不能修改自己的角色" in html
    assert _user(db_session, "demo-admin").role == "admin" and _user(db_session, "demo-admin").active


def test_enrol_and_revoke_device(admin, client, db_session):
    html = admin.post("/staff/admin/devices", data={"name": "二号扫码枪", "site_name": "二号接种点"}
                      ).get_data(as_text=True)
    token = re.search(r'<code id="shown-once" class="secret">([^<]+)</code>', html).group(1)
    device = db_session.scalar(select(ScanDevice).where(ScanDevice.name == "二号扫码枪"))
    assert device.site_name == "二号接种点" and device.active and token not in device.token_hash
    listing = admin.get("/staff/admin/devices").get_data(as_text=True)
    assert "二号扫码枪" in listing and token not in listing  # shown once only
    admin.post(f"/staff/admin/devices/{device.id}/revoke")
    db_session.expire_all()
    assert db_session.get(ScanDevice, device.id).active is False
    reply = client.post("/api/v1/scan", json={"code": "x"}, headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 401


def test_enrol_device_needs_a_name(admin, db_session):
    before = db_session.query(ScanDevice).count()
    response = admin.post("/staff/admin/devices", data={"name": "", "site_name": "一号接种点"})
    assert response.status_code == 422 and "设备名称不能为空" in response.get_data(as_text=True)
    assert db_session.query(ScanDevice).count() == before


def test_audit_viewer_filters_and_pages(admin, db_session, seeded):
    for i in range(60):
        audit(db_session, "test.bulk", actor_type="system", target_type="thing", target_id=i)
    audit(db_session, "test.pii", detail={"name": "张三丰", "idcode": "330106199003071236", "phone": "13812345678",
                                          "nested": {"address": "浙江省杭州市西湖区文三路1号"}})
    db_session.commit()
    html = admin.get("/staff/admin/audit?action=test.bulk").get_data(as_text=True)
    assert "共 60 条,第 1/2 页" in html and html.count("<code>test.bulk</code>") == 50
    assert "下一页" in html
    html = admin.get("/staff/admin/audit?action=test.bulk&page=2").get_data(as_text=True)
    assert html.count("<code>test.bulk</code>") == 10
    html = admin.get("/staff/admin/audit?action=test.pii").get_data(as_text=True)
    for clear in ("张三丰", "330106199003071236", "13812345678", "文三路1号"):
        assert clear not in html
    assert "张*丰" in html and "3301**********1236" in html and "138****5678" in html
    html = admin.get("/staff/admin/audit?actor=demo-admin").get_data(as_text=True)
    assert "<code>staff.login</code>" in html and "<code>test.bulk</code>" not in html
    html = admin.get("/staff/admin/audit?action=test.&date_from=2000-01-01&date_to=2000-01-02").get_data(as_text=True)
    assert "共 0 条" in html


def test_audit_viewer_bad_dates(admin):
    response = admin.get("/staff/admin/audit?date_from=2026-13-01")
    assert response.status_code == 422 and "日期格式应为" in response.get_data(as_text=True)
    response = admin.get("/staff/admin/audit?date_from=2026-02-02&date_to=2026-02-01")
    assert response.status_code == 422 and "结束日期不能早于开始日期" in response.get_data(as_text=True)


def test_session_version_rises_with_each_change_that_ends_sessions(db_session, seeded):
    from erhc_h5.staff import accounts

    admin_user = _user(db_session, seeded["users"]["admin"]["username"])
    target = _user(db_session, seeded["users"]["ops"]["username"])
    start = target.session_version
    assert target.get_id() == f"{target.id}:{start}"
    accounts.reset_password(db_session, target.id, actor_id=admin_user.id)
    accounts.change_role(db_session, target.id, "nurse", actor_id=admin_user.id)
    accounts.set_active(db_session, target.id, False, actor_id=admin_user.id)
    assert target.session_version == start + 3


def test_a_demoted_admin_can_no_longer_change_accounts(db_session, seeded):
    from erhc_h5.staff import accounts
    from erhc_h5.staff.services import StaffError

    first = _user(db_session, seeded["users"]["admin"]["username"])
    second = staff_user(db_session, "admin.two", "admin", "a-long-password-2", display_name="第二管理员")
    accounts.change_role(db_session, second.id, "ops", actor_id=first.id)
    with pytest.raises(StaffError, match="已不是管理员"):
        accounts.change_role(db_session, first.id, "ops", actor_id=second.id)
    assert first.role == "admin"

"""Attacks on the staff side: open redirects, someone else's vouchers, an open /metrics in
production, and one reviewer approving their own filing (copied session cookies: test_staff_sessions)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from erhc_h5 import create_app
from erhc_h5.config import ConfigError
from erhc_h5.filing import services as filing
from erhc_h5.filing.decisions import DecisionInput, record_decision
from erhc_h5.filing.models import DecisionSource, FiledApp
from erhc_h5.staff.models import StaffUser
from erhc_h5.staff.services import create_user
from tests.factories import make_card, scan_event
from tests.filing.helpers import beijing_today
from tests.support import PRODUCTION


def _user(db_session, seeded, role: str) -> StaffUser:
    return db_session.scalar(select(StaffUser).where(StaffUser.username == seeded["users"][role]["username"]))


# -- redirects ------------------------------------------------------------------------------------

OFF_SITE = ["/%09/evil.example", "//evil.example", "/\\evil.example", "https://evil.example/", "/%2F/evil.example",
            "/%5Cevil.example", "%2F%2Fevil.example", "/ /evil.example", "/\t/evil.example", "javascript:alert(1)"]
BROKEN = ["/h5/service%0d%0aSet-Cookie:%20x=1", "%0a", "/%00", "/h5/\nservice"]


def _location_stays_on_site(response) -> None:
    if response.status_code == 400:  # NUL is refused before any view runs
        return
    location = response.headers["Location"]
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location, location
    assert all(ord(c) > 0x20 and c != "\x7f" for c in location), location


@pytest.mark.parametrize("target", OFF_SITE + BROKEN)
def test_a11y_next_never_leaves_the_site(client, target):
    response = client.get(f"/h5/a11y?large=1&next={target}" if "%" in target else "/h5/a11y",
                          query_string=None if "%" in target else {"large": "1", "next": target})
    assert response.status_code == 302 or (response.status_code == 400 and "%00" in target)
    _location_stays_on_site(response)
    assert "evil.example" not in response.headers.get("Location", "")


@pytest.mark.parametrize("target", OFF_SITE + BROKEN)
def test_staff_login_next_never_leaves_the_site(client, seeded, target):
    path = f"/staff/login?next={target}" if "%" in target else "/staff/login"
    response = client.post(path, query_string=None if "%" in target else {"next": target},
                           data=seeded["users"]["nurse"])
    assert response.status_code == 302 or (response.status_code == 400 and "%00" in target)
    _location_stays_on_site(response)
    assert "evil.example" not in response.headers.get("Location", "")


def test_same_site_next_is_kept(client, seeded):
    assert client.get("/h5/a11y?large=1&next=/h5/code").headers["Location"] == "/h5/code"
    response = client.post("/staff/login?next=/scan", data=seeded["users"]["nurse"])
    assert response.headers["Location"] == "/scan"


# -- vouchers -------------------------------------------------------------------------------------

def test_nurse_opens_only_vouchers_of_their_own_site(db_session, seeded, client, auth):
    card, _, _ = make_card(db_session, seeded, seq=731, name="凭证甲")
    nurse = _user(db_session, seeded, "nurse")
    own = scan_event(db_session, nurse.site_name, card_id=card.id, voucher_no="JZ20261128OWN00001").voucher_no
    other = scan_event(db_session, "另一区接种点", card_id=card.id, voucher_no="JZ20261128OTHER001").voucher_no
    db_session.commit()
    auth.login("nurse")
    assert client.get(f"/scan/voucher/{own}").status_code == 200
    assert client.get(f"/scan/voucher/{other}").status_code == 404


# -- /metrics in production -------------------------------------------------------------------------

def test_production_refuses_to_start_without_ops_token():
    base = {**PRODUCTION, "DATABASE_URL": "postgresql+psycopg://u@db.invalid/erhc"}
    base.pop("OPS_TOKEN", None)
    with pytest.raises(ConfigError) as info:
        create_app(dict(base))
    assert "ERHC_OPS_TOKEN" in str(info.value)
    create_app({**base, "OPS_TOKEN": "t" * 32})
    quiet = create_app({**base, "METRICS_ENABLED": False})
    assert quiet.test_client().get("/metrics").status_code == 404


# -- four eyes on filings -----------------------------------------------------------------------------

def _submitted_by(db_session, author: StaffUser, filing_no: str) -> FiledApp:
    app = filing.create_application(db_session, {
        "app_name": "四眼原则测试App", "app_filing_no": filing_no, "org_name": "某卫健委", "org_filing_no": "ORG-1",
        "builder_unit": "某建设单位", "builder_contact": "张三 0571-1", "developer_unit": "某开发单位",
        "developer_contact": "李四 0571-2", "auth_methods": "1^2"}, actor_id=author.id)
    app.ui_design_files = ["screen.png"]
    filing.transition(db_session, app, "submit", actor_id=author.id)
    db_session.commit()
    return app


def test_creator_cannot_approve_own_filing_nor_see_its_secret(app, client, db_session, seeded):
    author = create_user(db_session, "author.one", "password-author-1", "reviewer")
    checker = create_user(db_session, "checker.two", "password-checker-2", "reviewer")
    db_session.commit()
    filed = _submitted_by(db_session, author, "FOUR-EYES-1")
    client.post("/staff/login", data={"username": "author.one", "password": "password-author-1"})
    html = client.post(f"/staff/filing/{filed.id}/approve", data={"review_opinion": "同意"},
                       follow_redirects=True).get_data(as_text=True)
    assert "不能由您本人审核通过" in html and 'id="launch-secret"' not in html
    db_session.expire_all()
    assert db_session.get(FiledApp, filed.id).status == "submitted"
    # approved by another reviewer and then by the province, the author still cannot have a secret shown
    # by rotating it
    filing.transition(db_session, db_session.get(FiledApp, filed.id), "approve", actor_id=checker.id)
    given = DecisionInput(outcome="approved", opinion="同意备案", decided_on=beijing_today(),
                          app_filing_no="ZJ-FOUR-EYES-1", access_code="330100000301")
    record_decision(db_session, db_session.get(FiledApp, filed.id), given, actor_id=checker.id,
                    source=DecisionSource.CONSOLE, issue_secret=True, require_form=False)
    db_session.commit()
    version = db_session.get(FiledApp, filed.id).secret_version
    html = client.post(f"/staff/filing/{filed.id}/rotate", follow_redirects=True).get_data(as_text=True)
    assert 'id="launch-secret"' not in html and "查看接入密钥" in html
    db_session.expire_all()
    assert db_session.get(FiledApp, filed.id).secret_version == version


def test_submitter_cannot_approve_a_filing_someone_else_drafted(app, db_session, seeded):
    drafter = create_user(db_session, "drafter.one", "password-drafter-1", "reviewer")
    submitter = create_user(db_session, "submitter.two", "password-submit-2", "reviewer")
    db_session.commit()
    filed = filing.create_application(db_session, {
        "app_name": "提交人测试App", "app_filing_no": "FOUR-EYES-2", "org_name": "某卫健委", "org_filing_no": "ORG-2",
        "builder_unit": "某建设单位", "builder_contact": "张三 0571-1", "developer_unit": "某开发单位",
        "developer_contact": "李四 0571-2", "auth_methods": "4"}, actor_id=drafter.id)
    filed.ui_design_files = ["screen.png"]
    filing.transition(db_session, filed, "submit", actor_id=submitter.id)
    db_session.commit()
    with pytest.raises(filing.FilingError) as info:
        filing.transition(db_session, filed, "approve", actor_id=submitter.id)
    assert info.value.reason == "four_eyes"

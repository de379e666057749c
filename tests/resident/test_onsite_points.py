"""The on-site points page: the city's points and hotline, open before any launch, linked from the pages that send a resident there."""
from __future__ import annotations

import re

POINTS = [{"name": "测试街道便民服务中心", "address": "测试路100号", "hours": "周一至周五 8:30-17:00"},
          {"name": "<b>标记</b>", "address": "地址二"}]


def test_points_and_hotline_without_a_session(app, client):
    app.config.update(HOTLINE="0571-12345", ONSITE_POINTS=POINTS)
    response = client.get("/h5/onsite-points")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "测试街道便民服务中心" in page and "测试路100号" in page and "周一至周五 8:30-17:00" in page
    assert 'href="tel:0571-12345"' in page
    assert "<b>标记</b>" not in page and "&lt;b&gt;标记&lt;/b&gt;" in page  # configured text is escaped


def test_sandbox_shows_samples_production_says_none_published(app, client):
    app.config.update(HOTLINE="", ONSITE_POINTS=[])
    assert "(示例)" in client.get("/h5/onsite-points").get_data(as_text=True)
    app.config["SANDBOX"] = False
    page = client.get("/h5/onsite-points").get_data(as_text=True)
    assert 'id="no-points"' in page and 'id="no-hotline"' in page and "tel:" not in page


def test_back_link_stays_on_this_site(client):
    page = client.get("/h5/onsite-points?next=//evil.example/x").get_data(as_text=True)
    assert "evil.example" not in page
    page = client.get("/h5/onsite-points?next=/h5/methods").get_data(as_text=True)
    assert re.search(r'href="/h5/methods">返回<', page)


def test_linked_from_methods_face_pending_and_lock(journey, client, app):
    journey.ready()
    link = 'href="/h5/onsite-points?next='
    assert link in client.get("/h5/methods").get_data(as_text=True)
    assert link in client.get("/h5/verify/face").get_data(as_text=True)
    assert client.post("/h5/verify/onsite").headers["Location"] == "/h5/verify/onsite"
    assert link in client.get("/h5/verify/onsite").get_data(as_text=True)


def test_linked_from_the_lock_page(journey, client, app):
    link = 'href="/h5/onsite-points?next='
    journey.ready(identity={"name": "测试失败"})
    for _ in range(app.config["LOCKOUT_FAILURES"]):
        if client.post("/h5/verify/two-factor").headers["Location"] == "/h5/status":
            if journey.vs().state == "locked":
                break
            journey.consent()
            journey.identity(name="测试失败")
            journey.profile()
    assert journey.vs().state == "locked"
    assert link in client.get("/h5/status").get_data(as_text=True)

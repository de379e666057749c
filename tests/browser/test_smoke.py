"""The browser harness itself: Chromium opens the live server's pages."""
from __future__ import annotations


def test_healthz_and_staff_login_render(phone, live_server, artifacts_dir):
    phone.goto(live_server.url + "/healthz")
    assert '"ok"' in phone.content()
    phone.goto(live_server.url + "/staff/login")
    assert phone.get_by_label("用户名").is_visible()
    phone.screenshot(path=str(artifacts_dir / "staff-login.png"))

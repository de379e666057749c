"""The code page as a nurse and a resident read it: the service, a live clock, the state in words."""
from __future__ import annotations

import datetime as dt

from tests.browser.test_code_scan import _launch_and_issue

BEIJING = dt.timezone(dt.timedelta(hours=8))


def test_the_code_page_shows_the_service_a_ticking_clock_and_the_state(phone, live_server, artifacts_dir):
    _launch_and_issue(phone, live_server, name="王六", seq=531, methods="2")
    phone.clock.install()  # the page's clock: starts now, and the test moves it on
    phone.goto(live_server.url + "/h5/code")
    assert phone.locator("#code-service").inner_text() == "接种疫苗"
    assert phone.locator("#code-state").inner_text().startswith("已实名")
    first = phone.locator("#code-clock").inner_text()
    shown = dt.datetime.strptime(first, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    assert abs((shown - dt.datetime.now(dt.UTC)).total_seconds()) < 5  # Beijing time, now
    phone.clock.run_for(1000)
    assert phone.locator("#code-clock").inner_text() != first  # it ticks: a screenshot does not
    phone.get_by_role("link", name="大字模式").click()
    phone.wait_for_url("**/h5/code")
    assert "large" in (phone.locator("html").get_attribute("class") or "")
    phone.screenshot(path=str(artifacts_dir / "code-page-large.png"), full_page=True)

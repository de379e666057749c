"""Browser fixtures: a live server on a fresh database and Debian's Chromium through Playwright."""
from __future__ import annotations

import json
import os

import pytest

from erhc_h5.sandbox import demo
from erhc_h5.db import session_scope
from tests.support import CHROMIUM, CHROMIUM_ARGS, LiveServer  # noqa: F401 - the browser tests import them here

PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN", "user_agent": "Mozilla/5.0 (Linux; Android 10; erhc-test) AppleWebKit/537.36 "
         "(KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture
def live_server(fresh_app):
    """The app served on 127.0.0.1 (a secure context for the camera), with demo data seeded."""
    fresh_app.config.update(WTF_CSRF_ENABLED=True, PROVINCE_URL="http://127.0.0.1:9/unused")
    with fresh_app.app_context(), session_scope(fresh_app) as session:
        fresh_app.config["DEMO"] = demo.seed(fresh_app, session)
    server = LiveServer(fresh_app).start()
    yield server
    server.stop()


@pytest.fixture
def phone(browser, live_server):
    """A phone-sized page; the camera is granted for the live server's origin."""
    context = browser.new_context(**PHONE)
    context.grant_permissions(["camera"], origin=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def demo_json(live_server) -> dict:
    return json.loads(json.dumps(live_server.app.config["DEMO"]))

"""The database unreachable: every route that needs it answers 503 with Retry-After and a Chinese page
(or JSON reason), never a 500 or a bare server page; the error page itself needs no database."""
from __future__ import annotations

import socket

import pytest
from flask_login.utils import _create_identifier

from tests.code.helpers import resident_cookie
from tests.support import make_app

HTML_MESSAGE = "系统数据服务暂时无法连接"


def _closed_port() -> int:
    """A local port where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["postgresql", "sqlite"])
def dead_app(request, tmp_path):
    if request.param == "postgresql":
        url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/erhc"
    else:
        url = f"sqlite:///{tmp_path / 'missing-dir' / 'erhc.sqlite3'}"  # the directory does not exist
    return make_app(url, DATABASE_RETRY_AFTER_SECONDS=17)


def _as_staff(client) -> None:
    """A staff sign-in cookie: Flask-Login will try to load the user from the database."""
    with client.application.test_request_context(environ_base=client.environ_base):
        identifier = _create_identifier()
    with client.session_transaction() as sess:
        sess["_user_id"], sess["_fresh"], sess["_id"] = "1:1", True, identifier  # "id:session version"


def _as_resident(client) -> None:
    with client.session_transaction() as sess:
        sess["resident"] = resident_cookie(1, 1)


def _assert_unavailable_page(response) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 503, (response.status_code, body[:200])
    assert response.headers["Retry-After"] == "17"
    assert response.mimetype == "text/html" and HTML_MESSAGE in body and "database_unavailable" in body
    assert "Internal Server Error" not in body and "Traceback" not in body


def _assert_unavailable_json(response) -> None:
    assert response.status_code == 503, (response.status_code, response.get_data(as_text=True)[:200])
    assert response.headers["Retry-After"] == "17"
    body = response.get_json()
    assert body["error"] == "database_unavailable" and HTML_MESSAGE in body["message"]


STAFF_PAGES = ["/staff/", "/ops", "/scan", "/staff/admin/devices", "/staff/filing/", "/staff/onsite/",
               "/staff/admin/audit"]
RESIDENT_PAGES = ["/h5/service", "/h5/code", "/h5/identity", "/h5/methods", "/h5/verify/onsite"]


def test_pages_answer_503_with_a_chinese_page(dead_app):
    client = dead_app.test_client()
    _assert_unavailable_page(client.get("/"))  # the demo launch looks up the demo app
    _assert_unavailable_page(client.post("/staff/login", data={"username": "admin", "password": "x"}))
    _as_staff(client)
    for path in STAFF_PAGES:
        _assert_unavailable_page(client.get(path))
    resident = dead_app.test_client()
    _as_resident(resident)
    for path in RESIDENT_PAGES:
        _assert_unavailable_page(resident.get(path))


def test_error_pages_of_other_errors_need_no_database(dead_app):
    client = dead_app.test_client()
    _as_staff(client)  # the page's context processor would load this user from the dead database
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "页面不存在" in missing.get_data(as_text=True)


def test_json_routes_answer_503_with_a_reason(dead_app):
    client = dead_app.test_client()
    scan = client.post("/api/v1/scan", json={"code": "EHC1.x"}, headers={"Authorization": "Bearer dev_abc"})
    _assert_unavailable_json(scan)
    _assert_unavailable_json(make_app(dead_app.config["DATABASE_URL"], OPS_TOKEN="t", DATABASE_RETRY_AFTER_SECONDS=17).test_client().get(
        "/ops/status.json", headers={"Authorization": "Bearer t"}))
    resident = dead_app.test_client()
    _as_resident(resident)
    _assert_unavailable_json(resident.get("/h5/code/token.json"))
    _assert_unavailable_json(resident.get("/h5/status.json"))


def test_province_verification_answers_503_when_signed_and_401_when_not(dead_app):
    """A signed 验码 call needs the database (nonce, card): 503; an unsigned one is refused before."""
    from erhc_h5.sync.province_verify import from_config

    client = dead_app.test_client()
    signed = from_config(dead_app.config, "http://localhost").prepare("EHC1.x", "T-1")
    _assert_unavailable_json(client.post(signed.path, data=signed.body, headers=signed.headers))
    unsigned = client.post(signed.path, data=signed.body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401 and unsigned.json["error"] == "unknown_app_id"


def test_health_answers_and_readiness_names_the_database(dead_app):
    client = dead_app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["Retry-After"] == "17"
    assert ready.get_json()["checks"]["database"] == "unavailable"
    assert ready.get_json()["status"] == "not_ready"


def test_outage_is_counted_for_prometheus(dead_app):
    client = dead_app.test_client()
    client.post("/api/v1/scan", json={"code": "x"}, headers={"Authorization": "Bearer dev_abc"})
    metrics = dead_app.extensions["erhc_metrics"]
    assert metrics.dependency_failures.labels("database")._value.get() == 1

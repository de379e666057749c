"""One error shape: every domain refusal is a DomainError, and the one handler turns it into the
contract's JSON ``{"error", "message"}`` on API routes or the error page, with its status; never a 500."""
from __future__ import annotations

import importlib
import logging
import pkgutil

import pytest

import erhc_h5
from erhc_h5.code.keys import KeyRefused
from erhc_h5.code.tokens import CodeError
from erhc_h5.errors import DomainError
from erhc_h5.filing.province_inbox import InboxRefusal
from erhc_h5.filing.services import FilingError
from erhc_h5.ops.auditlog import AuditQueryError
from erhc_h5.records.idnumbers import IdNumberError
from erhc_h5.records.standard import Violation
from erhc_h5.records.versions import RecordInvalid
from erhc_h5.cards.importer import ImportRefused
from erhc_h5.resident.launch import LaunchError
from erhc_h5.resident.onsite import AlreadyHandled, DocumentMismatch
from erhc_h5.resident.verification import TransitionError
from erhc_h5.sandbox.cities import Unroutable
from erhc_h5.sandbox.filing_books import ReviewError
from erhc_h5.scan.devices import DeviceError
from erhc_h5.scan.province import Refused
from erhc_h5.staff.passwords import WeakPassword
from erhc_h5.staff.services import StaffError
from erhc_h5.sandbox.province_books import Refusal

# name -> (how it is raised, the status and reason a caller must see). Statuses as the contract
# states them (SPEC §3, docs/contracts.md): 401 for the province's signature, 413 for a body too
# large, 403/400 for launch refusals, 422 for input the rules refuse, 409 for work someone else did.
CASES = {
    "review": (lambda: ReviewError("opinion", "请填写管理单位意见(1至500字)"), 422, "review_refused"),
    "unroutable": (lambda: Unroutable("unknown_city", "未知的发码城市"), 422, "unknown_city"),
    "audit_filter": (lambda: AuditQueryError("日期格式应为 YYYY-MM-DD"), 422, "bad_filter"),
    "record": (lambda: RecordInvalid([Violation("phone", "bad_format", "手机号应为11位数字")]), 422, "record_invalid"),
    "id_number": (lambda: IdNumberError("bad_check_digit", "身份证号校验位不正确"), 422, "bad_check_digit"),
    "code": (lambda: CodeError("expired"), 422, "expired"),
    "key": (lambda: KeyRefused("找不到签名密钥 k9"), 404, "unknown_key"),
    "password": (lambda: WeakPassword("password_too_short", "密码至少10位"), 422, "password_too_short"),
    "staff": (lambda: StaffError("用户名已存在", "duplicate_username"), 422, "duplicate_username"),
    "upload_refusal": (lambda: Refusal(413, "too_large", "请求内容过大"), 413, "too_large"),
    "inbox": (lambda: InboxRefusal(409, "not_pending", "该备案申请不在待省级审批状态"), 409, "not_pending"),
    "filing": (lambda: FilingError("bad_method", "实名认证方式只能是1至4", "auth_methods"), 422, "bad_method"),
    "province": (lambda: Refused.unauthorized("bad_signature"), 401, "bad_signature"),
    "device": (lambda: DeviceError("bad_name", "设备名称不能为空"), 422, "bad_name"),
    "launch_cross_site": (lambda: LaunchError("cross_site"), 403, "cross_site"),
    "launch_expired": (lambda: LaunchError("expired"), 400, "expired"),
    "import_refused": (lambda: ImportRefused("bad_header", "表头缺少必填列:name"), 422, "bad_header"),
    "document": (lambda: DocumentMismatch(), 422, "document_mismatch"),
    "handled": (lambda: AlreadyHandled(), 409, "already_handled"),
    "transition": (lambda: TransitionError("passed -> created"), 409, "stale_state"),
}


@pytest.fixture
def raising(app):
    """A client of an app with one route that raises the named case, on an API path and a page path."""

    def boom(name: str):
        raise CASES[name][0]()

    app.add_url_rule("/api/v1/test-raise/<name>", "test_raise_api", boom)
    app.add_url_rule("/test-raise/<name>", "test_raise_page", boom)
    return app.test_client()


def _all_domain_errors() -> set[type]:
    for module in pkgutil.walk_packages(erhc_h5.__path__, "erhc_h5."):
        try:
            importlib.import_module(module.name)
        except ImportError:  # an optional vendor SDK is not installed
            continue
    found, todo = set(), [DomainError]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.add(sub)
            todo.append(sub)
    return {cls for cls in found if cls.__module__.startswith("erhc_h5.") and cls.__module__ != "erhc_h5.errors"}


def test_every_domain_error_of_the_package_is_tried_here():
    tried = {type(factory()) for factory, _, _ in CASES.values()}
    assert _all_domain_errors() <= tried


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_api_route_answers_json_with_the_status_and_reason(raising, name):
    factory, status, reason = CASES[name]
    response = raising.get(f"/api/v1/test-raise/{name}")
    assert response.status_code == status
    body = response.get_json()
    assert body == {"error": reason, "message": factory().message}
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_page_shows_the_error_page_with_the_status_and_reason(raising, name):
    factory, status, reason = CASES[name]
    response = raising.get(f"/test-raise/{name}", headers={"Accept": "text/html"})
    assert response.status_code == status
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert f'data-reason="{reason}"' in page
    assert "Traceback" not in page


def test_a_refused_signature_names_the_scheme(raising):
    response = raising.get("/api/v1/test-raise/province")
    assert response.headers["WWW-Authenticate"] == 'ErhcSignature realm="erhc-province-verify"'
    assert "WWW-Authenticate" not in raising.get("/api/v1/test-raise/inbox").headers


def test_the_refusal_is_logged_by_reason_without_its_message(raising, caplog):
    caplog.set_level(logging.INFO, logger="erhc")
    raising.get("/api/v1/test-raise/record")
    events = [r.event for r in caplog.records if getattr(r, "event", {}).get("event") == "request.refused"]
    assert events == [{"event": "request.refused", "reason": "record_invalid", "status": 422,
                       "endpoint": "test_raise_api"}]


def test_existing_catches_still_see_their_old_bases():
    """Callers that catch ValueError, LookupError or RuntimeError keep catching these."""
    assert isinstance(CodeError("malformed"), ValueError)
    assert isinstance(KeyRefused("x"), LookupError)
    assert isinstance(TransitionError("a -> b"), RuntimeError)
    assert str(StaffError("用户名已存在")) == "用户名已存在" and StaffError("用户名已存在").reason == "refused"
    assert Refusal(400, "bad_request", "请求体应为 JSON").as_reply() == {"error": "bad_request", "message": "请求体应为 JSON"}


def test_the_database_condition_is_read_from_the_drivers_own_errors():
    """SQLSTATEs from PostgreSQL's errcodes table (53100 disk_full, 25006 read_only_sql_transaction) and
    SQLite's result texts, wrapped as SQLAlchemy wraps them; anything else is no condition."""
    import sqlite3

    import psycopg
    from sqlalchemy.exc import InternalError, OperationalError

    from erhc_h5.errors import database_condition, is_database_outage

    cases = [
        (OperationalError("INSERT", {}, psycopg.errors.lookup("53100")("could not extend file")), "disk_full"),
        (InternalError("UPDATE", {}, psycopg.errors.lookup("25006")("read-only transaction")), "read_only"),
        (OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full")), "disk_full"),
        (OperationalError("INSERT", {}, sqlite3.OperationalError("attempt to write a readonly database")), "read_only"),
        (OperationalError("SELECT", {}, psycopg.errors.lookup("57P01")("terminating connection")), None),
        (ValueError("read-only"), None),
    ]
    for exc, expected in cases:
        assert database_condition(exc) == expected, exc
    assert is_database_outage(cases[1][0]), "a read-only refusal is answered as an outage, not a 500"

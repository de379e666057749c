"""Fuzz pass over every POST route and every query-reading GET: random forms, files and bodies, never a 500.

``FORMS`` maps each POST endpoint to the role that may use it and its real field names; a test checks
that it covers every POST rule in ``app.url_map`` so a new form without fuzzing fails the suite.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import secrets
import time
import traceback

import pytest
from flask import url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from erhc_h5.scan.models import ScanDevice
from erhc_h5.staff.models import StaffUser
from erhc_h5.sync.province_signing import signed_headers
from tests.factories import sandbox_filing
from tests.filing.helpers import form_data as filing_form
from tests.support import IDENTITY, Journey, PROFILE

EXAMPLES = 25

TEXT, BOOL, INT, FLOAT, CHOICE, FILE = "text", "bool", "int", "float", "choice", "file"
IDENTITY_FIELDS = {"name": TEXT, "id_card_type_code": CHOICE, "idcode": TEXT, "nationality": CHOICE}
PROFILE_FIELDS = {"sex": CHOICE, "birthday": TEXT, "nation": CHOICE, "phone": TEXT, "county_code": CHOICE,
                  "current_address": TEXT, "address": TEXT, "birthplace": TEXT, "linkman": TEXT, "telephone": TEXT}
FILING_FIELDS = {"app_name": TEXT, "app_filing_no": TEXT, "org_name": TEXT, "org_filing_no": TEXT,
                 "builder_unit": TEXT, "builder_contact": TEXT, "developer_unit": TEXT, "developer_contact": TEXT,
                 "auth_methods": CHOICE, "allowed_origins": TEXT}

# endpoint → (role, fields, URL arguments taken from the world fixture: name → world key or fixed choices)
FORMS: dict[str, tuple[str, dict, dict]] = {
    "staff.login": ("anonymous", {"username": TEXT, "password": TEXT}, {}),
    "staff.logout": ("nurse", {}, {}),
    "staff.change_password": ("anonymous", {"new_password": TEXT, "confirm": TEXT}, {}),
    "scan.device": ("anonymous", {"token": TEXT}, {}),
    "scan.forget_device": ("anonymous", {}, {}),
    "scan.console": ("nurse", {"code": TEXT}, {}),
    "scan.api_scan": ("device", {"code": TEXT}, {}),
    "province.upload": ("signed", {}, {}),
    "province_verify.verify": ("verify-signed", {}, {}),
    "sandbox_vaccination.vaccination": ("anonymous", {"code": TEXT}, {}),
    "province_filing.filing_decision": ("verify-signed", {}, {}),
    "sandbox_filings.receive": ("signed", {}, {}),
    "sandbox_filings.decide": ("anonymous", {"outcome": CHOICE, "app_filing_no": TEXT, "access_code": TEXT,
                                             "opinion": TEXT}, {"application_id": "province_application_id"}),
    "sandbox_filings.notify": ("anonymous", {}, {"application_id": "province_application_id"}),
    "province.faults": ("anonymous", {"error_rate": FLOAT, "latency_ms": INT, "status": INT, "retry_after": INT,
                                      "drop_connection": BOOL, "garbled_reply": BOOL, "stored_then_500": BOOL,
                                      "reject_field": TEXT, "count": INT}, {}),
    "ops.requeue": ("ops", {"entry_id": INT}, {}),
    "admin.users": ("admin", {"username": TEXT, "display_name": TEXT, "role": CHOICE, "site_name": TEXT,
                              "password": TEXT}, {}),
    "admin.user_role": ("admin", {"role": CHOICE}, {"user_id": "user_id"}),
    "admin.user_active": ("admin", {}, {"user_id": "user_id", "what": ("deactivate", "activate")}),
    "admin.user_password": ("admin", {}, {"user_id": "user_id"}),
    "admin.devices": ("admin", {"name": TEXT, "site_name": TEXT}, {}),
    "admin.device_revoke": ("admin", {}, {"device_id": "device_id"}),
    "filing.create": ("reviewer", FILING_FIELDS, {}),
    "filing.edit": ("reviewer", FILING_FIELDS, {"app_id": "app_id"}),
    "filing.act": ("reviewer", {"review_opinion": TEXT},
                   {"app_id": "app_id", "action": ("submit", "approve", "reject", "suspend", "reinstate")}),
    "filing.rotate": ("reviewer", {}, {"app_id": "app_id"}),
    "filing.decide": ("reviewer", {"outcome": CHOICE, "app_filing_no": TEXT, "access_code": TEXT, "opinion": TEXT,
                                   "decided_on": TEXT, "stamped_form": FILE}, {"app_id": "app_id"}),
    "filing.upload_screen": ("reviewer", {"screen": FILE}, {"app_id": "app_id"}),
    "filing.delete_screen": ("reviewer", {}, {"app_id": "app_id", "name": "screen"}),
    "onsite.home": ("operator", {"code": TEXT}, {}),
    "onsite.review": ("operator", {"document_number": TEXT, "document_checked": BOOL, "note": TEXT, "action": CHOICE},
                               {"code": "onsite_code"}),
    "onsite.register": ("operator", {"app": CHOICE, "note": TEXT, **IDENTITY_FIELDS, **PROFILE_FIELDS},
                                 {}),
    "unlock.lift": ("operator", {"document_checked": BOOL, "note": TEXT, **IDENTITY_FIELDS}, {}),
    "resident.consent": ("resident", {"agree": BOOL}, {}),
    "resident.launch_confirm": ("resident", {"action": CHOICE}, {}),
    "resident.identity": ("resident", IDENTITY_FIELDS, {}),
    "resident.profile": ("resident", PROFILE_FIELDS, {}),
    "resident.verify.two_factor": ("resident", {}, {}),
    "resident.verify.sms": ("resident", {"otp": TEXT}, {}),
    "resident.verify.sms_send": ("resident", {}, {}),
    "resident.verify.three_factor": ("resident", {}, {}),
    "resident.verify.face": ("resident", {"photo": FILE}, {}),
    "resident.verify.face_device": ("resident", {"meta_info": TEXT}, {}),
    "resident.verify.onsite_choose": ("resident", {}, {}),
    "cards.find": ("operator", {"id_card_type_code": CHOICE, "idcode": TEXT, "nationality": CHOICE}, {}),
    "cards.cancel": ("operator", {"reason": TEXT, "confirmed": BOOL}, {"card_id": "card_id"}),
    "code.cancel": ("resident", {"confirm": CHOICE}, {}),
}

# GET endpoints that read query parameters: endpoint → (role, parameter names, URL arguments)
QUERIES: dict[str, tuple[str, dict, dict]] = {
    "resident.launch": ("anonymous", {k: TEXT for k in ("app", "uid", "ts", "nonce", "sig", "hint")}, {}),
    "resident.a11y": ("anonymous", {"next": TEXT, "large": CHOICE}, {}),
    "staff.login": ("anonymous", {"next": TEXT}, {}),
    "admin.audit_log": ("admin", {"action": TEXT, "actor": TEXT, "date_from": TEXT, "date_to": TEXT, "page": INT},
                        {}),
    "filing.index": ("reviewer", {"status": CHOICE}, {}),
    "code.face": ("resident", {"format": CHOICE}, {}),
    "scan.voucher": ("nurse", {}, {"voucher_no": ("V" + "0" * 12, "x" * 80, "../../etc", "%00", "a\x00b")}),
    "filing.screen": ("reviewer", {}, {"app_id": "app_id", "name": "screen"}),
}

SPECIAL = ["", " ", "0", "-1", "1e309", "NaN", "inf", "y", "on", "true", "01", "02", "99", "9" * 40, "٣",
           "330106199003071236", "13800000001", "2024-02-30", "1900-01-01", "<script>alert(1)</script>",
           "' OR 1=1 --", "%00", "\x00", "\r\n", "../../../etc/passwd", "//evil.example", "\\\\x", "𠀀𠀀",
           "confirm", "reject", "admin", "nurse", "1^2^3^4", "4", "3", "svg", "png", "approved", "draft",
           "EHC2.3301.k1.r.i.e.n.s", "EHC2.9999.k1.r", "EHC1.k1.r.i.e.n.s"]
TEXTS = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=30),
    st.text(st.characters(max_codepoint=0x1F, exclude_characters=""), max_size=10),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=6), st.integers(50, 2000)),
    st.integers().map(str),
    st.floats(allow_nan=True).map(str),
)
KEYS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="[]"), min_size=1,
               max_size=12) | st.sampled_from(["名字", "csrf_token", "submit", "code[]", "a.b"])


def _image(fmt: str, size: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (120, 90, 60)).save(buffer, fmt)
    return buffer.getvalue()


FILE_BODIES = st.one_of(st.binary(max_size=300), st.sampled_from([b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
                                                                  b"\xff\xd8\xff\xe0garbage", b"GIF89a"]),
                        st.builds(_image, st.sampled_from(["PNG", "JPEG", "GIF", "BMP"]), st.integers(1, 200)))


@st.composite
def fuzzed_form(draw, fields: dict):
    """Real field names with random values (missing, repeated, wrong types, files where text is wanted)."""
    data: dict = {}
    for name, kind in fields.items():
        how = draw(st.sampled_from(["value", "value", "missing", "repeat", "file"]))
        if how == "missing":
            continue
        if kind == FILE or how == "file":
            data[name] = (io.BytesIO(draw(FILE_BODIES)), draw(st.sampled_from(["a.png", "b.jpg", "", "x.exe",
                                                                                 "照片.jpeg", "../../x.png"])))
        elif how == "repeat":
            data[name] = draw(st.lists(TEXTS, min_size=2, max_size=3))
        else:
            data[name] = draw(TEXTS)
    for key, value in draw(st.dictionaries(KEYS, TEXTS, max_size=3)).items():
        data.setdefault(key, value)
    return data


def _signed_headers(app, path: str, body: bytes) -> dict:
    stamp, nonce = str(int(time.time())), secrets.token_hex(16)
    message = f"POST\n{path}\n{stamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}".encode()
    signature = hmac.new(str(app.config["PROVINCE_SECRET"]).encode(), message, hashlib.sha256).hexdigest()
    return {"X-Erhc-App-Id": str(app.config["PROVINCE_APP_ID"]), "X-Erhc-Timestamp": stamp,
            "X-Erhc-Nonce": nonce, "X-Erhc-Signature": signature, "Content-Type": "application/json"}


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | TEXTS,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXTS, inner, max_size=3),
                           max_leaves=8)
JSON_BODIES = st.one_of(
    st.binary(max_size=200),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"code": TEXTS}).map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
    st.lists(st.dictionaries(st.sampled_from(["name", "idcode", "recognize_flag", "cd_operation", "phone",
                                              "authentication_method", "birthday"]), JSON_VALUES),
             max_size=3).map(lambda v: json.dumps({"records": v}).encode()),
)


@pytest.fixture
def world(app, client, db_session, seeded, tmp_path):
    """Real objects the URLs need: a filed app with a screen, a staff user, a device, a pending on-site code."""
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    app.config["SANDBOX_PROVINCE_CITIES"] = {"3301": "http://127.0.0.1:9"}  # the province's page: a closed port
    auth_client = app.test_client()
    auth_client.post("/staff/login", data=seeded["users"]["reviewer"])
    created = auth_client.post("/staff/filing/new", data=filing_form(app_filing_no="FUZZ0001"))
    app_id = int(re.search(r"/staff/filing/(\d+)", created.headers["Location"]).group(1))
    auth_client.post(f"/staff/filing/{app_id}/screens", data={"screen": (io.BytesIO(_image("PNG", 60)), "s.png")},
                     content_type="multipart/form-data")
    detail = auth_client.get(f"/staff/filing/{app_id}").get_data(as_text=True)
    screen = re.search(rf"/staff/filing/{app_id}/screens/([^/\"]+)\"", detail).group(1)

    pending = Journey(app.test_client(), db_session)
    pending.ready(uid="fuzz-onsite")
    assert pending.client.post("/h5/verify/onsite").status_code == 302
    nurse = seeded["users"]["nurse"]["username"]
    received = sandbox_filing(db_session, app_id, {"app_name": "模糊测试应用"})
    return {
        "province_application_id": received.id,
        "app_id": app_id, "screen": screen, "onsite_code": pending.vs().onsite_code,
        "user_id": db_session.scalar(select(StaffUser.id).where(StaffUser.username == nurse)),
        "device_id": db_session.scalar(select(ScanDevice.id).order_by(ScanDevice.id).limit(1)),
        "card_id": pending.vs().card_id,
    }


def _sign_in(role: str, client, seeded, db_session):
    if role == "resident":
        assert client.get("/", follow_redirects=True).status_code == 200
        journey = Journey(client, db_session)
        journey.consent()
        assert journey.identity(**IDENTITY).status_code == 302
        assert journey.profile(**PROFILE).status_code == 302
    elif role not in ("anonymous", "device", "signed", "verify-signed"):
        assert client.post("/staff/login", data=seeded["users"][role]).status_code == 302


def _url_strategy(app, endpoint: str, url_args: dict, world: dict):
    def source(src):
        if isinstance(src, tuple):
            return st.sampled_from(src)
        real = world[src]
        if isinstance(real, int):  # also ids that do not exist or overflow a database integer
            return st.sampled_from([real, real, real, 0, 2**31, 2**63, 10**30])
        return st.sampled_from([real, real, "x", "..", "0" * 80, "a\x00b"])

    options = {name: source(src) for name, src in url_args.items()}

    def build(values):
        with app.test_request_context():
            return url_for(endpoint, **values)

    return st.fixed_dictionaries(options).map(build)


@pytest.fixture(autouse=True)
def tracebacks(app):
    """Keep the traceback of any unexpected exception so a failing example says where it broke."""
    seen: list[str] = []
    original = app.handle_user_exception

    def keep(exc):
        if not isinstance(exc, HTTPException):
            seen.append("".join(traceback.format_exception(exc))[-3000:])
        return original(exc)

    app.handle_user_exception = keep
    return seen


def _assert_no_500(response, what: str, seen: list[str] | None = None):
    assert response.status_code < 500, f"{what} → {response.status_code}\n{(seen or [''])[-1]}"


@pytest.mark.parametrize("endpoint", sorted(FORMS))
def test_post_fuzz(app, client, seeded, db_session, world, tracebacks, endpoint):
    role, fields, url_args = FORMS[endpoint]
    _sign_in(role, client, seeded, db_session)
    urls = _url_strategy(app, endpoint, url_args, world)
    token = seeded["device_token"]

    if role in ("device", "signed", "verify-signed"):
        bodies = JSON_BODIES | st.fixed_dictionaries({"code": TEXTS, "terminal": TEXTS}).map(
            lambda v: json.dumps(v, ensure_ascii=False).encode())

        @given(url=urls, body=bodies, bearer=st.sampled_from([token, token, "", "x" * 300]))
        @settings(max_examples=EXAMPLES * 2, deadline=None, suppress_health_check=list(HealthCheck))
        def run_json(url, body, bearer):
            if role == "verify-signed":
                headers = signed_headers(app.config["PROVINCE_VERIFY_ID"], app.config["PROVINCE_VERIFY_SECRET"],
                                         url, body)
            else:
                headers = (_signed_headers(app, url, body) if role == "signed"
                           else {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"})
            reply = client.post(url, data=body, headers=headers)
            _assert_no_500(reply, f"POST {url}", tracebacks)
            if role == "verify-signed":  # a hostile code or body: a 4xx with a reason code
                assert 400 <= reply.status_code < 500 and reply.get_json()["error"] and reply.get_json()["message"]

        run_json()
        return

    @given(url=urls, data=fuzzed_form(fields), multipart=st.booleans())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def run(url, data, multipart):
        has_file = any(isinstance(v, tuple) for v in data.values())
        kind = "multipart/form-data" if (multipart or has_file) else "application/x-www-form-urlencoded"
        _assert_no_500(client.post(url, data=data, content_type=kind), f"POST {url} data={data!r}", tracebacks)

    run()


@pytest.mark.parametrize("endpoint", sorted(QUERIES))
def test_query_fuzz(app, client, seeded, db_session, world, tracebacks, endpoint):
    role, params, url_args = QUERIES[endpoint]
    _sign_in(role, client, seeded, db_session)

    @given(url=_url_strategy(app, endpoint, url_args, world), query=fuzzed_form({**params, **{
        k: TEXT for k in params}}).map(lambda d: {k: v for k, v in d.items() if not isinstance(v, tuple)}))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def run(url, query):
        _assert_no_500(client.get(url, query_string=query), f"GET {url} params={query!r}", tracebacks)

    run()


def test_every_post_route_is_fuzzed(app):
    posts = {rule.endpoint for rule in app.url_map.iter_rules()
             if "POST" in (rule.methods or ()) and rule.endpoint != "static"}
    assert posts - set(FORMS) == set(), "POST routes without a fuzz entry in FORMS"
    assert set(FORMS) - posts == set(), "FORMS lists endpoints that no longer accept POST"
    assert set(QUERIES) <= {rule.endpoint for rule in app.url_map.iter_rules()}


def test_fuzzer_sees_a_500(app, client):
    """The check itself can fail: a route that raises is reported, not hidden."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def boom():
        raise RuntimeError("fuzz canary")

    app.add_url_rule("/__fuzz_canary", "fuzz_canary", boom, methods=["POST"])
    with pytest.raises(AssertionError, match="500"):
        _assert_no_500(client.post("/__fuzz_canary", data={"a": "b"}), "POST /__fuzz_canary")


# --- what the fuzz found, pinned as plain examples ----------------------------------------------------

def test_file_in_a_text_field_is_a_400(client, auth):
    auth.login("admin")
    reply = client.post("/staff/admin/devices", data={"name": "扫码枪", "site_name": (io.BytesIO(b"x"), "a.png")},
                        content_type="multipart/form-data")
    body = reply.get_data(as_text=True)
    assert reply.status_code == 400 and "此处不能上传文件" in body and "unexpected_file" in body


@pytest.mark.parametrize("path", ["/staff/filing/1000000000000000000000000000000", "/staff/filing/2147483648/rotate"])
def test_ids_beyond_a_database_integer_are_not_found(client, auth, path):
    auth.login("reviewer")
    assert client.open(path, method="POST" if path.endswith("rotate") else "GET").status_code == 404


@pytest.mark.parametrize("where", ["form", "query", "path"])
def test_nul_characters_are_refused(client, seeded, where):
    if where == "form":
        reply = client.post("/staff/login", data={"username": "a\x00b", "password": "x" * 12})
    elif where == "query":
        reply = client.get("/h5/launch", query_string={"app": "a\x00", "uid": "u"})
    else:
        reply = client.get("/scan/voucher/a%00b")
    assert reply.status_code == 400


def test_requeue_entry_id_out_of_range_is_refused(client, auth):
    auth.login("ops")
    reply = client.post("/ops/requeue", data={"entry_id": str(2**40)})
    assert reply.status_code == 302 and reply.headers["Location"].endswith("/ops")


def test_malformed_input_has_a_stable_reason_code(client, seeded):
    api = client.post("/api/v1/scan?x=a%00b", json={"code": "x"})
    assert api.status_code == 400 and api.get_json()["error"] == "bad_characters"
    page = client.post("/staff/login", data={"username": "a\x00b", "password": "x" * 12})
    assert page.status_code == 400 and "无法处理的字符" in page.get_data(as_text=True)

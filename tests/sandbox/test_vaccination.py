"""The sandbox province's vaccination page in process: the city is faked with ``responses`` and
answers with literal specimens of the contract (SPEC "Province verification"); the province's held
records are rows written here. Case one, case two, the cross-check, routing, city failures and
bad input (never a 500)."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from html import unescape

import pytest
import requests
import responses
from sqlalchemy import delete

from erhc_h5 import create_app
from erhc_h5.config import ConfigError
from erhc_h5.sandbox.models import ProvinceRecord
from tests.factories import province_record
from tests.support import PRODUCTION

PAGE = "/sandbox-province/vaccination"
CITY = "http://city-3301.test"
VERIFY = CITY + "/api/v1/province/verify"
CODE = "EHC2.3301.k1.r3fd0a9c.m1abcd.m1abce.n0nce.c2lnbmF0dXJl"
TERMINAL = "PROV-VAX-TEST-07"
# A §5.2.2 record as the contract says the city returns it (obviously fake person, valid check digit).
RECORD = {
    "id": "0f8fad5bd9cb469fa165c7b7b0e1c2d3", "erhc_card_no": "A1" * 32, "empi": "9c" * 32, "name": "测试甲",
    "sex": "1", "nation": "01", "nationality": "CHN", "birthday": "1990-03-07", "address": None,
    "id_card_type_code": "01", "idcode": "330106199003071236", "phone": "13800000001", "linkman": None,
    "telephone": None, "birthplace": None, "county_code": "330106000", "current_address": "测试路1号",
    "authentication_method": "2^3", "app_record_no": "JR330100000001", "app_record_no_recognize": "BA3301000001",
    "recognize_flag": 1, "cd_time": "2026-12-03 10:00:00", "cd_source": "3301", "cd_batch": None, "cd_operation": "u",
}
NOT_AUTHENTICATED = {"result": "not_authenticated", "message": "该用户未进行实名认证"}


@pytest.fixture
def page(app, client, db_session):
    app.config.update(SANDBOX_PROVINCE_CITIES={"3301": CITY}, SANDBOX_PROVINCE_TERMINAL=TERMINAL,
                      SANDBOX_PROVINCE_DEFAULT_CITY="")
    db_session.execute(delete(ProvinceRecord))
    return client


@pytest.fixture
def city():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def scan(client, code=CODE):
    return client.post(PAGE, data={"code": code})


def verdict(response) -> dict:
    """The verdict section's data attributes and its visible text."""
    html = response.get_data(as_text=True)
    found = re.search(r'<section class="card verdict[^"]*" id="verdict"([^>]*)>(.*?)</section>', html, re.S)
    assert found, html
    attrs = dict(re.findall(r'data-([a-z]+)="([^"]*)"', found.group(1)))
    return {**attrs, "text": unescape(re.sub(r"<[^>]+>", " ", found.group(2)))}


def by_id(response, element_id: str) -> str:
    html = response.get_data(as_text=True)
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    return unescape(found.group(1)).strip() if found else ""


def test_case_two_shows_the_basic_information_and_a_voucher_on_the_same_page(page, city, db_session):
    province_record(db_session, RECORD)
    city.post(VERIFY, json={"result": "authenticated", "record": RECORD})
    response = scan(page)
    assert response.status_code == 200
    shown = verdict(response)
    assert shown["result"] == "authenticated" and "已实名认证" in shown["text"]
    assert [by_id(response, i) for i in ("resident-name", "resident-sex", "resident-birthday", "resident-id-type",
                                         "resident-idcode", "resident-methods")] == [
        "测试甲", "男", "1990-03-07", "居民身份证", "330106199003071236", "三要素认证+面部识别"]
    html = response.get_data(as_text=True)
    assert 'id="print-voucher"' in html and "打印接种疫苗凭证" in html and 'target="_blank"' not in html
    assert 'id="voucher"' in html and by_id(response, "voucher-idcode") == "3301**********1236"
    assert re.search(r'id="cross-check"[^>]*data-check="match"', html)
    for private in ("13800000001", "测试路1号", RECORD["empi"], RECORD["erhc_card_no"]):
        assert private not in html
    assert response.headers["Cache-Control"] == "no-store"


def test_the_call_is_the_contracts_signed_request(page, city, app, db_session):
    """Checked against the SPEC's text, signed here by hand."""
    city.post(VERIFY, json=NOT_AUTHENTICATED)
    scan(page)
    sent = city.calls[0].request
    assert json.loads(sent.body) == {"code": CODE, "terminal": TERMINAL}
    h = sent.headers
    assert h["X-Erhc-App-Id"] == app.config["PROVINCE_VERIFY_ID"] and re.fullmatch(r"[0-9a-f]{32}", h["X-Erhc-Nonce"])
    text = "\n".join(["POST", "/api/v1/province/verify", h["X-Erhc-Timestamp"], h["X-Erhc-Nonce"],
                      hashlib.sha256(sent.body).hexdigest()])
    expected = hmac.new(app.config["PROVINCE_VERIFY_SECRET"].encode(), text.encode(), hashlib.sha256).hexdigest()
    assert h["X-Erhc-Signature"] == expected


def test_case_one_shows_exactly_the_citys_words(page, city):
    city.post(VERIFY, json=NOT_AUTHENTICATED)
    response = scan(page)
    assert verdict(response)["result"] == "not_authenticated"
    assert by_id(response, "verdict-message") == "该用户未进行实名认证"
    assert "打印接种疫苗凭证" not in response.get_data(as_text=True)


@pytest.mark.parametrize("held_changes, status, words", [
    (None, "missing", "省平台尚未收到该记录(上传可能仍在途中)"),
    ({"cd_time": "2026-12-03 09:59:59", "cd_operation": "i"}, "city_newer", "市级返回的记录比省平台持有的新"),
    ({"cd_time": "2026-12-03 10:00:01"}, "city_older", "市级返回的记录比省平台持有的旧"),
    ({"idcode": "330106199003071252", "empi": "7d" * 32}, "mismatch", "不一致:居民主索引(empi)、证件号码"),
    ({"name": "测试乙"}, "mismatch", "不一致:姓名"),
])
def test_disagreement_is_shown_beside_the_citys_answer(page, city, db_session, held_changes, status, words):
    if held_changes is not None:
        province_record(db_session, RECORD, **held_changes)
    city.post(VERIFY, json={"result": "authenticated", "record": RECORD})
    response = scan(page)
    html = response.get_data(as_text=True)
    assert re.search(rf'id="cross-check"[^>]*data-check="{status}"', html), html
    assert words in unescape(html) and "省平台核对不一致" in html
    assert by_id(response, "resident-name") == "测试甲" and "打印接种疫苗凭证" in html  # the city's answer stays


def test_an_older_held_version_beside_the_same_one_still_matches(page, city, db_session):
    province_record(db_session, RECORD, cd_time="2026-12-02 08:00:00", cd_operation="i", authentication_method="2")
    province_record(db_session, RECORD)
    city.post(VERIFY, json={"result": "authenticated", "record": RECORD})
    assert 'data-check="match"' in scan(page).get_data(as_text=True)


def test_unknown_cd_source_is_explained_and_nothing_is_sent(page, city):
    response = scan(page, CODE.replace(".3301.", ".4401.", 1))
    shown = verdict(response)
    assert response.status_code == 200 and shown["reason"] == "unknown_city"
    assert "未知的发码城市(4401)" in shown["text"] and not city.calls


def test_not_a_health_code_is_explained(page, city):
    shown = verdict(scan(page, "https://example.org/other-qr"))
    assert shown["reason"] == "not_health_code" and "不是电子健康码" in shown["text"] and not city.calls


def test_ehc1_codes_go_to_the_default_city(page, city, app):
    app.config.update(SANDBOX_PROVINCE_CITIES={"3301": CITY, "3302": "http://city-3302.test"},
                      SANDBOX_PROVINCE_DEFAULT_CITY="3302")
    city.post("http://city-3302.test/api/v1/province/verify", json=NOT_AUTHENTICATED)
    assert verdict(scan(page, "EHC1.k1.r3fd0a9c.m1abcd.m1abce.n0nce.c2ln"))["result"] == "not_authenticated"
    assert [c.request.url for c in city.calls] == ["http://city-3302.test/api/v1/province/verify"]


def test_without_configured_cities_the_own_city_is_where_uploads_go(page, city, app):
    app.config.update(SANDBOX_PROVINCE_CITIES={}, PROVINCE_URL="http://127.0.0.1:5123/sandbox-province")
    city.post("http://127.0.0.1:5123/api/v1/province/verify", json=NOT_AUTHENTICATED)
    assert verdict(scan(page))["result"] == "not_authenticated"
    forged = page.post(PAGE, data={"code": CODE}, headers={"Host": "attacker.example"})
    assert verdict(forged)["result"] == "not_authenticated"  # not sent to the Host header's name
    assert {c.request.url for c in city.calls} == {"http://127.0.0.1:5123/api/v1/province/verify"}


def test_a_forged_host_header_never_chooses_where_the_signed_call_goes(page, city, app):
    """Without a sandbox PROVINCE_URL the own city is 127.0.0.1 on the serving port, whatever Host says."""
    app.config.update(SANDBOX_PROVINCE_CITIES={}, PROVINCE_URL="http://province.test")
    city.post("http://127.0.0.1:80/api/v1/province/verify", json=NOT_AUTHENTICATED)
    for host in ("attacker.example", "attacker.example:5555", "127.0.0.1:9"):
        assert verdict(page.post(PAGE, data={"code": CODE}, headers={"Host": host}))["result"] == "not_authenticated"
    assert {c.request.url for c in city.calls} == {"http://127.0.0.1:80/api/v1/province/verify"}


@pytest.mark.parametrize("status, body, reason, words", [
    (422, {"error": "expired", "message": "电子健康码已过期"}, "expired", "已过期,请居民刷新"),
    (422, {"error": "replayed", "message": "x"}, "replayed", "已在其他终端核验过"),
    (401, {"error": "bad_signature", "message": "签名缺失或不正确"}, "bad_signature", "签名校验未通过"),
    (401, {"error": "stale_timestamp", "message": "x"}, "stale_timestamp", "签名校验未通过"),
    (429, {"error": "rate_limited"}, "rate_limited", "繁忙"),
    (503, "<html>down</html>", "http_503", "暂时不可用"),
    (200, {"result": "maybe"}, "bad_reply", "答复无法识别"),
    (200, "not json", "bad_reply", "答复无法识别"),
    (200, {"result": "authenticated", "record": {**RECORD, "recognize_flag": 0}}, "contradictory_reply", "自相矛盾"),
    (200, {"result": "authenticated", "record": {**RECORD, "cd_operation": "d"}}, "contradictory_reply", "自相矛盾"),
    (200, {"result": "authenticated", "record": {**RECORD, "id": 7}}, "bad_reply", "答复无法识别"),
    (400, {"error": "bad_terminal"}, "bad_terminal", "拒绝了本次验码请求"),
    (418, {"error": "<script>"}, "http_418", "拒绝了本次验码请求"),
])
def test_city_errors_become_chinese_messages_with_the_reason_kept_for_machines(page, city, status, body, reason, words):
    city.post(VERIFY, status=status, **({"json": body} if isinstance(body, dict) else {"body": body}))
    response = scan(page)
    shown = verdict(response)
    assert response.status_code == 200 and shown["result"] == "problem" and shown["reason"] == reason
    assert shown["status"] == str(status) and words in shown["text"]
    assert reason not in shown["text"]  # no raw reason code in what the nurse reads


@pytest.mark.parametrize("failure, reason, words", [
    (requests.ConnectionError("refused"), "city_unreachable", "无法连接发码城市的平台"),
    (requests.ReadTimeout("slow"), "city_timeout", "响应超时"),
    (requests.ConnectTimeout("slow"), "city_timeout", "响应超时"),
])
def test_a_city_that_is_down_or_slow(page, city, failure, reason, words):
    city.post(VERIFY, body=failure)
    shown = verdict(scan(page))
    assert shown["reason"] == reason and words in shown["text"]


def test_a_closed_port_is_a_city_that_is_down(page, app):
    app.config.update(SANDBOX_PROVINCE_CITIES={"3301": "http://127.0.0.1:9"}, SANDBOX_PROVINCE_TIMEOUT=2.0)
    shown = verdict(scan(page))
    assert shown["reason"] in ("city_unreachable", "city_timeout")


@pytest.mark.parametrize("code, words", [
    ("", "请扫描居民的电子健康码"),
    ("   ", "请扫描居民的电子健康码"),
    ("E" * 10240, "无法识别的码内容"),
    ("EHC2.3301.\x01k1.r.i.e.n.s", "无法识别的码内容"),
    ("EHC2.3301.k1\x1b[31m.r.i.e.n.s", "无法识别的码内容"),
    ("EHC2.3301.k1.r.i.e.n.签名", "无法识别的码内容"),
])
def test_bad_input_gets_a_message_and_goes_nowhere(page, city, code, words):
    response = scan(page, code)
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 200 and words in html and 'id="code-error"' in html and not city.calls


def test_non_utf8_and_nul_bodies_are_refused_without_a_500(page, city):
    form = "application/x-www-form-urlencoded"
    raw = page.post(PAGE, data=b"code=EHC2.3301.\xff\xfe.r.i.e.n.s", content_type=form)  # the field is dropped
    assert raw.status_code == 200 and "请扫描居民的电子健康码" in unescape(raw.get_data(as_text=True))
    nul = page.post(PAGE, data={"code": "EHC2.3301.\x00.r"})
    assert nul.status_code == 400 and nul.mimetype == "text/html" and "无法处理的字符" in nul.get_data(as_text=True)
    assert not city.calls
    # Escapes that decode to no UTF-8 stay as typed (printable ASCII): the city judges the code.
    city.post(VERIFY, status=422, json={"error": "malformed", "message": "无法识别"})
    escaped = page.post(PAGE, data=b"code=EHC2.3301.%FF%FE.r.i.e.n.s", content_type=form)
    assert verdict(escaped)["reason"] == "malformed" and json.loads(city.calls[0].request.body)["code"] == (
        "EHC2.3301.%FF%FE.r.i.e.n.s")


def test_the_page_takes_a_scanner_and_keeps_the_code_out_of_urls(page):
    html = page.get(PAGE).get_data(as_text=True)
    form = re.search(r'<form method="post" action="([^"]*)" id="scan-form"', html)
    assert form and form.group(1) == PAGE
    field = re.search(r"<input[^>]*name=\"code\"[^>]*>", html).group(0)
    assert "autofocus" in field and 'autocomplete="off"' in field
    assert re.search(r'<button[^>]*id="camera-start"[^>]*hidden', html)  # shown by script where a camera reads QR
    assert page.get(PAGE + "?code=" + CODE).get_data(as_text=True).count("verdict") == 0  # a query string is ignored


def test_no_personal_value_or_code_reaches_the_log(page, city, db_session, caplog):
    province_record(db_session, RECORD)
    city.post(VERIFY, json={"result": "authenticated", "record": RECORD})
    with caplog.at_level("DEBUG"):
        scan(page)
    logged = caplog.text + json.dumps([getattr(r, "event", None) for r in caplog.records], ensure_ascii=False)
    assert "sandbox_province.vaccination" in logged
    for private in (RECORD["name"], RECORD["idcode"], RECORD["empi"], CODE, "1990-03-07"):
        assert private not in logged


def test_the_province_index_links_the_page(page):
    assert f'href="{PAGE}"' in page.get("/sandbox-province/").get_data(as_text=True)


def test_the_page_exists_only_in_sandbox_mode():
    prod = create_app({**PRODUCTION, "DATABASE_URL": "postgresql+psycopg://u@db.invalid/erhc"})
    assert "sandbox_vaccination" not in prod.blueprints
    assert not any(str(rule).startswith(PAGE) for rule in prod.url_map.iter_rules())


@pytest.mark.parametrize("bad", [
    {"SANDBOX_PROVINCE_CITIES": {"33": "http://x.test"}},
    {"SANDBOX_PROVINCE_CITIES": {"3301": "ftp://x.test"}},
    {"SANDBOX_PROVINCE_CITIES": {"3301": "http://x.test/\"onmouseover"}},
    {"SANDBOX_PROVINCE_DEFAULT_CITY": "33011"},
    {"SANDBOX_PROVINCE_TERMINAL": ""},
    {"SANDBOX_PROVINCE_TERMINAL": "终端"},
    {"SANDBOX_PROVINCE_TIMEOUT": 0},
])
def test_unusable_settings_are_refused_at_start(tmp_path, bad):
    with pytest.raises(ConfigError) as info:
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3", **bad})
    assert "ERHC_SANDBOX_PROVINCE_" in str(info.value)


@pytest.mark.slow
def test_live_city_case_two_then_a_version_still_on_its_way(chain):
    """The real city on a live port and the real receiver's books: after one sync pass the answer
    matches; a stronger method not yet uploaded makes the city's record the newer one."""
    from erhc_h5.code import tokens
    from erhc_h5.db import session_scope
    from erhc_h5.cards.service import issue_or_update_card
    from tests.code.helpers import seed_with_card

    app = chain.app
    app.config.update(SANDBOX_PROVINCE_CITIES={"3301": chain.server.url})
    _, card, identity, codes = seed_with_card(app, codes=1)
    assert chain.once()["accepted"] == 1
    client = app.test_client()
    first = client.post(PAGE, data={"code": codes[0]})
    assert verdict(first)["result"] == "authenticated" and by_id(first, "resident-idcode") == identity["idcode"]
    assert 'data-check="match"' in first.get_data(as_text=True)
    with app.app_context(), session_scope(app) as session:
        card_app = session.merge(card).app
        issue_or_update_card(session, identity, card_app, methods="3")
        session.commit()
        code = tokens.issue(session, card.id).text
        session.commit()
    second = client.post(PAGE, data={"code": code})
    assert by_id(second, "resident-methods") == "三要素认证+面部识别"
    assert 'data-check="city_newer"' in second.get_data(as_text=True)


def test_a_stale_form_is_a_chinese_page_not_json(page, app, city):
    app.config["WTF_CSRF_ENABLED"] = True
    response = scan(page)
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "页面已过期" in response.get_data(as_text=True) and not city.calls

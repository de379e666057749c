"""Resident pages: consent first, errors beside fields keeping what was typed, a11y, environment check, sizes."""
from __future__ import annotations

import re

import pytest

from tests.support import IDENTITY, PROFILE


def static(client, asset: str) -> bytes:
    response = client.get(f"/static/{asset}")
    try:
        return response.get_data()
    finally:
        response.close()


def test_no_personal_data_before_consent(journey):
    journey.launch()
    assert journey.client.get("/h5/identity").headers["Location"] == "/h5/consent"
    refused = journey.client.post("/h5/consent", data={})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200 and 'aria-describedby="agree-error"' in page and "请阅读并勾选同意" in page
    notice = journey.client.get("/h5/consent").get_data(as_text=True)
    for words in ("用途", "收集哪些信息", "省级电子健康码管理平台", "保存多久"):
        assert words in notice
    assert journey.consent().headers["Location"] == "/h5/identity"
    assert journey.vs().consent_version == journey.client.application.config["CONSENT_VERSION"]


def test_identity_errors_are_beside_fields_and_keep_input(journey):
    journey.launch()
    journey.consent()
    response = journey.identity(name="测试1", idcode="330106199003071232")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'id="name"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="name"', page)
    assert 'id="name-error"' in page and "姓名不能包含数字" in page
    assert 'id="idcode-error"' in page and "校验位不正确" in page
    assert 'value="测试1"' in page and 'value="330106199003071232"' in page


def test_profile_page_asks_all_58_ethnicities_and_never_sex_for_resident_id(journey):
    journey.launch()
    journey.consent()
    journey.identity()
    page = journey.client.get("/h5/profile").get_data(as_text=True)
    nation = page[page.index('name="nation"'):page.index("</select>", page.index('name="nation"'))]
    assert nation.count("<option") == 59  # a blank prompt + 58 values
    assert "基诺族" in nation and "外国血统中国籍人士" in nation
    assert 'name="sex"' not in page and 'name="birthday"' not in page
    bad = journey.profile(phone="12345", nation="")
    text = bad.get_data(as_text=True)
    assert "手机号应为11位数字" in text and "民族不能为空" in text and 'value="12345"' in text


def test_passport_holder_is_asked_sex_and_birthday(journey):
    journey.launch()
    journey.consent()
    journey.identity(id_card_type_code="03", idcode="E12345678", nationality="GBR")
    page = journey.client.get("/h5/profile").get_data(as_text=True)
    assert 'name="sex"' in page and 'name="birthday"' in page


@pytest.mark.parametrize("path", ["/h5/identity", "/h5/profile", "/h5/methods", "/h5/verify/sms"])
def test_garbage_never_500(journey, path):
    journey.ready()
    for data in ({"name": "\x00" * 5000, "idcode": "💥" * 99, "id_card_type_code": "<script>"},
                 {"phone": "１３８０００００００１", "nation": "x" * 300, "county_code": "'; drop"}, {}):
        response = journey.client.post(path, data=data)
        assert response.status_code < 500


def test_large_text_toggle_and_page_budget(journey):
    journey.ready()
    response = journey.client.get("/h5/a11y?large=1&next=/h5/methods")
    assert response.headers["Location"] == "/h5/methods" and "erhc_large=1" in response.headers["Set-Cookie"]
    page = journey.client.get("/h5/methods").get_data(as_text=True)
    assert '<html lang="zh-CN" class="large">' in page
    assert journey.client.get("/h5/a11y?large=1&next=https://evil.example/").headers["Location"] == "/h5/service"
    assert "erhc_large=;" in journey.client.get("/h5/a11y?large=0").headers["Set-Cookie"]
    css = static(journey.client, "css/resident.css").decode()
    assert ":root{font-size:18px}" in css and "html.large{font-size:20px}" in css


@pytest.mark.parametrize("path, scripts", [
    ("/h5/service", []), ("/h5/consent", []), ("/h5/identity", []), ("/h5/profile", []), ("/h5/methods", []),
    ("/h5/verify/sms", ["js/resident.js"]), ("/h5/verify/face", ["js/face.js"]), ("/h5/check", ["js/resident.js"]),
])
def test_each_page_is_under_60_kb_with_its_assets(journey, path, scripts):
    journey.ready()
    html = journey.client.get(path).get_data()
    assets = ["css/app.css", "css/resident.css"] + scripts
    total = len(html) + sum(len(static(journey.client, a)) for a in assets)
    assert total <= 60 * 1024, (path, total)
    assert b"<script>" not in html and b"style=" not in html and b"onclick" not in html


def test_environment_check_page_and_json(journey):
    journey.launch()
    page = journey.client.get("/h5/check").get_data(as_text=True)
    assert "JavaScript" in page and "摄像头" in page and "Cookie" in page
    data = journey.client.get("/h5/check.json").get_json()
    assert data["cookies"] is True and data["session"] is True and data["sandbox"] is True


def test_methods_page_lists_the_methods_the_app_filed(journey, db_session):
    from tests.support import demo_app

    demo_app(db_session).auth_methods = "1^4"
    db_session.commit()
    journey.ready()
    page = journey.client.get("/h5/methods").get_data(as_text=True)
    assert "姓名+身份证号核验" in page and "到现场核验" in page and "加手机短信验证" not in page and "刷脸" not in page
    assert "测*甲" in page and IDENTITY["idcode"] not in page and PROFILE["phone"] not in page


def _visible_text(html: str) -> str:
    """What a person reads: the page without its tags, attributes, scripts and styles."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_no_reason_code_reaches_a_resident(journey, client, app, provider_mode):
    """Reason codes are for machines (JSON, logs, audit): every page a resident reads speaks Chinese."""
    codes = re.compile(r"\b(bad_ticket|bad_signature|cross_site|expired|replayed|no_session|enter_from_app|"
                       r"mismatch|locked|timeout|provider_\w+|unavailable)\b")
    pages = [client.get("/h5/launch?app=x").get_data(as_text=True)]  # a broken launch link
    journey.ready(identity={"name": "测试失败"})
    provider_mode("timeout")
    pages.append(client.post("/h5/verify/two-factor").get_data(as_text=True))  # provider down
    provider_mode("normal")
    for _ in range(app.config["VERIFICATION_MAX_ATTEMPTS"]):
        client.post("/h5/verify/two-factor")
    pages.append(client.get("/h5/status").get_data(as_text=True))  # the session failed
    pages.append(app.test_client().get("/h5/code").get_data(as_text=True))  # no session at all
    for page in pages:
        assert not codes.search(_visible_text(page)), codes.search(_visible_text(page)).group(0)

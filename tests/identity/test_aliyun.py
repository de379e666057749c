"""Alibaba Cloud adapters against the loopback fake: signatures, the documented result codes, faults.

Expected mappings are written here from the published documentation (quoted), not read from
``aliyun_codes.TABLE``.
"""
from __future__ import annotations

import json

import pytest

from erhc_h5.config import ConfigError
from erhc_h5.identity.aliyun_codes import TABLE, lookup
from erhc_h5.identity.factory import build_providers, check_config
from tests.identity.aliyun_fake import SCRIPT_META_INFO, provider_config
from tests.identity.vendor_checks import ID, PHONE, each_setting_is_required, outcome_of, unavailable



@pytest.fixture
def providers(aliyun):
    return build_providers(provider_config(aliyun))



def tamper(change):
    """A fetch that changes the request after the SDK signed it, on its way to the vendor."""
    from erhc_h5.identity import aliyun

    original = aliyun.fetch

    def fetch(session, prepared, limits, **kwargs):
        change(prepared)
        return original(session, prepared, limits, **kwargs)

    return fetch


def test_changing_one_signed_header_after_signing_is_refused(aliyun, providers, monkeypatch):
    from erhc_h5.identity import aliyun as module

    def change(prepared):
        prepared.headers["x-acs-signature-nonce"] = prepared.headers["x-acs-signature-nonce"][::-1]

    monkeypatch.setattr(module, "fetch", tamper(change))
    assert unavailable(lambda: providers.identity.check_two_factor("张三", "01", ID)) == "provider_refused"
    assert aliyun.refused == ["Id2MetaVerify"]
    monkeypatch.undo()
    assert providers.identity.check_two_factor("张三", "01", ID).passed


def test_wrong_secret_is_refused_never_passed(aliyun):
    providers = build_providers(provider_config(aliyun, ALIYUN_ACCESS_KEY_SECRET="not-the-secret"))
    assert unavailable(lambda: providers.identity.check_two_factor("张三", "01", ID)) == "provider_refused"
    assert unavailable(lambda: providers.sms.send_code(PHONE, "123456")) == "provider_refused"
    assert aliyun.refused == ["Id2MetaVerify", "SendSms"]


@pytest.mark.parametrize("reply,expected", [
    ({"Code": "200", "ResultObject": {"BizCode": "1"}}, (True, "")),  # 1:校验⼀致
    ({"Code": "200", "ResultObject": {"BizCode": "2"}}, (False, "mismatch")),  # 2:校验不⼀致
    ({"Code": "200", "ResultObject": {"BizCode": "3"}}, (False, "no_record")),  # 3:查⽆记录
    ({"Code": "401", "ResultObject": None}, (False, "no_record")),  # 参数非法: 传入的姓名、身份证号码不符合规则
    ({"Code": "402", "ResultObject": None}, "upstream_error"),  # 权威源服务异常
    ({"Code": "403", "ResultObject": None}, "throttled"),  # 异常重复调⽤
    ({"Code": "412", "ResultObject": None}, "quota"),  # 欠费中
    ({"Code": "410", "ResultObject": None}, "provider_refused"),  # 未开通服务
    ({"Code": "200", "ResultObject": {"BizCode": "4"}}, "unknown_result"),
    ({"Code": "299", "ResultObject": {"BizCode": "1"}}, "unknown_result"),
    ({"Code": "200", "ResultObject": None}, "bad_reply"),
])
def test_two_factor_codes(aliyun, providers, reply, expected):
    aliyun.result_override["Id2MetaVerify"] = reply
    call = lambda: providers.identity.check_two_factor("张三", "01", ID)  # noqa: E731
    assert outcome_of(call) == expected


def test_three_factor_codes(aliyun, providers):
    aliyun.result_override["Mobile3MetaSimpleVerify"] = {"Code": "200", "ResultObject": {"BizCode": "3"}}
    result = providers.identity.check_three_factor("张三", "01", ID, PHONE)
    assert (result.passed, result.reason) == (False, "no_record")  # 3:查无记录


def test_sms_request_fields_as_documented(aliyun, providers):
    receipt = providers.sms.send_code(PHONE, "246810")
    sent = aliyun.sms[-1]
    assert (sent["PhoneNumbers"], sent["SignName"], sent["TemplateCode"]) == (PHONE, "电子健康码", "SMS_100000001")
    assert json.loads(sent["TemplateParam"]) == {"code": "246810"}
    assert receipt.message_id
    providers.sms.send_notice(PHONE, {"time": "2026-12-03 08:00", "app": "健康码", "account": "138****8000"})
    assert aliyun.sms[-1]["TemplateCode"] == "SMS_100000002"
    assert json.loads(aliyun.sms[-1]["TemplateParam"]) == {"time": "2026-12-03 08:00", "app": "健康码",
                                                          "account": "138****8000", "hotline": "城市服务热线"}


@pytest.mark.parametrize("code,reason", [
    ("isv.BUSINESS_LIMIT_CONTROL", "sms_throttled"),  # 业务限流
    ("isv.AMOUNT_NOT_ENOUGH", "quota"),  # 账户余额不足
    ("isv.MOBILE_NUMBER_ILLEGAL", "sms_rejected"),  # 非法手机号
    ("isv.SMS_TEMPLATE_ILLEGAL", "sms_rejected"),  # 该账号下找不到对应模板
    ("ok", "unknown_result"),
])
def test_sms_codes(aliyun, providers, code, reason):
    aliyun.result_override["SendSms"] = {"Code": code, "Message": "m"}
    assert unavailable(lambda: providers.sms.send_code(PHONE, "123456")) == reason


def test_table_unknown_never_passes():
    assert all(kind in ("pass", "fail", "unavailable", "pending") for kind, _ in TABLE.values())
    assert all(code in ("200", "biz:1", "sub:200", "OK") for (_, code), (kind, _) in TABLE.items() if kind == "pass")
    assert lookup("Id2MetaVerify", "biz:9") == ("unavailable", "unknown_result")
    assert lookup("SendSms", "Ok") == ("unavailable", "unknown_result")


def test_config_one_line_reasons(aliyun):
    full = provider_config(aliyun, SANDBOX=False, ALIYUN_ENDPOINT="",
                           ALIYUN_FACE_SCRIPT_URL="https://o.alicdn.com/yd-cloudauth/cloudauth-cdn/jsvm_all.js")
    each_setting_is_required(full, ("ALIYUN_ACCESS_KEY_SECRET", "ALIYUN_SMS_SIGN", "ALIYUN_SMS_TEMPLATE_NOTICE",
                                    "ALIYUN_FACE_SCENE_ID", "ALIYUN_FACE_SCRIPT_URL", "ALIYUN_FACE_PRODUCT_CODE"),
                             "aliyun", "ALIYUN_ENDPOINT", aliyun.url)
    with pytest.raises(ConfigError, match="ERHC_ALIYUN_FACE_SCRIPT_URL must use https in production"):
        check_config({**full, "ALIYUN_FACE_SCRIPT_URL": aliyun.url + "/cdn/jsvm_all.js"})
    for bad in ("https://o.alicdn.com/", "https://o.alicdn.com/x.js?v=1", "javascript:alert(1)//.js",
                "https://a b.example/x.js"):
        with pytest.raises(ConfigError, match="ERHC_ALIYUN_FACE_SCRIPT_URL must look like"):
            check_config({**full, "ALIYUN_FACE_SCRIPT_URL": bad})
    with pytest.raises(ConfigError, match="numeric"):
        check_config({**full, "ALIYUN_FACE_SCENE_ID": "scene-1"})
    # Only the roles configured need their settings.
    check_config({**full, "FACE_PROVIDER": "null", "ALIYUN_FACE_SCENE_ID": ""})


def test_other_sdk_users_keep_the_plain_transport(aliyun, providers):
    """The bounded core applies only while this module makes a call."""
    from erhc_h5.identity.aliyun import _call

    providers.identity.check_two_factor("张三", "01", ID)
    assert getattr(_call, "limits", None) is None


# --- face (金融级实人认证 H5) ------------------------------------------------------------------------

RETURN = "https://h5.test/h5/verify/face/return"


def started_face(aliyun, providers, name="张三"):
    return providers.face.start(name, "01", ID, RETURN, device_info=SCRIPT_META_INFO)


def test_face_start_sends_the_page_metainfo_and_returns_the_vendor_page(aliyun, providers):
    started = started_face(aliyun, providers)
    assert started.redirect_url == f"{aliyun.url}/h5/face?certifyId={started.token}"
    assert aliyun.faces[started.token]["redirect"] == RETURN
    assert providers.face.device_script == aliyun.url + "/cdn/jsvm_all.js"
    assert aliyun.calls == ["InitFaceVerify"] and aliyun.refused == []


@pytest.mark.parametrize("device_info,reason", [
    ("", "no_device_info"), ("not json", "bad_device_info"), ("[1]", "bad_device_info"), ("{}", "bad_device_info"),
    ('{"a": "' + "x" * 9000 + '"}', "bad_device_info"),
])
def test_face_start_refuses_what_the_script_did_not_give_before_any_call(aliyun, providers, device_info, reason):
    assert unavailable(lambda: providers.face.start("张三", "01", ID, RETURN, device_info=device_info)) == reason
    assert aliyun.calls == []


@pytest.mark.parametrize("code,reason", [
    ("404", "provider_refused"),  # 认证场景配置不存在
    ("412", "quota"),  # 欠费中
    ("414", "unsupported_device"),  # 设备类型不支持
    ("417", "unsupported_document"),  # 无法使用刷脸服务: 当前身份信息比对源不可用,建议人工审核
    ("418", "quota"),  # 刷脸失败次数过多: 当天刷脸认证次数过多,请明天再试
    ("500", "upstream_error"),  # 系统错误
    ("299", "unknown_result"),
])
def test_face_start_codes(aliyun, providers, code, reason):
    aliyun.result_override["InitFaceVerify"] = {"Code": code, "ResultObject": None}
    assert unavailable(lambda: started_face(aliyun, providers)) == reason


def test_face_start_refuses_a_vendor_page_that_is_not_a_web_address(aliyun):
    providers = build_providers(provider_config(aliyun))
    aliyun.result_override["InitFaceVerify"] = {"Code": "200", "ResultObject": {
        "CertifyId": "c1", "CertifyUrl": "javascript:alert(1)"}}
    assert unavailable(lambda: started_face(aliyun, providers)) == "bad_reply"


@pytest.mark.parametrize("reply,expected", [
    ({"Code": "200", "ResultObject": {"Passed": "T", "SubCode": "200"}}, (True, "")),  # T:通过 / 200 认证通过
    ({"Code": "200", "ResultObject": {"Passed": "F", "SubCode": "201"}}, (False, "mismatch")),  # 姓名和身份证不一致
    ({"Code": "200", "ResultObject": {"Passed": "F", "SubCode": "202"}}, (False, "no_record")),  # 查询不到身份信息
    ({"Code": "200", "ResultObject": {"Passed": "F", "SubCode": "203"}}, (False, "no_record")),  # 查询不到照片或照片不可用
    ({"Code": "200", "ResultObject": {"Passed": "F", "SubCode": "204"}}, (False, "face_mismatch")),  # 人脸比对不一致
    ({"Code": "200", "ResultObject": {"Passed": "F", "SubCode": "205"}}, (False, "liveness_failed")),  # 活体检测存在风险
    ({"Code": "200", "ResultObject": {"Passed": "F", "SubCode": "207"}}, (False, "face_mismatch")),  # 人脸与身份证人脸比对不一致
    ({"Code": "200", "ResultObject": {"Passed": "F", "SubCode": "206"}}, "throttled"),  # 业务策略限制
    ({"Code": "200", "ResultObject": {"Passed": "F", "SubCode": "209"}}, "upstream_error"),  # 权威比对源异常
    ({"Code": "424", "ResultObject": None}, "pending"),  # 身份认证记录不存在: 还未完成认证
    ({"Code": "403", "ResultObject": None}, "pending"),  # 认证未完成
    ({"Code": "406", "ResultObject": None}, "face_expired"),  # 无效的CertifyId
    ({"Code": "427", "ResultObject": None}, "throttled"),  # 业务策略限制: 触发内部风控策略
    # "判断认证结果请以 ResultObject.Passed 字段为准": a pass sub-code without Passed T is no pass, nor the reverse.
    ({"Code": "200", "ResultObject": {"Passed": "F", "SubCode": "200"}}, "bad_reply"),
    ({"Code": "200", "ResultObject": {"Passed": "T", "SubCode": "204"}}, "bad_reply"),
    ({"Code": "200", "ResultObject": {"Passed": "Y", "SubCode": "200"}}, "bad_reply"),
    ({"Code": "200", "ResultObject": {"Passed": "T", "SubCode": "210"}}, "unknown_result"),
    ({"Code": "200", "ResultObject": None}, "bad_reply"),
])
def test_face_result_codes(aliyun, providers, reply, expected):
    started = started_face(aliyun, providers)
    aliyun.finish_face(started.token)
    aliyun.result_override["DescribeFaceVerify"] = reply
    call = lambda: providers.face.fetch_result(started.token)  # noqa: E731
    assert outcome_of(call) == expected


def test_face_verdict_is_fetched_by_certify_id_not_taken_from_the_return_url(aliyun, providers):
    started = started_face(aliyun, providers, name="李失败")
    back = aliyun.finish_face(started.token)
    assert back.startswith(RETURN + "?response=")
    assert providers.face.fetch_result(started.token).reason == "face_mismatch"
    assert aliyun.calls == ["InitFaceVerify", "DescribeFaceVerify"]


@pytest.mark.parametrize("missing", ["ALIYUN_ACCESS_KEY_ID", "ALIYUN_FACE_SCENE_ID", "ALIYUN_SMS_TEMPLATE_CODE"])
def test_production_start_refuses_incomplete_aliyun_settings(missing):
    from erhc_h5 import create_app
    from tests.support import PRODUCTION

    good = {**PRODUCTION, "DATABASE_URL": "postgresql+psycopg://u@db.invalid/erhc", "IDENTITY_PROVIDER": "aliyun",
            "SMS_PROVIDER": "aliyun", "FACE_PROVIDER": "aliyun", "ALIYUN_ACCESS_KEY_ID": "LTAIexample",
            "ALIYUN_ACCESS_KEY_SECRET": "example-secret", "ALIYUN_SMS_SIGN": "电子健康码",
            "ALIYUN_SMS_TEMPLATE_CODE": "SMS_1", "ALIYUN_SMS_TEMPLATE_NOTICE": "SMS_2", "ALIYUN_FACE_SCENE_ID": "1000000006"}
    assert create_app(dict(good)).config["FACE_PROVIDER"] == "aliyun"
    with pytest.raises(ConfigError, match=f"ERHC_{missing} is required") as info:
        create_app({**good, missing: ""})
    assert "\n" not in str(info.value) and "example-secret" not in str(info.value)

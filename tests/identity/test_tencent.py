"""Tencent Cloud adapters against the loopback fake: signatures, the documented result codes, faults.

Expected mappings are written here from the published documentation (quoted), not read from
``tencent_codes.TABLE``.
"""
from __future__ import annotations

import logging

import pytest

from erhc_h5.config import ConfigError
from erhc_h5.identity.factory import build_providers, check_config
from erhc_h5.identity.tencent_codes import TABLE, lookup
from tests.identity.tencent_fake import provider_config
from tests.identity.vendor_checks import ID, PHONE, each_setting_is_required, outcome_of, unavailable

CHECK_REASONS = {"mismatch", "no_record", "phone_mismatch", "face_mismatch", "liveness_failed", "bad_image"}


@pytest.fixture
def providers(tencent):
    return build_providers(provider_config(tencent))



# --- the signature ---------------------------------------------------------------------------

def test_changing_one_signed_header_after_signing_is_refused(tencent, providers):
    conn = providers.identity._api.client("faceid").request.conn
    original = conn.request

    def tampered(method, url, body=None, headers=None):
        headers = dict(headers)
        headers["Host"] = headers["Host"].replace("127.0.0.1", "localhost")  # same server, other signed value
        return original(method, url, body, headers)

    conn.request = tampered
    assert unavailable(lambda: providers.identity.check_two_factor("张三", "01", ID)) == "provider_refused"
    assert tencent.refused == ["IdCardVerification"]
    conn.request = original
    assert providers.identity.check_two_factor("张三", "01", ID).passed


def test_changed_body_after_signing_is_refused(tencent, providers):
    conn = providers.identity._api.client("faceid").request.conn
    original = conn.request
    conn.request = lambda method, url, body=None, headers=None: original(
        method, url, body.replace('"Name"', '"Name" ') if body else body, headers)
    assert unavailable(lambda: providers.identity.check_two_factor("张三", "01", ID)) == "provider_refused"
    assert tencent.refused == ["IdCardVerification"]


def test_wrong_secret_key_is_refused_never_passed(tencent):
    providers = build_providers(provider_config(tencent, TENCENT_SECRET_KEY="not-the-key"))
    for call in (lambda: providers.identity.check_two_factor("张三", "01", ID),
                 lambda: providers.sms.send_code(PHONE, "123456"),
                 lambda: providers.face.start("张三", "01", ID, "https://h5.test/r")):
        assert unavailable(call) == "provider_refused"
    assert len(tencent.refused) == 3


# --- result codes (IdCardVerification / PhoneVerification "Result") ---------------------------

@pytest.mark.parametrize("code,expected", [
    ("0", (True, "")),  # 姓名和身份证号一致
    ("-1", (False, "mismatch")),  # 姓名和身份证号不一致
    ("-2", (False, "no_record")),  # 非法身份证号（长度、校验位等不正确）
    ("-3", (False, "no_record")),  # 非法姓名（长度、格式等不正确）
    ("-5", (False, "no_record")),  # 证件库中无此身份证记录
    ("-4", "upstream_error"),  # 证件库服务异常
    ("-6", "upstream_error"),  # 权威比对系统升级中，请稍后再试
    ("-7", "quota"),  # 认证次数超过当日限制
    ("-99", "unknown_result"),  # not documented
])
def test_two_factor_result_codes(tencent, providers, code, expected):
    tencent.result_override["IdCardVerification"] = {"Result": code}
    call = lambda: providers.identity.check_two_factor("张三", "01", ID)  # noqa: E731
    assert outcome_of(call) == expected
    assert isinstance(expected, str) or call().provider_ref


@pytest.mark.parametrize("code,expected", [
    ("0", (True, "")),  # 三要素信息一致。
    ("-4", (False, "mismatch")),  # 三要素信息不一致。
    ("-6", (False, "phone_mismatch")),  # 手机号码不合法。
    ("-7", (False, "no_record")),  # 身份证号码有误。
    ("-9", (False, "no_record")),  # 没有记录。
    ("-11", "upstream_error"),  # 验证中心服务繁忙。
    ("-12", "quota"),  # 认证次数超过当日限制，请次日重试。
    ("-13", "unsupported_phone"),  # 该号段不支持验证
    ("1", "unknown_result"),
])
def test_three_factor_result_codes(tencent, providers, code, expected):
    tencent.result_override["PhoneVerification"] = {"Result": code}
    call = lambda: providers.identity.check_three_factor("张三", "01", ID, PHONE)  # noqa: E731
    assert outcome_of(call) == expected


def test_missing_result_is_a_bad_reply(tencent, providers):
    tencent.result_override["IdCardVerification"] = {"Result": None}
    assert unavailable(lambda: providers.identity.check_two_factor("张三", "01", ID)) == "bad_reply"


# --- faults ------------------------------------------------------------------------------------

def test_sdk_debug_logging_never_carries_personal_data(tencent, providers, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger("tencentcloud_sdk_common").setLevel(logging.DEBUG)
    try:
        providers.identity.check_three_factor("张三", "01", ID, PHONE)
    finally:
        logging.getLogger("tencentcloud_sdk_common").setLevel(logging.NOTSET)
    assert ID not in caplog.text and PHONE not in caplog.text and "张三" not in caplog.text
    assert "\\u5f20\\u4e09" not in caplog.text  # the JSON-escaped name


# --- SMS -----------------------------------------------------------------------------------------

def test_sms_request_fields_as_documented(tencent, providers):
    receipt = providers.sms.send_code(PHONE, "246810")
    sent = tencent.sms[-1]
    assert sent == {"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400006666", "SignName": "电子健康码",
                    "TemplateId": "1110", "TemplateParamSet": ["246810"]}
    assert receipt.message_id
    providers.sms.send_notice(PHONE, {"time": "2026-12-03 08:00", "app": "健康码", "account": "138****8000",
                                      "hotline": "12345"})
    assert tencent.sms[-1]["TemplateId"] == "1111"
    assert tencent.sms[-1]["TemplateParamSet"] == ["2026-12-03 08:00", "健康码", "138****8000", "12345"]


@pytest.mark.parametrize("code,reason", [
    ("LimitExceeded.PhoneNumberDailyLimit", "sms_throttled"),  # 单个手机号日下发短信条数超过设定的上限
    ("LimitExceeded.PhoneNumberThirtySecondLimit", "sms_throttled"),  # 单个手机号30秒内下发短信条数超过设定的上限
    ("FailedOperation.InsufficientBalanceInSmsPackage", "quota"),  # 套餐包余量不足
    ("FailedOperation.TemplateIncorrectOrUnapproved", "sms_rejected"),  # 模板未审批或内容不匹配。
    ("InvalidParameterValue.IncorrectPhoneNumber", "sms_rejected"),  # 手机号格式错误。
    ("Ok ", "unknown_result"),
])
def test_sms_per_number_status_codes(tencent, providers, code, reason):
    tencent.result_override["SendSms"] = {"SendStatusSet": [{"SerialNo": "x", "Code": code, "Message": "m"}]}
    assert unavailable(lambda: providers.sms.send_code(PHONE, "123456")) == reason


def test_sms_without_status_is_a_bad_reply(tencent, providers):
    tencent.result_override["SendSms"] = {"SendStatusSet": []}
    assert unavailable(lambda: providers.sms.send_code(PHONE, "123456")) == "bad_reply"


# --- face ----------------------------------------------------------------------------------------

def finished(tencent, providers, text):
    started = providers.face.start("张三", "01", ID, "https://h5.test/h5/verify/face/return")
    tencent.finish_face(started.token)
    tencent.result_override["GetDetectInfoEnhanced"] = {"Text": text}
    return lambda: providers.face.fetch_result(started.token)


@pytest.mark.parametrize("err,expected", [
    (1002, (False, "liveness_failed")),  # 疑似非真人录制
    (2006, (False, "mismatch")),  # 姓名和身份证号不匹配,请核实身份后重试
    (2015, (False, "face_mismatch")),  # 无法判断为同一人,请确认身份后重试(比对失败)
    (2016, (False, "face_mismatch")),  # 无法判断为同一人…(相似度未达到通过阈值)
    (2005, (False, "no_record")),  # 未查询到身份信息,请通过其他渠道验证
    (2010, (False, "bad_image")),  # 脸部未完整露出,请保持正脸面对屏幕
    (16, (False, "liveness_failed")),  # 已达到重试上限
    (17, "pending"),  # 本次流程未完成
    (15, "face_expired"),  # Token 过期,请重试
    (2017, "upstream_error"),  # 权威数据源升级中,请稍后再试
    (9999, "unknown_result"),
    ("0", "bad_reply"),  # ErrCode is documented as an integer, but a string code still reads; Sim missing
])
def test_face_error_codes(tencent, providers, err, expected):
    call = finished(tencent, providers, {"ErrCode": err, "LiveStatus": None, "Comparestatus": None, "Sim": None})
    assert outcome_of(call) == expected


@pytest.mark.parametrize("text,expected", [
    ({"ErrCode": 0, "LiveStatus": 0, "Comparestatus": 0, "Sim": "93.50"}, (True, "")),
    ({"ErrCode": 0, "LiveStatus": 1002, "Comparestatus": 0, "Sim": "93.50"}, (False, "liveness_failed")),
    ({"ErrCode": 0, "LiveStatus": 0, "Comparestatus": 2016, "Sim": "93.50"}, (False, "face_mismatch")),
    # The vendor passes at 70 (相似度大于等于70时才判断为同一人); our own floor (80) must agree.
    ({"ErrCode": 0, "LiveStatus": 0, "Comparestatus": 0, "Sim": "75.00"}, (False, "face_mismatch")),
])
def test_face_pass_needs_live_compare_and_our_threshold(tencent, providers, text, expected):
    result = finished(tencent, providers, text)()
    assert (result.passed, result.reason) == expected


def test_face_verdict_is_fetched_by_token_not_taken_from_the_return_url(tencent, providers):
    started = providers.face.start("李失败", "01", ID, "https://h5.test/h5/verify/face/return")
    back = tencent.finish_face(started.token)
    assert back.startswith("https://h5.test/h5/verify/face/return?token=")
    assert providers.face.fetch_result(started.token).reason == "face_mismatch"
    assert tencent.calls[-1] == "GetDetectInfoEnhanced"


def test_capture_upload_is_not_a_tencent_path(providers):
    assert unavailable(lambda: providers.face.verify_image("token", b"\x89PNG")) == "not_supported"


# --- the table and the configuration ------------------------------------------------------------

def test_table_only_uses_known_reasons_and_unknown_never_passes():
    for (api, code), (kind, reason) in TABLE.items():
        assert kind in ("pass", "fail", "unavailable", "pending")
        if kind == "fail":
            assert reason in CHECK_REASONS, (api, code)
        if kind == "pass":
            assert code in ("0", "Ok")
    assert lookup("IdCardVerification", "42") == ("unavailable", "unknown_result")
    assert lookup("SendSms", "ok") == ("unavailable", "unknown_result")


def test_config_names_each_missing_setting_in_one_line(tencent):
    full = provider_config(tencent, SANDBOX=False, TENCENT_ENDPOINT="")
    each_setting_is_required(full, ("TENCENT_SECRET_KEY", "TENCENT_FACEID_RULE_ID", "TENCENT_SMS_SIGN",
                                    "TENCENT_SMS_TEMPLATE_NOTICE"), "tencent", "TENCENT_ENDPOINT", tencent.url)
    with pytest.raises(ConfigError, match="must look like"):
        check_config({**full, "TENCENT_ENDPOINT": "ftp://x"})
    with pytest.raises(ConfigError) as info:
        check_config({**full, "TENCENT_SMS_SIGN": ""})
    assert full["TENCENT_SECRET_KEY"] not in str(info.value)


def test_only_the_roles_configured_need_their_settings(tencent):
    config = provider_config(tencent, SMS_PROVIDER="null", FACE_PROVIDER="null", TENCENT_SMS_SIGN="",
                             TENCENT_FACEID_RULE_ID="")
    providers = build_providers(config)
    assert providers.identity.check_two_factor("张三", "01", ID).passed


@pytest.mark.parametrize("missing", ["TENCENT_SECRET_ID", "TENCENT_FACEID_RULE_ID", "TENCENT_SMS_TEMPLATE_CODE"])
def test_production_start_refuses_incomplete_tencent_settings(missing):
    from erhc_h5 import create_app
    from tests.support import PRODUCTION

    good = {**PRODUCTION, "DATABASE_URL": "postgresql+psycopg://u@db.invalid/erhc", "IDENTITY_PROVIDER": "tencent",
            "SMS_PROVIDER": "tencent", "FACE_PROVIDER": "tencent",
            **{k: v for k, v in provider_config_values().items()}}
    assert create_app(dict(good)).config["FACE_PROVIDER"] == "tencent"
    with pytest.raises(ConfigError, match=f"ERHC_{missing} is required") as info:
        create_app({**good, missing: ""})
    assert "\n" not in str(info.value)


def test_a_mistyped_secret_is_never_echoed_in_the_start_up_error(monkeypatch, tmp_path):
    from erhc_h5 import create_app

    monkeypatch.setenv("ERHC_TENCENT_SECRET_KEY", '["s3cr3t-value-0001"]')  # JSON: a list, not a string
    with pytest.raises(ConfigError, match="ERHC_TENCENT_SECRET_KEY") as info:
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3"})
    assert "s3cr3t-value-0001" not in str(info.value)


def provider_config_values() -> dict:
    """The Tencent settings of a real deployment (https endpoint: the vendor's own)."""
    return {"TENCENT_SECRET_ID": "AKIDexample", "TENCENT_SECRET_KEY": "example-key", "TENCENT_FACEID_RULE_ID": "1",
            "TENCENT_SMS_SDK_APP_ID": "1400006666", "TENCENT_SMS_SIGN": "电子健康码",
            "TENCENT_SMS_TEMPLATE_CODE": "1110", "TENCENT_SMS_TEMPLATE_NOTICE": "1111"}

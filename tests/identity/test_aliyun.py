"""Alibaba Cloud adapters against the loopback fake: signatures, the documented result codes, faults.

Expected mappings are written here from the published documentation (quoted), not read from
``aliyun_codes.TABLE``.
"""
from __future__ import annotations

import json

import pytest

from erhc_h5.config import ConfigError
from erhc_h5.identity.aliyun_codes import TABLE, lookup
from erhc_h5.identity.base import ProviderUnavailable
from erhc_h5.identity.factory import build_providers, check_config
from tests.identity.aliyun_fake import provider_config

ID = "11010519491231002X"  # GB 11643-1999 specimen
PHONE = "13800138000"


@pytest.fixture
def providers(aliyun):
    return build_providers(provider_config(aliyun))


def unavailable(call) -> str:
    with pytest.raises(ProviderUnavailable) as info:
        call()
    assert ID not in str(info.value) and "张三" not in str(info.value)
    return info.value.reason


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
    if isinstance(expected, str):
        assert unavailable(call) == expected
    else:
        result = call()
        assert (result.passed, result.reason) == expected


def test_three_factor_codes(aliyun, providers):
    aliyun.result_override["Mobile3MetaSimpleVerify"] = {"Code": "200", "ResultObject": {"BizCode": "3"}}
    result = providers.identity.check_three_factor("张三", "01", ID, PHONE)
    assert (result.passed, result.reason) == (False, "no_record")  # 3:查无记录


@pytest.mark.parametrize("mode,reason", [
    ("gateway:400:Throttling.User", "throttled"),  # Request was denied due to user flow control.
    ("gateway:503:ServiceUnavailable", "upstream_error"),
    ("gateway:404:InvalidAccessKeyId.NotFound", "provider_refused"),
    ("gateway:400:Galaxy.Unheard", "unknown_result"),
    ("error", "upstream_error"),
    ("bad_json", "bad_reply"),
    ("timeout", "timeout"),
])
def test_faults_are_unavailable_never_a_pass(aliyun, providers, mode, reason):
    aliyun.mode = mode
    assert unavailable(lambda: providers.identity.check_two_factor("张三", "01", ID)) == reason
    assert unavailable(lambda: providers.sms.send_code(PHONE, "123456")) == reason


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


def test_other_documents_are_not_sent(aliyun, providers):
    assert unavailable(lambda: providers.identity.check_two_factor("张三", "03", "E12345678")) == "unsupported_document"
    assert aliyun.calls == []


def test_table_unknown_never_passes():
    assert all(kind in ("pass", "fail", "unavailable") for kind, _ in TABLE.values())
    assert lookup("Id2MetaVerify", "biz:9") == ("unavailable", "unknown_result")
    assert lookup("SendSms", "Ok") == ("unavailable", "unknown_result")


def test_config_one_line_reasons_and_no_face(aliyun):
    full = provider_config(aliyun, SANDBOX=False, ALIYUN_ENDPOINT="")
    check_config(full)
    for key in ("ALIYUN_ACCESS_KEY_SECRET", "ALIYUN_SMS_SIGN", "ALIYUN_SMS_TEMPLATE_NOTICE"):
        with pytest.raises(ConfigError, match=f"ERHC_{key} is required when ERHC_[A-Z]+_PROVIDER=aliyun"):
            check_config({**full, key: ""})
    with pytest.raises(ConfigError, match="ERHC_FACE_PROVIDER=aliyun is not offered"):
        check_config({**full, "FACE_PROVIDER": "aliyun"})
    with pytest.raises(ConfigError, match="https in production"):
        check_config({**full, "ALIYUN_ENDPOINT": aliyun.url})


def test_other_sdk_users_keep_the_plain_transport(aliyun, providers):
    """The bounded core applies only while this module makes a call."""
    from erhc_h5.identity.aliyun import _call

    providers.identity.check_two_factor("张三", "01", ID)
    assert getattr(_call, "limits", None) is None

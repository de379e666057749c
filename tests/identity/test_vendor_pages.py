"""Every documented code of each vendor's table, met in the resident's journey (in process, against the
loopback fakes), shows the page its meaning calls for.

The expected page per code is written here from the documentation's wording (quoted beside each
group), not read from the code tables or from the view's mapping: a failed check sends the resident
back to the methods with the reason said in words; quota, throttling and the vendor's own failure show
"service temporarily unavailable, try later or go on-site"; a document the vendor cannot check shows
"go on-site"; a passing fault (timeout, a check not finished yet, a refused key) shows "retry"."""
from __future__ import annotations

import json
import re

import pytest

from erhc_h5.identity import set_providers
from erhc_h5.identity.aliyun_codes import TABLE as ALIYUN_TABLE
from erhc_h5.identity.tencent_codes import TABLE as TENCENT_TABLE
from tests.identity import aliyun_fake, tencent_fake
from tests.identity.aliyun_fake import SCRIPT_META_INFO
from tests.identity.vendor_fake import JOURNEY_TIMEOUTS
from tests.support import Journey

# What a resident reads for each failed check (written from the product's wording, not imported).
FAILED_WORDS = {"mismatch": "与权威数据核验不一致", "no_record": "未查询到该证件的登记信息",
                "face_mismatch": "人脸比对未通过", "liveness_failed": "活体检测未通过",
                "phone_mismatch": "手机号与本人身份信息不一致"}
@pytest.fixture
def vendor_journey(request, app, client, db_session, seeded):
    """A launched resident whose providers are one vendor's, pointed at its fake."""
    kind = request.param
    fake = request.getfixturevalue(kind)
    config = (aliyun_fake if kind == "aliyun" else tencent_fake).provider_config(fake, **JOURNEY_TIMEOUTS)
    saved = {key: app.config.get(key) for key in config}
    app.config.update({k: v for k, v in config.items() if k != "SANDBOX"})
    set_providers(app, None)
    journey = Journey(client, db_session)
    journey.ready()
    yield journey, fake
    app.config.update(saved)
    set_providers(app, None)


def page_of(response) -> str:
    """What the resident is shown: passed, vendor (sent to its page), sms_sent, photo, failed:<reason>,
    or <page>:<reason> of the unavailable page."""
    if response.status_code == 302:
        where = response.headers["Location"]
        if where.endswith(("/h5/code", "/h5/verify/onsite")):
            return "passed"
        if where.startswith("http://127.0.0.1:"):
            return "vendor"
        return where
    text = response.get_data(as_text=True)
    if re.search(r'id="to-vendor" href="http://127\.0\.0\.1:', text):
        return "vendor"
    found = re.search(r'id="unavailable-(\w+)" data-reason="(\w+)"', text)
    assert found, text[:2000]
    return f"{found.group(1)}:{found.group(2)}"


def outcome(journey, response) -> str:
    """``page_of``, following our own redirects to where a failure or a photo problem is said."""
    page = page_of(response)
    if page.endswith("/h5/methods"):
        text = journey.client.get("/h5/methods").get_data(as_text=True)
        said = [reason for reason, words in FAILED_WORDS.items() if words in text and "核验未通过" in text]
        return f"failed:{said[0]}" if len(said) == 1 else "methods"
    if page.endswith("/h5/verify/face"):
        text = journey.client.get("/h5/methods").get_data(as_text=True)  # the flash is shown on the next page
        return "photo" if "照片不清晰或过小" in text else page
    if page.endswith("/h5/verify/sms"):
        return "sms_sent" if "验证码已发送" in journey.client.get("/h5/verify/sms").get_data(as_text=True) else page
    return page


# --- Tencent Cloud ----------------------------------------------------------------------------------
KEY_REFUSED, QUOTA, THROTTLED, VENDOR_ERROR = (
    "busy:provider_refused", "busy:quota", "busy:throttled", "busy:upstream_error")
TENCENT = {
    # 公共错误码: the account, key or rule is refused (签名错误, 未开通服务, 未授权操作, IP 白名单, RuleId不存在)
    **dict.fromkeys([("*", c) for c in (
        "AuthFailure", "AuthFailure.SignatureFailure", "AuthFailure.SignatureExpire", "AuthFailure.SecretIdNotFound",
        "UnauthorizedOperation", "UnauthorizedOperation.Nonactivated", "IpNotInWhitelist", "IpInBlacklist",
        "InvalidParameterValue.RuleIdNotExist")], KEY_REFUSED),
    # 账号已欠费, 欠费被停止服务, 超过配额限制, 调用次数超出限制, 认证次数超过当日限制
    **dict.fromkeys([("*", c) for c in (
        "UnauthorizedOperation.Arrears", "UnauthorizedOperation.ServiceSuspendDueToArrears", "LimitExceeded",
        "FailedOperation.RequestLimitExceeded", "FailedOperation.IdentityAuthLimitExceeded")], QUOTA),
    ("*", "RequestLimitExceeded"): THROTTLED,  # 请求的次数超过了频率限制。
    # 内部错误, 操作失败, 参数错误, 缺少参数; the SDK's own: a non-200 reply, parameters it cannot send
    **dict.fromkeys([("*", c) for c in (
        "InternalError", "FailedOperation", "InvalidParameter", "InvalidParameterValue", "MissingParameter",
        "ServerNetworkError", "ClientParamsError", "ClientError")], VENDOR_ERROR),
    ("*", "ClientNetworkError"): "retry:unreachable",  # the request did not reach the vendor
    ("*", "InvalidParameterValue.BizTokenExpired"): "retry:face_expired",  # BizToken过期。
    ("*", "InvalidParameterValue.BizTokenIllegal"): "retry:face_expired",  # BizToken不合法。
    # 身份证二要素核验 Result
    ("IdCardVerification", "0"): "passed",  # 姓名和身份证号一致
    ("IdCardVerification", "-1"): "failed:mismatch",  # 姓名和身份证号不一致
    ("IdCardVerification", "-2"): "failed:no_record",  # 非法身份证号（长度、校验位等不正确）
    ("IdCardVerification", "-3"): "failed:no_record",  # 非法姓名（长度、格式等不正确）
    ("IdCardVerification", "-4"): VENDOR_ERROR,  # 证件库服务异常
    ("IdCardVerification", "-5"): "failed:no_record",  # 证件库中无此身份证记录
    ("IdCardVerification", "-6"): VENDOR_ERROR,  # 权威比对系统升级中，请稍后再试
    ("IdCardVerification", "-7"): QUOTA,  # 认证次数超过当日限制
    # 手机号三要素核验 Result
    ("PhoneVerification", "0"): "passed",  # 三要素信息一致。
    ("PhoneVerification", "-4"): "failed:mismatch",  # 三要素信息不一致。
    ("PhoneVerification", "-6"): "failed:phone_mismatch",  # 手机号码不合法。
    ("PhoneVerification", "-7"): "failed:no_record",  # 身份证号码有误。
    ("PhoneVerification", "-8"): "failed:no_record",  # 姓名校验不通过。
    ("PhoneVerification", "-9"): "failed:no_record",  # 没有记录。
    ("PhoneVerification", "-11"): VENDOR_ERROR,  # 验证中心服务繁忙。
    ("PhoneVerification", "-12"): QUOTA,  # 认证次数超过当日限制，请次日重试。
    ("PhoneVerification", "-13"): "busy:unsupported_phone",  # 该号段不支持验证
    # 人脸核身 H5 返回码 (GetDetectInfoEnhanced Text.ErrCode)
    ("DetectInfo", "0"): "passed",  # 成功
    **dict.fromkeys([("DetectInfo", c) for c in ("1", "2", "3")], VENDOR_ERROR),  # 调用方式出错
    **dict.fromkeys([("DetectInfo", c) for c in ("4", "8", "10", "12", "13")], VENDOR_ERROR),  # 服务异常,请稍后重试
    ("DetectInfo", "14"): "retry:face_expired",  # 本次校验已完成
    ("DetectInfo", "15"): "retry:face_expired",  # Token 过期,请重试
    ("DetectInfo", "16"): "failed:liveness_failed",  # 已达到重试上限
    ("DetectInfo", "17"): "retry:pending",  # 本次流程未完成
    ("DetectInfo", "201"): VENDOR_ERROR,  # 从微信拉取图片失败,请重试
    ("DetectInfo", "202"): VENDOR_ERROR,  # 视频获取失败,请重试
    ("DetectInfo", "203"): KEY_REFUSED,  # 无此 API 调用权限
    ("DetectInfo", "204"): KEY_REFUSED,  # 当前公众号/小程序未完成对慧眼授权
    ("DetectInfo", "301"): "failed:mismatch",  # 当前认证人身份证号码与业务传入验证证件号码不符
    ("DetectInfo", "302"): "failed:no_record",  # 身份证已过期,请使用有效身份证进行核验
    ("DetectInfo", "303"): "photo",  # 扫描识别失败,请重新拍摄
    ("DetectInfo", "1001"): VENDOR_ERROR,  # 引擎超时,请稍后重试
    **dict.fromkeys([("DetectInfo", c) for c in ("1002", "1003", "1004", "1005")],
                    "failed:liveness_failed"),  # 疑似非真人录制; 人脸识别验证未成功; 人脸验证失败
    ("DetectInfo", "1006"): VENDOR_ERROR,  # 证照库出错,请重试
    ("DetectInfo", "1007"): VENDOR_ERROR,  # 未拉取微信活体结果或拉取微信活体结果失败
    ("DetectInfo", "1008"): "photo",  # 用户活体过程网络不稳定,请切换网络环境后重试
    ("DetectInfo", "2001"): VENDOR_ERROR,  # 引擎超时,请稍后重试
    ("DetectInfo", "2002"): "failed:no_record",  # 姓名有误,请确认后重试
    ("DetectInfo", "2003"): "failed:no_record",  # 身份证号有误,请确认后重试
    ("DetectInfo", "2004"): "photo",  # 视频提取照片出错,请重试或更换手机进行验证
    ("DetectInfo", "2005"): "failed:no_record",  # 未查询到身份信息,请通过其他渠道验证
    ("DetectInfo", "2006"): "failed:mismatch",  # 姓名和身份证号不匹配,请核实身份后重试
    **dict.fromkeys([("DetectInfo", c) for c in ("2007", "2008", "2009")],
                    "failed:no_record"),  # 未查询到照片信息; 查询到照片分辨率过低,请通过其他渠道验证
    ("DetectInfo", "2010"): "photo",  # 脸部未完整露出,请保持正脸面对屏幕
    ("DetectInfo", "2011"): "failed:liveness_failed",  # 无法判断为同一人(疑似非活体)
    ("DetectInfo", "2012"): "photo",  # 检测到多张人脸,请保持验证视频中只有本人
    ("DetectInfo", "2013"): "photo",  # 脸部未完整露出,请保持正脸面对屏幕
    ("DetectInfo", "2014"): "photo",  # 视频像素太低无法检测,请更换手机进行验证
    ("DetectInfo", "2015"): "failed:face_mismatch",  # 无法判断为同一人,请确认身份后重试(比对失败)
    ("DetectInfo", "2016"): "failed:face_mismatch",  # 无法判断为同一人(相似度未达到通过阈值)
    ("DetectInfo", "2017"): VENDOR_ERROR,  # 权威数据源升级中,请稍后再试
    # 短信 SendStatusSet[].Code
    ("SendSms", "Ok"): "sms_sent",  # 发送成功
    **dict.fromkeys([("SendSms", c) for c in (
        "LimitExceeded.PhoneNumberThirtySecondLimit", "LimitExceeded.PhoneNumberOneHourLimit",
        "LimitExceeded.PhoneNumberDailyLimit", "LimitExceeded.PhoneNumberSameContentDailyLimit",
        "LimitExceeded.DeliveryFrequencyLimit")], "busy:sms_throttled"),  # 单个手机号…超过设定的上限; 频率限制
    ("SendSms", "LimitExceeded.AppDailyLimit"): QUOTA,  # 业务短信日下发条数超过设定的上限
    ("SendSms", "FailedOperation.InsufficientBalanceInSmsPackage"): QUOTA,  # 套餐包余量不足
    **dict.fromkeys([("SendSms", c) for c in (
        "FailedOperation.SignatureIncorrectOrUnapproved", "FailedOperation.TemplateIncorrectOrUnapproved",
        "FailedOperation.PhoneNumberInBlacklist", "FailedOperation.ContainSensitiveWord",
        "InvalidParameterValue.IncorrectPhoneNumber")], "retry:sms_rejected"),  # 签名/模板未审批, 免打扰名单, 格式错误
    ("SendSms", "UnauthorizedOperation.SmsSdkAppIdVerifyFail"): KEY_REFUSED,  # SmsSdkAppId 校验失败
    ("SendSms", "UnauthorizedOperation.RequestPermissionDeny"): KEY_REFUSED,  # 请求没有权限
    ("SendSms", "InternalError.Timeout"): "retry:timeout",  # 请求下发短信超时
}

# --- Alibaba Cloud ----------------------------------------------------------------------------------
_VERIFY = {  # Id2MetaVerify and Mobile3MetaSimpleVerify: Code, then ResultObject.BizCode
    "200": "passed", "biz:1": "passed",  # success; 1:校验一致
    "biz:2": "failed:mismatch",  # 2:校验不一致
    "biz:3": "failed:no_record",  # 3:查无记录
    "401": "failed:no_record",  # 参数非法: 传入的姓名、身份证号码不符合规则
    "400": VENDOR_ERROR, "402": VENDOR_ERROR, "500": VENDOR_ERROR,  # 参数不能为空; 权威源服务异常; 系统错误
    "403": THROTTLED,  # 异常重复调用
    "410": KEY_REFUSED, "411": KEY_REFUSED,  # 未开通服务; RAM无权限
    "412": QUOTA,  # 欠费中
}
_FACE = {  # InitFaceVerify and DescribeFaceVerify: Code
    "400": VENDOR_ERROR, "401": VENDOR_ERROR, "500": VENDOR_ERROR,  # 参数不能为空; 参数非法 (we checked first); 系统错误
    "402": KEY_REFUSED, "404": KEY_REFUSED, "410": KEY_REFUSED, "411": KEY_REFUSED,  # 应用/场景配置不存在; 未开通; RAM
    "412": QUOTA, "418": QUOTA,  # 欠费中; 当天刷脸认证次数过多,请明天再试
    "414": "busy:unsupported_device", "415": "busy:unsupported_device",  # 设备类型不支持; SDK版本不支持
    "416": "busy:unsupported_device",  # 系统版本不支持
    "417": "onsite:unsupported_document",  # 无法使用刷脸服务: 当前身份信息比对源不可用,建议人工审核
}
ALIYUN = {
    # 公共错误码: signature, key, permission
    **dict.fromkeys([("*", c) for c in ("SignatureDoesNotMatch", "IncompleteSignature", "InvalidAccessKeyId",
                                         "InvalidTimeStamp", "SignatureNonceUsed", "Forbidden")], KEY_REFUSED),
    ("*", "Throttling"): THROTTLED,  # Request was denied due to request throttling.
    ("*", "ServiceUnavailable"): VENDOR_ERROR,  # temporary failure of the server
    ("*", "InternalError"): VENDOR_ERROR,  # unknown error
    **{("Id2MetaVerify", code): page for code, page in _VERIFY.items()},
    **{("Mobile3MetaSimpleVerify", code): page for code, page in _VERIFY.items()},
    ("InitFaceVerify", "200"): "vendor",  # success: CertifyUrl, where the resident goes
    **{("InitFaceVerify", code): page for code, page in _FACE.items()},
    ("DescribeFaceVerify", "200"): "passed",  # success, with Passed T
    **{("DescribeFaceVerify", code): page for code, page in _FACE.items()},
    ("DescribeFaceVerify", "403"): "retry:pending",  # 认证未完成
    ("DescribeFaceVerify", "424"): "retry:pending",  # 身份认证记录不存在: 还未完成认证
    ("DescribeFaceVerify", "406"): "retry:face_expired",  # 无效的CertifyId
    ("DescribeFaceVerify", "427"): THROTTLED,  # 业务策略限制: 触发内部风控策略
    ("DescribeFaceVerify", "sub:200"): "passed",  # 认证通过
    ("DescribeFaceVerify", "sub:201"): "failed:mismatch",  # 姓名和身份证不一致
    ("DescribeFaceVerify", "sub:202"): "failed:no_record",  # 查询不到身份信息
    ("DescribeFaceVerify", "sub:203"): "failed:no_record",  # 查询不到照片或照片不可用
    ("DescribeFaceVerify", "sub:204"): "failed:face_mismatch",  # 人脸比对不一致
    ("DescribeFaceVerify", "sub:205"): "failed:liveness_failed",  # 活体检测存在风险
    ("DescribeFaceVerify", "sub:206"): THROTTLED,  # 业务策略限制
    ("DescribeFaceVerify", "sub:207"): "failed:face_mismatch",  # 人脸与身份证人脸比对不一致
    ("DescribeFaceVerify", "sub:209"): VENDOR_ERROR,  # 权威比对源异常
    ("SendSms", "OK"): "sms_sent",  # 请求成功
    ("SendSms", "isv.BUSINESS_LIMIT_CONTROL"): "busy:sms_throttled",  # 业务限流
    **dict.fromkeys([("SendSms", c) for c in ("isv.DAY_LIMIT_CONTROL", "isv.MONTH_LIMIT_CONTROL",
                                               "isv.AMOUNT_NOT_ENOUGH", "isv.OUT_OF_SERVICE")], QUOTA),  # 限额; 余额不足; 停机
    **dict.fromkeys([("SendSms", c) for c in (
        "isv.MOBILE_NUMBER_ILLEGAL", "isv.SMS_TEMPLATE_ILLEGAL", "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.TEMPLATE_MISSING_PARAMETERS", "isv.SMS_CONTENT_ILLEGAL")], "retry:sms_rejected"),  # 非法手机号; 模板; 签名…
    **dict.fromkeys([("SendSms", c) for c in ("isv.ACCOUNT_ABNORMAL", "isv.PRODUCT_UN_SUBSCRIPT",
                                               "isp.RAM_PERMISSION_DENY")], KEY_REFUSED),  # 账户异常; 未开通; RAM权限不足
    ("SendSms", "isp.SYSTEM_ERROR"): VENDOR_ERROR,  # 系统错误
}


def test_every_row_of_each_table_has_its_expected_page():
    assert set(TENCENT) == set(TENCENT_TABLE)
    assert set(ALIYUN) == set(ALIYUN_TABLE)


def sms_code(fake) -> str:
    """The one-time code, read from the SMS request the fake vendor received (never from our app)."""
    sent = fake.sms[-1]
    return sent["TemplateParamSet"][0] if "TemplateParamSet" in sent else json.loads(sent["TemplateParam"])["code"]


def three_factor(journey, fake):
    assert page_of(journey.client.post("/h5/verify/sms/send")).endswith("/h5/verify/sms")
    return journey.client.post("/h5/verify/sms", data={"otp": sms_code(fake)})


def face_back(journey, fake):
    """Start the face check, finish the vendor's page, come back: the verdict is fetched then."""
    started = journey.client.get("/h5/verify/face")
    if started.status_code == 200:  # the vendor's script runs in our page first
        started = journey.client.post("/h5/verify/face/device", data={"meta_info": SCRIPT_META_INFO})
    token = re.search(r"(?:token|certifyId)=([\w-]+)", started.headers.get("Location") or started.get_data(as_text=True))
    token = token.group(1)
    fake.finish_face(token)
    return journey.client.get("/h5/verify/face/return")


def tencent_answer(fake, api: str, code: str) -> None:
    if api == "*":
        fake.mode = "code:" + code
    elif api == "DetectInfo":
        details = {"LiveStatus": 0, "Comparestatus": 0, "Sim": "93.50"} if code == "0" else {}
        fake.result_override["GetDetectInfoEnhanced"] = {"Text": {"ErrCode": int(code), **details}}
    elif api == "SendSms":
        fake.result_override["SendSms"] = {"SendStatusSet": [{"SerialNo": "s1", "Code": code, "Message": "m"}]}
    else:
        fake.result_override[api] = {"Result": code}


def aliyun_answer(fake, api: str, code: str) -> None:
    if api == "*":
        fake.mode = "gateway:400:" + code
    elif api == "SendSms":
        fake.result_override["SendSms"] = {"Code": code, "Message": "m", "BizId": "b1"}
    elif code.startswith("biz:"):
        fake.result_override[api] = {"Code": "200", "ResultObject": {"BizCode": code[4:]}}
    elif code.startswith("sub:") or (api == "DescribeFaceVerify" and code == "200"):
        sub = code[4:] or "200"
        fake.result_override[api] = {"Code": "200", "ResultObject": {"Passed": "T" if sub == "200" else "F",
                                                                    "SubCode": sub}}
    elif code != "200":
        fake.result_override[api] = {"Code": code, "ResultObject": None}


STEPS = {  # the resident's step that calls each API
    "IdCardVerification": lambda j, f: j.client.post("/h5/verify/two-factor"),
    "Id2MetaVerify": lambda j, f: j.client.post("/h5/verify/two-factor"),
    "*": lambda j, f: j.client.post("/h5/verify/two-factor"),
    "PhoneVerification": three_factor, "Mobile3MetaSimpleVerify": three_factor,
    "DetectInfo": face_back, "DescribeFaceVerify": face_back,
    "InitFaceVerify": lambda j, f: j.client.post("/h5/verify/face/device", data={"meta_info": SCRIPT_META_INFO})
    if j.client.get("/h5/verify/face").status_code == 200 else None,
    "SendSms": lambda j, f: j.client.post("/h5/verify/sms/send"),
}


def _cases(vendor: str, expected: dict):
    return [pytest.param(vendor, api, code, page, id=f"{vendor}-{api}-{code}")
            for (api, code), page in expected.items()]


@pytest.mark.parametrize("vendor_journey,api,code,expected",
                         _cases("tencent", TENCENT) + _cases("aliyun", ALIYUN), indirect=["vendor_journey"])
def test_each_code_shows_the_page_its_meaning_calls_for(vendor_journey, api, code, expected):
    journey, fake = vendor_journey
    (aliyun_answer if isinstance(fake, aliyun_fake.FakeAliyun) else tencent_answer)(fake, api, code)
    assert outcome(journey, STEPS[api](journey, fake)) == expected
    assert journey.vs().attempts == (1 if expected.startswith("failed:") else 0)


@pytest.mark.parametrize("vendor_journey", ["tencent", "aliyun"], indirect=True)
def test_a_document_the_vendor_cannot_check_shows_the_on_site_page(vendor_journey):
    journey, fake = vendor_journey
    journey.ready(uid="user-2", identity={"id_card_type_code": "03", "idcode": "E12345678", "nationality": "GBR"},
                  profile={"sex": "1", "birthday": "1990-03-07"})
    for step in ("/h5/verify/two-factor", "/h5/verify/face"):
        response = (journey.client.post if step.endswith("factor") else journey.client.get)(step)
        if response.status_code == 200:  # the device page comes first: the check starts with its data
            response = journey.client.post("/h5/verify/face/device", data={"meta_info": SCRIPT_META_INFO})
        assert (response.status_code, page_of(response)) == (503, "onsite:unsupported_document")
        assert "您的证件类型暂不支持在线核验" in response.get_data(as_text=True)
    assert fake.calls == []


def script_src(response) -> list[str]:
    policy = dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))
    return policy["script-src"].split()


@pytest.mark.parametrize("vendor_journey", ["aliyun"], indirect=True)
def test_only_the_face_page_may_load_the_configured_script_and_only_from_its_host(vendor_journey, app):
    journey, fake = vendor_journey
    assert script_src(journey.client.get("/h5/methods")) == ["'self'"]
    page = journey.client.get("/h5/verify/face")
    assert script_src(page) == ["'self'", fake.url]  # scheme, host and port of ALIYUN_FACE_SCRIPT_URL alone
    assert f'<script src="{fake.url}/cdn/jsvm_all.js" defer>' in page.get_data(as_text=True)
    app.config["ALIYUN_FACE_SCRIPT_URL"] = "https://o.alicdn.com/yd-cloudauth/cloudauth-cdn/jsvm_all.js"
    set_providers(app, None)
    assert script_src(journey.client.get("/h5/verify/face")) == ["'self'", "https://o.alicdn.com"]


@pytest.mark.parametrize("vendor_journey", ["aliyun"], indirect=True)
@pytest.mark.parametrize("meta_info,words", [
    ("", "请开启浏览器的JavaScript"),  # no script ran (JavaScript off, or the script did not load)
    ("not json", "刷脸组件返回的信息无法识别"), ("[]", "刷脸组件返回的信息无法识别"),
    ("{" + '"a": 1, ' * 2000 + '"b": 2}', "刷脸组件返回的信息无法识别"),
])
def test_device_data_the_script_did_not_give_is_refused_in_chinese_and_never_sent(vendor_journey, meta_info, words):
    journey, fake = vendor_journey
    journey.client.get("/h5/verify/face")
    response = journey.client.post("/h5/verify/face/device", data={"meta_info": meta_info})
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and words in text and 'data-reason="device_info"' in text
    assert script_src(response) == ["'self'", fake.url] and fake.calls == []
    assert journey.vs().state == "in_progress" and journey.vs().attempts == 0

"""Alibaba Cloud result codes, in one table: what each code means for the journey.

Each row: (API, code) → (kind, reason), with the documentation's wording quoted beside it; kinds and
the fall-back to a parent code (``Throttling.User`` → ``Throttling``) as in ``vendor.py``. API ``*``
holds the gateway's error codes (HTTP 4xx/5xx ``Code``). A reply's own ``Code`` is looked up as is;
``biz:`` prefixes ResultObject.BizCode, ``sub:`` ResultObject.SubCode.

Sources (read 2026-12-03): 身份二要素核验 Id2MetaVerify and 手机号三要素简版 Mobile3MetaSimpleVerify
(https://help.aliyun.com/zh/id-verification/, 返回码 and BizCode tables); 金融级实人认证 错误码
(https://help.aliyun.com/zh/id-verification/financial-grade-id-verification/error-code: InitFaceVerify
and DescribeFaceVerify Code, ResultObject.SubCode错误码说明); H5 接入 (InitFaceVerify ProductCode ID_PRO,
https://help.aliyun.com/document_detail/173781.html); 短信服务 API 错误码
(https://help.aliyun.com/document_detail/101346.html); OpenAPI 公共错误码 (SignatureDoesNotMatch…).
"""
from __future__ import annotations

from erhc_h5.identity import vendor
from erhc_h5.identity.vendor import FAIL, PASS, PENDING, UNAVAILABLE

# Id2MetaVerify and Mobile3MetaSimpleVerify share the Code table; BizCode differs by API below.
_VERIFY_CODES = {
    "200": (PASS, ""),  # success / 成功。
    "400": (UNAVAILABLE, "upstream_error"),  # 参数不能为空
    "401": (FAIL, "no_record"),  # 参数非法: 非法参数,传入的姓名、身份证号码不符合规则。
    "402": (UNAVAILABLE, "upstream_error"),  # 权威源服务异常
    "403": (UNAVAILABLE, "throttled"),  # 异常重复调⽤
    "410": (UNAVAILABLE, "provider_refused"),  # 未开通服务: 产品未开通。
    "411": (UNAVAILABLE, "provider_refused"),  # RAM无权限
    "412": (UNAVAILABLE, "quota"),  # 欠费中: 产品欠费,请充值后操作。
    "500": (UNAVAILABLE, "upstream_error"),  # 系统错误: 系统内部错误。
}

# InitFaceVerify and DescribeFaceVerify share most of the Code table (金融级实人认证 错误码).
_FACE_CODES = {
    "200": (PASS, ""),  # success / 成功。
    "400": (UNAVAILABLE, "upstream_error"),  # 参数不能为空
    "401": (UNAVAILABLE, "upstream_error"),  # 参数非法: 传入的姓名、身份证号码长度必须符合国家标准 (checked before we call)
    "402": (UNAVAILABLE, "provider_refused"),  # 应用配置不存在
    "404": (UNAVAILABLE, "provider_refused"),  # 认证场景配置不存在,请先在控制台上创建认证场景。
    "410": (UNAVAILABLE, "provider_refused"),  # 未开通服务: 未开通OSS产品或未完成OSS读写授权
    "411": (UNAVAILABLE, "provider_refused"),  # RAM无权限
    "412": (UNAVAILABLE, "quota"),  # 欠费中: 金融级实人认证或OSS存在欠费,请充值后操作。
    "414": (UNAVAILABLE, "unsupported_device"),  # 设备类型不支持: 当前移动设备不支持刷脸认证,请更换设备后操作。
    "415": (UNAVAILABLE, "unsupported_device"),  # SDK版本不支持
    "416": (UNAVAILABLE, "unsupported_device"),  # 系统版本不支持: 请升级系统或更换设备操作。
    "417": (UNAVAILABLE, "unsupported_document"),  # 无法使用刷脸服务: 当前身份信息比对源不可用。若信息正确,建议人工审核。
    "418": (UNAVAILABLE, "quota"),  # 刷脸失败次数过多: 当天刷脸认证次数过多,请明天再试。
    "500": (UNAVAILABLE, "upstream_error"),  # 系统错误: 系统内部错误
}

TABLE: dict[tuple[str, str], tuple[str, str]] = {
    # --- gateway errors, any API ----------------------------------------------------------------
    ("*", "SignatureDoesNotMatch"): (UNAVAILABLE, "provider_refused"),  # Specified signature does not match our calculation.
    ("*", "IncompleteSignature"): (UNAVAILABLE, "provider_refused"),  # The request signature does not conform to Aliyun standards.
    ("*", "InvalidAccessKeyId"): (UNAVAILABLE, "provider_refused"),  # Specified access key is not found / disabled.
    ("*", "InvalidTimeStamp"): (UNAVAILABLE, "provider_refused"),  # Specified time stamp or date value is expired.
    ("*", "SignatureNonceUsed"): (UNAVAILABLE, "provider_refused"),  # Specified signature nonce was used already.
    ("*", "Forbidden"): (UNAVAILABLE, "provider_refused"),  # 无权限 / User not authorized to operate on the specified resource.
    ("*", "Throttling"): (UNAVAILABLE, "throttled"),  # Request was denied due to request throttling.
    ("*", "ServiceUnavailable"): (UNAVAILABLE, "upstream_error"),  # The request has failed due to a temporary failure of the server.
    ("*", "InternalError"): (UNAVAILABLE, "upstream_error"),  # The request processing has failed due to some unknown error.
    # --- Id2MetaVerify (身份二要素核验): Code, then ResultObject.BizCode ---------------------------
    **{("Id2MetaVerify", code): value for code, value in _VERIFY_CODES.items()},
    ("Id2MetaVerify", "biz:1"): (PASS, ""),  # 1:校验⼀致(计费)
    ("Id2MetaVerify", "biz:2"): (FAIL, "mismatch"),  # 2:校验不⼀致(计费)
    ("Id2MetaVerify", "biz:3"): (FAIL, "no_record"),  # 3:查⽆记录(不计费)
    # --- Mobile3MetaSimpleVerify (手机号三要素核验简版) -------------------------------------------
    **{("Mobile3MetaSimpleVerify", code): value for code, value in _VERIFY_CODES.items()},
    ("Mobile3MetaSimpleVerify", "biz:1"): (PASS, ""),  # 1:校验一致
    ("Mobile3MetaSimpleVerify", "biz:2"): (FAIL, "mismatch"),  # 2:校验不一致
    ("Mobile3MetaSimpleVerify", "biz:3"): (FAIL, "no_record"),  # 3:查无记录
    # --- InitFaceVerify (金融级实人认证 H5, ProductCode ID_PRO): Code -----------------------------
    **{("InitFaceVerify", code): value for code, value in _FACE_CODES.items()},
    # --- DescribeFaceVerify: Code, then ResultObject.Passed and ResultObject.SubCode ------------
    **{("DescribeFaceVerify", code): value for code, value in _FACE_CODES.items()},
    ("DescribeFaceVerify", "403"): (PENDING, ""),  # 认证未完成
    ("DescribeFaceVerify", "406"): (UNAVAILABLE, "face_expired"),  # 无效的CertifyId
    ("DescribeFaceVerify", "424"): (PENDING, ""),  # 身份认证记录不存在: 当前CertifyId还未完成认证…认证过程中放弃、认证处理中
    ("DescribeFaceVerify", "427"): (UNAVAILABLE, "throttled"),  # 业务策略限制: 该身份因触发内部风控策略未完成认证
    ("DescribeFaceVerify", "sub:200"): (PASS, ""),  # 认证通过
    ("DescribeFaceVerify", "sub:201"): (FAIL, "mismatch"),  # 姓名和身份证不一致
    ("DescribeFaceVerify", "sub:202"): (FAIL, "no_record"),  # 查询不到身份信息
    ("DescribeFaceVerify", "sub:203"): (FAIL, "no_record"),  # 查询不到照片或照片不可用
    ("DescribeFaceVerify", "sub:204"): (FAIL, "face_mismatch"),  # 人脸比对不一致
    ("DescribeFaceVerify", "sub:205"): (FAIL, "liveness_failed"),  # 活体检测存在风险
    ("DescribeFaceVerify", "sub:206"): (UNAVAILABLE, "throttled"),  # 业务策略限制: 可能存在异常风险操作,建议人工确认后操作
    ("DescribeFaceVerify", "sub:207"): (FAIL, "face_mismatch"),  # 人脸与身份证人脸比对不一致
    ("DescribeFaceVerify", "sub:209"): (UNAVAILABLE, "upstream_error"),  # 权威比对源异常
    # --- SendSms (短信服务 dysmsapi 2017-05-25): Code ----------------------------------------------
    ("SendSms", "OK"): (PASS, ""),  # 请求成功
    ("SendSms", "isv.BUSINESS_LIMIT_CONTROL"): (UNAVAILABLE, "sms_throttled"),  # 业务限流
    ("SendSms", "isv.DAY_LIMIT_CONTROL"): (UNAVAILABLE, "quota"),  # 触发日发送限额
    ("SendSms", "isv.MONTH_LIMIT_CONTROL"): (UNAVAILABLE, "quota"),  # 触发月发送限额
    ("SendSms", "isv.AMOUNT_NOT_ENOUGH"): (UNAVAILABLE, "quota"),  # 账户余额不足
    ("SendSms", "isv.OUT_OF_SERVICE"): (UNAVAILABLE, "quota"),  # 业务停机
    ("SendSms", "isv.MOBILE_NUMBER_ILLEGAL"): (UNAVAILABLE, "sms_rejected"),  # 非法手机号
    ("SendSms", "isv.SMS_TEMPLATE_ILLEGAL"): (UNAVAILABLE, "sms_rejected"),  # 该账号下找不到对应模板
    ("SendSms", "isv.SMS_SIGNATURE_ILLEGAL"): (UNAVAILABLE, "sms_rejected"),  # 该账号下找不到对应签名
    ("SendSms", "isv.TEMPLATE_MISSING_PARAMETERS"): (UNAVAILABLE, "sms_rejected"),  # 参数异常
    ("SendSms", "isv.SMS_CONTENT_ILLEGAL"): (UNAVAILABLE, "sms_rejected"),  # 短信内容包含禁止发送内容
    ("SendSms", "isv.ACCOUNT_ABNORMAL"): (UNAVAILABLE, "provider_refused"),  # 账户异常
    ("SendSms", "isv.PRODUCT_UN_SUBSCRIPT"): (UNAVAILABLE, "provider_refused"),  # 未开通云通信产品的阿里云客户
    ("SendSms", "isp.RAM_PERMISSION_DENY"): (UNAVAILABLE, "provider_refused"),  # RAM权限不足
    ("SendSms", "isp.SYSTEM_ERROR"): (UNAVAILABLE, "upstream_error"),  # 系统错误
}


def lookup(api: str, code) -> tuple[str, str]:
    """(kind, reason) for ``code`` returned by ``api``; unknown codes are ``unknown_result``."""
    return vendor.lookup(TABLE, api, code)

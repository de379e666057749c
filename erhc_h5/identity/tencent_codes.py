"""Tencent Cloud result codes, in one table: what each code means for the journey.

Each row: (API, code) → (kind, reason), with the documentation's wording quoted beside it; kinds and
the fall-back to a parent code as in ``vendor.py``. API ``*`` holds the common error codes
(``Response.Error.Code``) every API may return.

Sources (read 2026-12-03): 公共错误码 https://cloud.tencent.com/document/api/1007/31324 and
https://cloud.tencent.com/document/api/382/52075; IdCardVerification and PhoneVerification result
fields (SDK models, tencentcloud-sdk-python-faceid 3.1); 人脸核身返回码
https://cloud.tencent.com/document/product/1007/31082 (H5) and /1007/101997; 短信错误码
https://cloud.tencent.com/document/api/382/59177 (and the SDK's errorcodes.py comments).
"""
from __future__ import annotations

from erhc_h5.identity import vendor
from erhc_h5.identity.vendor import FAIL, PASS, PENDING, UNAVAILABLE

TABLE: dict[tuple[str, str], tuple[str, str]] = {
    # --- common error codes (Response.Error.Code), any API -----------------------------------
    ("*", "AuthFailure"): (UNAVAILABLE, "provider_refused"),  # CAM签名/鉴权错误。
    ("*", "AuthFailure.SignatureFailure"): (UNAVAILABLE, "provider_refused"),  # 签名错误。签名计算错误…
    ("*", "AuthFailure.SignatureExpire"): (UNAVAILABLE, "provider_refused"),  # 签名过期。Timestamp 和服务器时间相差不得超过五分钟…
    ("*", "AuthFailure.SecretIdNotFound"): (UNAVAILABLE, "provider_refused"),  # 密钥不存在。
    ("*", "UnauthorizedOperation"): (UNAVAILABLE, "provider_refused"),  # 未授权操作。
    ("*", "UnauthorizedOperation.Nonactivated"): (UNAVAILABLE, "provider_refused"),  # 未开通服务。
    ("*", "UnauthorizedOperation.Arrears"): (UNAVAILABLE, "quota"),  # 账号已欠费。
    ("*", "UnauthorizedOperation.ServiceSuspendDueToArrears"): (UNAVAILABLE, "quota"),  # 欠费被停止服务…
    ("*", "IpNotInWhitelist"): (UNAVAILABLE, "provider_refused"),  # IP 地址不在白名单中。
    ("*", "IpInBlacklist"): (UNAVAILABLE, "provider_refused"),  # IP 地址在黑名单中。
    ("*", "RequestLimitExceeded"): (UNAVAILABLE, "throttled"),  # 请求的次数超过了频率限制。
    ("*", "LimitExceeded"): (UNAVAILABLE, "quota"),  # 超过配额限制。
    ("*", "FailedOperation.RequestLimitExceeded"): (UNAVAILABLE, "quota"),  # 调用次数超出限制。
    ("*", "FailedOperation.IdentityAuthLimitExceeded"): (UNAVAILABLE, "quota"),  # 姓名/身份证号认证次数超过当日限制，请次日重试
    ("*", "InternalError"): (UNAVAILABLE, "upstream_error"),  # 内部错误。
    ("*", "FailedOperation"): (UNAVAILABLE, "upstream_error"),  # 操作失败。
    ("*", "InvalidParameter"): (UNAVAILABLE, "upstream_error"),  # 参数错误（包括参数格式、类型等错误）。
    ("*", "InvalidParameterValue"): (UNAVAILABLE, "upstream_error"),  # 参数取值错误。
    ("*", "MissingParameter"): (UNAVAILABLE, "upstream_error"),  # 缺少参数。
    ("*", "InvalidParameterValue.RuleIdNotExist"): (UNAVAILABLE, "provider_refused"),  # RuleId不存在，请到人脸核身控制台申请。
    ("*", "InvalidParameterValue.BizTokenExpired"): (UNAVAILABLE, "face_expired"),  # BizToken过期。
    ("*", "InvalidParameterValue.BizTokenIllegal"): (UNAVAILABLE, "face_expired"),  # BizToken不合法。
    # Raised by the SDK itself (TencentCloudSDKException), before any vendor code exists.
    ("*", "ServerNetworkError"): (UNAVAILABLE, "upstream_error"),  # HTTP status other than 200
    ("*", "ClientNetworkError"): (UNAVAILABLE, "unreachable"),  # the request did not reach the vendor
    ("*", "ClientParamsError"): (UNAVAILABLE, "upstream_error"),  # parameters the SDK cannot send
    ("*", "ClientError"): (UNAVAILABLE, "upstream_error"),  # e.g. an unsupported signing method
    # --- IdCardVerification (身份证二要素核验): Response.Result ----------------------------------
    ("IdCardVerification", "0"): (PASS, ""),  # 姓名和身份证号一致
    ("IdCardVerification", "-1"): (FAIL, "mismatch"),  # 姓名和身份证号不一致
    ("IdCardVerification", "-2"): (FAIL, "no_record"),  # 非法身份证号（长度、校验位等不正确）
    ("IdCardVerification", "-3"): (FAIL, "no_record"),  # 非法姓名（长度、格式等不正确）
    ("IdCardVerification", "-4"): (UNAVAILABLE, "upstream_error"),  # 证件库服务异常
    ("IdCardVerification", "-5"): (FAIL, "no_record"),  # 证件库中无此身份证记录
    ("IdCardVerification", "-6"): (UNAVAILABLE, "upstream_error"),  # 权威比对系统升级中，请稍后再试
    ("IdCardVerification", "-7"): (UNAVAILABLE, "quota"),  # 认证次数超过当日限制
    # --- PhoneVerification (手机号三要素核验): Response.Result -----------------------------------
    ("PhoneVerification", "0"): (PASS, ""),  # 三要素信息一致。
    ("PhoneVerification", "-4"): (FAIL, "mismatch"),  # 三要素信息不一致。
    ("PhoneVerification", "-6"): (FAIL, "phone_mismatch"),  # 手机号码不合法。
    ("PhoneVerification", "-7"): (FAIL, "no_record"),  # 身份证号码有误。
    ("PhoneVerification", "-8"): (FAIL, "no_record"),  # 姓名校验不通过。
    ("PhoneVerification", "-9"): (FAIL, "no_record"),  # 没有记录。
    ("PhoneVerification", "-11"): (UNAVAILABLE, "upstream_error"),  # 验证中心服务繁忙。
    ("PhoneVerification", "-12"): (UNAVAILABLE, "quota"),  # 认证次数超过当日限制，请次日重试。
    ("PhoneVerification", "-13"): (UNAVAILABLE, "unsupported_phone"),  # 该号段不支持验证
    # --- GetDetectInfoEnhanced (人脸核身 H5): Response.Text.ErrCode ------------------------------
    ("DetectInfo", "0"): (PASS, ""),  # 成功
    ("DetectInfo", "1"): (UNAVAILABLE, "upstream_error"),  # 调用方式出错,请参考人脸核身 DetectAuth 文档进行调用
    ("DetectInfo", "2"): (UNAVAILABLE, "upstream_error"),  # 调用方式出错…
    ("DetectInfo", "3"): (UNAVAILABLE, "upstream_error"),  # 调用方式出错…
    ("DetectInfo", "4"): (UNAVAILABLE, "upstream_error"),  # 服务异常,请稍后重试或联系客服人员
    ("DetectInfo", "8"): (UNAVAILABLE, "upstream_error"),  # 服务异常,请稍后重试或联系客服人员
    ("DetectInfo", "10"): (UNAVAILABLE, "upstream_error"),  # 服务异常…
    ("DetectInfo", "12"): (UNAVAILABLE, "upstream_error"),  # 服务异常…
    ("DetectInfo", "13"): (UNAVAILABLE, "upstream_error"),  # 服务异常…
    ("DetectInfo", "14"): (UNAVAILABLE, "face_expired"),  # 本次校验已完成
    ("DetectInfo", "15"): (UNAVAILABLE, "face_expired"),  # Token 过期,请重试
    ("DetectInfo", "16"): (FAIL, "liveness_failed"),  # 已达到重试上限
    ("DetectInfo", "17"): (PENDING, ""),  # 本次流程未完成
    ("DetectInfo", "201"): (UNAVAILABLE, "upstream_error"),  # 从微信拉取图片失败,请重试
    ("DetectInfo", "202"): (UNAVAILABLE, "upstream_error"),  # 视频获取失败,请重试
    ("DetectInfo", "203"): (UNAVAILABLE, "provider_refused"),  # 无此 API 调用权限
    ("DetectInfo", "204"): (UNAVAILABLE, "provider_refused"),  # 当前公众号/小程序未完成对慧眼授权…
    ("DetectInfo", "301"): (FAIL, "mismatch"),  # 当前认证人身份证号码与业务传入验证证件号码不符,请重新上传
    ("DetectInfo", "302"): (FAIL, "no_record"),  # 身份证已过期,请使用有效身份证进行核验
    ("DetectInfo", "303"): (FAIL, "bad_image"),  # 扫描识别失败,请重新拍摄
    ("DetectInfo", "1001"): (UNAVAILABLE, "upstream_error"),  # 引擎超时,请稍后重试
    ("DetectInfo", "1002"): (FAIL, "liveness_failed"),  # 疑似非真人录制
    ("DetectInfo", "1003"): (FAIL, "liveness_failed"),  # 人脸识别验证未成功,请重试
    ("DetectInfo", "1004"): (FAIL, "liveness_failed"),  # 人脸验证失败,请重试
    ("DetectInfo", "1005"): (FAIL, "liveness_failed"),  # 人脸验证失败,请重试
    ("DetectInfo", "1006"): (UNAVAILABLE, "upstream_error"),  # 证照库出错,请重试
    ("DetectInfo", "1007"): (UNAVAILABLE, "upstream_error"),  # 未拉取微信活体结果或拉取微信活体结果失败
    ("DetectInfo", "1008"): (FAIL, "bad_image"),  # 用户活体过程网络不稳定,请切换网络环境后重试
    ("DetectInfo", "2001"): (UNAVAILABLE, "upstream_error"),  # 引擎超时,请稍后重试
    ("DetectInfo", "2002"): (FAIL, "no_record"),  # 姓名有误,请确认后重试
    ("DetectInfo", "2003"): (FAIL, "no_record"),  # 身份证号有误,请确认后重试
    ("DetectInfo", "2004"): (FAIL, "bad_image"),  # 视频提取照片出错,请重试或更换手机进行验证
    ("DetectInfo", "2005"): (FAIL, "no_record"),  # 未查询到身份信息,请通过其他渠道验证
    ("DetectInfo", "2006"): (FAIL, "mismatch"),  # 姓名和身份证号不匹配,请核实身份后重试
    ("DetectInfo", "2007"): (FAIL, "no_record"),  # 未查询到照片信息,请通过其他渠道验证
    ("DetectInfo", "2008"): (FAIL, "no_record"),  # 未查询到照片信息,请通过其他渠道验证
    ("DetectInfo", "2009"): (FAIL, "no_record"),  # 查询到照片分辨率过低,请通过其他渠道验证
    ("DetectInfo", "2010"): (FAIL, "bad_image"),  # 脸部未完整露出,请保持正脸面对屏幕
    ("DetectInfo", "2011"): (FAIL, "liveness_failed"),  # 无法判断为同一人,请确认身份后重试(疑似非活体)
    ("DetectInfo", "2012"): (FAIL, "bad_image"),  # 检测到多张人脸,请保持验证视频中只有本人
    ("DetectInfo", "2013"): (FAIL, "bad_image"),  # 脸部未完整露出,请保持正脸面对屏幕
    ("DetectInfo", "2014"): (FAIL, "bad_image"),  # 视频像素太低无法检测,请更换手机进行验证
    ("DetectInfo", "2015"): (FAIL, "face_mismatch"),  # 无法判断为同一人,请确认身份后重试(比对失败)
    ("DetectInfo", "2016"): (FAIL, "face_mismatch"),  # 无法判断为同一人,请确认身份后重试(相似度未达到通过阈值)
    ("DetectInfo", "2017"): (UNAVAILABLE, "upstream_error"),  # 权威数据源升级中,请稍后再试
    # --- SendSms (短信): Response.Error.Code, or SendStatusSet[].Code per number -------------------
    ("SendSms", "Ok"): (PASS, ""),  # 发送成功
    ("SendSms", "LimitExceeded.PhoneNumberThirtySecondLimit"): (UNAVAILABLE, "sms_throttled"),  # 单个手机号30秒内下发短信条数超过设定的上限…
    ("SendSms", "LimitExceeded.PhoneNumberOneHourLimit"): (UNAVAILABLE, "sms_throttled"),  # 单个手机号1小时内下发短信条数超过设定的上限…
    ("SendSms", "LimitExceeded.PhoneNumberDailyLimit"): (UNAVAILABLE, "sms_throttled"),  # 单个手机号日下发短信条数超过设定的上限…
    ("SendSms", "LimitExceeded.PhoneNumberSameContentDailyLimit"): (UNAVAILABLE, "sms_throttled"),  # 单个手机号下发相同内容超过设定的上限…
    ("SendSms", "LimitExceeded.DeliveryFrequencyLimit"): (UNAVAILABLE, "sms_throttled"),  # 下发短信命中了频率限制策略…
    ("SendSms", "LimitExceeded.AppDailyLimit"): (UNAVAILABLE, "quota"),  # 业务短信日下发条数超过设定的上限…
    ("SendSms", "FailedOperation.InsufficientBalanceInSmsPackage"): (UNAVAILABLE, "quota"),  # 套餐包余量不足…
    ("SendSms", "FailedOperation.SignatureIncorrectOrUnapproved"): (UNAVAILABLE, "sms_rejected"),  # 签名未审批或格式错误。
    ("SendSms", "FailedOperation.TemplateIncorrectOrUnapproved"): (UNAVAILABLE, "sms_rejected"),  # 模板未审批或内容不匹配。
    ("SendSms", "FailedOperation.PhoneNumberInBlacklist"): (UNAVAILABLE, "sms_rejected"),  # 手机号在免打扰名单库中…
    ("SendSms", "FailedOperation.ContainSensitiveWord"): (UNAVAILABLE, "sms_rejected"),  # 短信内容中含有敏感词…
    ("SendSms", "InvalidParameterValue.IncorrectPhoneNumber"): (UNAVAILABLE, "sms_rejected"),  # 手机号格式错误。
    ("SendSms", "UnauthorizedOperation.SmsSdkAppIdVerifyFail"): (UNAVAILABLE, "provider_refused"),  # SmsSdkAppId 校验失败…
    ("SendSms", "UnauthorizedOperation.RequestPermissionDeny"): (UNAVAILABLE, "provider_refused"),  # 请求没有权限…
    ("SendSms", "InternalError.Timeout"): (UNAVAILABLE, "timeout"),  # 请求下发短信超时…
}


def lookup(api: str, code) -> tuple[str, str]:
    """(kind, reason) for ``code`` returned by ``api``; unknown codes are ``unknown_result``."""
    return vendor.lookup(TABLE, api, code)

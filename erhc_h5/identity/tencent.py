"""Tencent Cloud providers on the official SDKs: 身份证二要素 (IdCardVerification), 手机号三要素
(PhoneVerification), the H5 face flow (DetectAuth, then GetDetectInfoEnhanced server to server) and
SMS by template (SendSms, API 2021-01-11).

The SDK signs (TC3-HMAC-SHA256) and shapes each request; its transport is replaced by the project's
bounded one (``erhc_h5/outbound.py``: whole-call deadline, reply cap, JSON nesting limit), so a
slow or oversize reply ends as ProviderUnavailable like every other provider's. Result and error
codes are read through ONE table (``tencent_codes.py``); an unknown code is never a pass.
Personal data never reaches logs or exception text, and the SDK's own debug logger is kept quiet
(it would print request bodies).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

import requests

from erhc_h5.identity.base import CheckResult, FaceStart, ProviderUnavailable, SmsReceipt
from erhc_h5.identity.http import TRANSPORT_REASONS
from erhc_h5.identity.tencent_codes import PASS, lookup
from erhc_h5.identity.vendor import (VendorProvider, allowed_scheme, limits_of, logged_call, refusal,
                                     require_id_card, text, verdict)
from erhc_h5.outbound import Limits, OutboundFailure, fetch, new_session, parse_json

SDK_LOGGER = "tencentcloud_sdk_common"


class _Reply:
    """The three things the SDK reads from a reply."""

    def __init__(self, status: int, headers, body: bytes) -> None:
        self.status_code, self.headers, self.content = status, headers, body

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class BoundedConnection:
    """Stands in for the SDK's ProxyConnection: one bounded call through ``outbound.fetch``."""

    def __init__(self, limits: Limits, session: requests.Session | None = None) -> None:
        self.limits = limits
        self.session = session or new_session()
        self.request_length = 0

    def request(self, method, url, body=None, headers=None):
        prepared = self.session.prepare_request(requests.Request(method, url, data=body, headers=headers))
        settings = self.session.merge_environment_settings(prepared.url, {}, None, None, None)
        fetched = fetch(self.session, prepared, self.limits, **settings)
        if fetched.status == 200:
            parse_json(fetched.body, self.limits.max_depth)  # OutboundFailure before the SDK's json.loads
        return _Reply(fetched.status, fetched.headers, fetched.body)


def _below_warning(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def quiet_sdk_logger() -> None:
    """Drop the SDK's debug and info lines whatever level is set: they print request and reply bodies."""
    sdk_logger = logging.getLogger(SDK_LOGGER)
    if _below_warning not in sdk_logger.filters:
        sdk_logger.addFilter(_below_warning)


def _bounded_request_class():
    from tencentcloud.common.http.request import ApiRequest

    class BoundedApiRequest(ApiRequest):
        """The SDK's request sender, letting OutboundFailure through with its reason."""

        def send_request(self, req_inter):
            return self._request(req_inter)

    return BoundedApiRequest


def make_client(client_cls, config: Mapping, limits: Limits):
    """An SDK client with the configured credential, region, endpoint override and bounded transport."""
    from tencentcloud.common.credential import Credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    quiet_sdk_logger()
    endpoint = str(config.get("TENCENT_ENDPOINT") or "")
    parts = urlsplit(endpoint) if endpoint else None
    http_profile = HttpProfile(protocol=parts.scheme if parts else "https", endpoint=parts.netloc if parts else None,
                               reqTimeout=max(1, round(limits.read_timeout)))
    profile = ClientProfile(httpProfile=http_profile, disable_region_breaker=True)  # the breaker swaps endpoints
    client = client_cls(Credential(str(config["TENCENT_SECRET_ID"]), str(config["TENCENT_SECRET_KEY"])),
                        str(config.get("TENCENT_REGION") or "ap-guangzhou"), profile)
    request = _bounded_request_class()(client._get_endpoint(), req_timeout=http_profile.reqTimeout,
                                       is_http=http_profile.scheme == "http")
    request.conn = BoundedConnection(limits)
    client.request = request
    return client


class TencentApi:
    """One place that calls an action, maps every failure through the code table and logs the call."""

    def __init__(self, config: Mapping) -> None:
        self.limits = limits_of(config)
        self.config = config
        self._clients: dict[str, object] = {}

    def client(self, product: str):
        if product not in self._clients:
            if product == "faceid":
                from tencentcloud.faceid.v20180301.faceid_client import FaceidClient as cls
            else:
                from tencentcloud.sms.v20210111.sms_client import SmsClient as cls
            self._clients[product] = make_client(cls, self.config, self.limits)
        return self._clients[product]

    def call(self, op: str, product: str, action: str, params: dict) -> dict:
        """The ``Response`` object of a successful call; ProviderUnavailable otherwise."""
        return logged_call("tencent", op, lambda: self._call(product, action, params))

    def _call(self, product: str, action: str, params: dict) -> dict:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        try:
            data = self.client(product).call_json(action, params)
        except OutboundFailure as exc:
            raise ProviderUnavailable(TRANSPORT_REASONS.get(exc.reason, "unreachable"), exc.reason) from None
        except TencentCloudSDKException as exc:
            raise _refusal(action, str(exc.get_code())) from None
        except (ValueError, KeyError, TypeError):
            raise ProviderUnavailable("bad_reply", "unreadable reply") from None
        response = data.get("Response") if isinstance(data, dict) else None
        if not isinstance(response, dict):
            raise ProviderUnavailable("bad_reply", "no Response")
        error = response.get("Error")
        if error is not None:  # the SDK only looks for it under an exact JSON content type
            raise _refusal(action, str(error.get("Code", "")) if isinstance(error, dict) else "")
        return response


def _refusal(api: str, code: str) -> ProviderUnavailable:
    return refusal(lookup(api, code), api, code)


def _verdict(api: str, code: str, ref: str) -> CheckResult:
    return verdict(lookup(api, code), api, code, ref)


def _text(response: dict, key: str) -> str:
    return text(response.get(key), key)


class TencentIdentityProvider(VendorProvider):
    """身份证二要素核验 and 手机号三要素核验 (carrier records)."""

    def check_two_factor(self, name: str, id_card_type_code: str, idcode: str) -> CheckResult:
        require_id_card(id_card_type_code)
        response = self._api.call("two_factor", "faceid", "IdCardVerification", {"IdCard": idcode, "Name": name})
        return _verdict("IdCardVerification", _text(response, "Result"), str(response.get("RequestId") or ""))

    def check_three_factor(self, name: str, id_card_type_code: str, idcode: str, phone: str) -> CheckResult:
        require_id_card(id_card_type_code)
        response = self._api.call("three_factor", "faceid", "PhoneVerification",
                                  {"IdCard": idcode, "Name": name, "Phone": phone})
        return _verdict("PhoneVerification", _text(response, "Result"), str(response.get("RequestId") or ""))


class TencentSmsProvider(VendorProvider):
    """Templated SMS; the receipt means the gateway accepted the message for this number."""

    def _send(self, phone: str, template_key: str, params: list[str]) -> SmsReceipt:
        response = self._api.call("sms_send", "sms", "SendSms", {
            "PhoneNumberSet": ["+86" + phone], "SmsSdkAppId": str(self._config["TENCENT_SMS_SDK_APP_ID"]),
            "SignName": str(self._config["TENCENT_SMS_SIGN"]), "TemplateId": str(self._config[template_key]),
            "TemplateParamSet": params})
        statuses = response.get("SendStatusSet")
        if not isinstance(statuses, list) or len(statuses) != 1 or not isinstance(statuses[0], dict):
            raise ProviderUnavailable("bad_reply", "SendStatusSet")
        code = _text(statuses[0], "Code")
        if lookup("SendSms", code)[0] != PASS:
            raise _refusal("SendSms", code)
        return SmsReceipt(_text(statuses[0], "SerialNo"))

    def send_code(self, phone: str, code: str) -> SmsReceipt:
        return self._send(phone, "TENCENT_SMS_TEMPLATE_CODE", [code])

    def send_notice(self, phone: str, params: dict[str, str]) -> SmsReceipt:
        """Template variables {1} time, {2} app, {3} account, {4} hotline, as registered with the vendor."""
        values = [params["time"], params["app"], params["account"], params.get("hotline") or "城市服务热线"]
        return self._send(phone, "TENCENT_SMS_TEMPLATE_NOTICE", values)


class TencentFaceProvider(VendorProvider):
    """H5 人脸核身: DetectAuth sends the resident to the vendor's page; the verdict is fetched by BizToken."""

    device_script = ""


    def start(self, name: str, id_card_type_code: str, idcode: str, return_url: str, device_info: str = "") -> FaceStart:
        require_id_card(id_card_type_code)
        response = self._api.call("face_token", "faceid", "DetectAuth", {
            "RuleId": str(self._config["TENCENT_FACEID_RULE_ID"]), "IdCard": idcode, "Name": name,
            "RedirectUrl": return_url})
        url = _text(response, "Url")
        if urlsplit(url).scheme != allowed_scheme(self._config, "TENCENT_ENDPOINT"):
            raise ProviderUnavailable("bad_reply", "Url scheme")
        return FaceStart(token=_text(response, "BizToken"), redirect_url=url)

    def verify_image(self, token: str, image: bytes) -> CheckResult:
        raise ProviderUnavailable("not_supported", "the vendor's own page captures the face")

    def fetch_result(self, token: str) -> CheckResult:
        response = self._api.call("face_result", "faceid", "GetDetectInfoEnhanced", {
            "BizToken": token, "RuleId": str(self._config["TENCENT_FACEID_RULE_ID"]), "InfoType": "1"})
        ref = str(response.get("RequestId") or "")
        text = response.get("Text")
        if text is None or (isinstance(text, dict) and text.get("ErrCode") is None):
            raise ProviderUnavailable("pending", "no result yet")
        if not isinstance(text, dict) or isinstance(text["ErrCode"], bool):
            raise ProviderUnavailable("bad_reply", "Text")
        result = _verdict("DetectInfo", str(text["ErrCode"]), ref)
        return self._confirm(result, text, ref) if result.passed else result

    def _confirm(self, result: CheckResult, text: dict, ref: str) -> CheckResult:
        """A pass needs live, compared, and a similarity at or above our own threshold too."""
        if any(text.get(key) is None for key in ("LiveStatus", "Comparestatus", "Sim")):
            raise ProviderUnavailable("bad_reply", "pass without its details")
        if str(text["LiveStatus"]) != "0":
            return CheckResult(False, "liveness_failed", ref)
        try:
            similarity = float(text["Sim"])
        except (TypeError, ValueError):
            raise ProviderUnavailable("bad_reply", "Sim not a number") from None
        if str(text.get("Comparestatus")) == "0" and similarity >= float(self._config.get("PROVIDER_FACE_MIN_SCORE", 80)):
            return result
        return CheckResult(False, "face_mismatch", ref)

"""Alibaba Cloud providers on the official SDKs: 身份二要素核验 (cloudauth Id2MetaVerify), 手机号三要素
核验简版 (Mobile3MetaSimpleVerify), SMS by template (dysmsapi SendSms) and the H5 face check of
金融级实人认证 (InitFaceVerify, then DescribeFaceVerify server to server by CertifyId).

The SDKs sign with ACS3-HMAC-SHA256 and shape each request; the HTTP exchange goes through the
project's bounded transport (``erhc_h5/outbound.py``): the OpenAPI core's ``do_action`` is replaced,
for calls made here only, by one that keeps the deadline, the reply cap and the JSON nesting limit.
The SDK's own retries are off. Codes are read through ONE table (``aliyun_codes.py``); an unknown
code is never a pass. The H5 face check needs the browser's device data (MetaInfo), gathered in our
face page by Alibaba's own script (``ALIYUN_FACE_SCRIPT_URL``, ``getMetaInfo()``) and posted to us:
it arrives here as ``device_info``.
"""
from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

import requests

from erhc_h5.identity.aliyun_codes import PASS, lookup
from erhc_h5.identity.base import CheckResult, FaceStart, ProviderUnavailable, SmsReceipt, device_info_problem
from erhc_h5.identity.http import TRANSPORT_REASONS
from erhc_h5.identity.vendor import (VendorProvider, allowed_scheme, limits_of, logged_call, refusal,
                                     require_id_card, text, verdict)
from erhc_h5.outbound import OutboundFailure, fetch, new_session, parse_json

ENDPOINTS = {"cloudauth": "cloudauth.aliyuncs.com", "dysmsapi": "dysmsapi.aliyuncs.com"}
_call = threading.local()  # the limits and session of the call this thread is making, if any


class UpstreamStatus(Exception):
    """An HTTP 5xx whose body is not JSON (a proxy's error page)."""


def _bounded_core():
    from darabonba.core import DaraCore
    from darabonba.response import DaraResponse

    class BoundedDaraCore(DaraCore):
        """``do_action`` through outbound.fetch while this module makes the call; unchanged otherwise."""

        @staticmethod
        def do_action(request, runtime_option=None):
            limits = getattr(_call, "limits", None)
            if limits is None:
                return DaraCore.do_action(request, runtime_option)
            session = _call.session
            body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
            prepared = session.prepare_request(requests.Request(
                request.method.upper(), DaraCore.compose_url(request), data=body, headers=request.headers))
            settings = session.merge_environment_settings(prepared.url, {}, None, None, None)
            fetched = fetch(session, prepared, limits, **settings)
            try:
                parse_json(fetched.body, limits.max_depth)
            except OutboundFailure:
                if fetched.status >= 500:
                    raise UpstreamStatus(f"HTTP {fetched.status}") from None
                raise
            response = DaraResponse()
            response.status_code, response.status_message = fetched.status, ""
            response.headers = {k.lower(): v for k, v in fetched.headers.items()}
            response.body, response.response = fetched.body, None
            return response

    return BoundedDaraCore


def install_bounded_core() -> None:
    """Point the OpenAPI client module at the bounded core (idempotent)."""
    import alibabacloud_tea_openapi.client as openapi

    if not getattr(openapi.DaraCore, "erhc_bounded", False):
        core = _bounded_core()
        core.erhc_bounded = True
        openapi.DaraCore = core


class AliyunApi:
    """One place that calls an SDK method, maps every failure through the code table and logs the call."""

    def __init__(self, config: Mapping) -> None:
        self.limits = limits_of(config)
        self.config = config
        self.session = new_session()
        self._clients: dict[str, object] = {}

    def client(self, product: str):
        if product not in self._clients:
            from alibabacloud_tea_openapi.models import Config

            if product == "cloudauth":
                from alibabacloud_cloudauth20190307.client import Client
            else:
                from alibabacloud_dysmsapi20170525.client import Client
            install_bounded_core()
            endpoint = str(self.config.get("ALIYUN_ENDPOINT") or "")
            parts = urlsplit(endpoint) if endpoint else None
            self._clients[product] = Client(Config(
                access_key_id=str(self.config["ALIYUN_ACCESS_KEY_ID"]),
                access_key_secret=str(self.config["ALIYUN_ACCESS_KEY_SECRET"]),
                region_id=str(self.config.get("ALIYUN_REGION") or "cn-hangzhou"),
                endpoint=parts.netloc if parts else ENDPOINTS[product], protocol=parts.scheme if parts else "https"))
        return self._clients[product]

    def runtime(self):
        from darabonba.runtime import RuntimeOptions

        return RuntimeOptions(autoretry=False, max_attempts=0, connect_timeout=int(self.limits.connect_timeout * 1000),
                              read_timeout=int(self.limits.read_timeout * 1000))

    def call(self, op: str, product: str, api: str, invoke):
        """The reply body model of a call that reached the vendor; ProviderUnavailable otherwise."""
        return logged_call("aliyun", op, lambda: self._call(product, api, invoke))

    def _call(self, product: str, api: str, invoke):
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        from darabonba.exceptions import UnretryableException

        _call.limits, _call.session = self.limits, self.session
        try:
            return invoke(self.client(product), self.runtime()).body
        except UnretryableException as exc:
            raise _transport(getattr(exc, "inner_exception", None)) from None
        except AlibabaCloudException as exc:
            raise refusal(lookup(api, str(exc.code or "")), api, str(exc.code or "")) from None
        except (OutboundFailure, UpstreamStatus) as exc:
            raise _transport(exc) from None
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ProviderUnavailable("bad_reply", "unreadable reply") from None
        finally:
            _call.limits = _call.session = None


def _transport(exc) -> ProviderUnavailable:
    if isinstance(exc, OutboundFailure):
        return ProviderUnavailable(TRANSPORT_REASONS.get(exc.reason, "unreachable"), exc.reason)
    if isinstance(exc, UpstreamStatus):
        return ProviderUnavailable("upstream_error", str(exc))
    return ProviderUnavailable("bad_reply", type(exc).__name__)


def _code(value) -> str:
    return text(value, "code")


def _read(api: str, body, field: str):
    """The reply's result object once ``Code`` says the call succeeded; else its failure or unavailability."""
    code = _code(body.code)
    ref = str(getattr(body, "request_id", "") or "")
    kind_reason = lookup(api, code)
    if kind_reason[0] != PASS:
        return verdict(kind_reason, api, code, ref)
    result = body.result_object
    return result, _code(getattr(result, field, None) if result is not None else None), ref


def verify_verdict(api: str, body) -> CheckResult:
    """Code first (200 or a failure), then ResultObject.BizCode; unknown codes are unavailable."""
    read = _read(api, body, "biz_code")
    if isinstance(read, CheckResult):
        return read
    _, biz, ref = read
    return verdict(lookup(api, "biz:" + biz), api, "BizCode " + biz, ref)


class AliyunIdentityProvider(VendorProvider):
    """身份二要素核验 and 手机号三要素核验 (简版)."""

    def check_two_factor(self, name: str, id_card_type_code: str, idcode: str) -> CheckResult:
        from alibabacloud_cloudauth20190307 import models

        require_id_card(id_card_type_code)
        request = models.Id2MetaVerifyRequest(param_type="normal", identify_num=idcode, user_name=name)
        body = self._api.call("two_factor", "cloudauth", "Id2MetaVerify",
                              lambda client, runtime: client.id_2meta_verify_with_options(request, runtime))
        return verify_verdict("Id2MetaVerify", body)

    def check_three_factor(self, name: str, id_card_type_code: str, idcode: str, phone: str) -> CheckResult:
        from alibabacloud_cloudauth20190307 import models

        require_id_card(id_card_type_code)
        request = models.Mobile3MetaSimpleVerifyRequest(param_type="normal", identify_num=idcode, user_name=name,
                                                        mobile=phone)
        body = self._api.call("three_factor", "cloudauth", "Mobile3MetaSimpleVerify",
                              lambda client, runtime: client.mobile_3meta_simple_verify_with_options(request, runtime))
        return verify_verdict("Mobile3MetaSimpleVerify", body)


class AliyunSmsProvider(VendorProvider):
    """Templated SMS; the receipt (BizId) means the gateway accepted the message."""

    def _send(self, phone: str, template_key: str, params: dict[str, str]) -> SmsReceipt:
        from alibabacloud_dysmsapi20170525 import models

        request = models.SendSmsRequest(phone_numbers=phone, sign_name=str(self._config["ALIYUN_SMS_SIGN"]),
                                        template_code=str(self._config[template_key]),
                                        template_param=json.dumps(params, ensure_ascii=False))
        body = self._api.call("sms_send", "dysmsapi", "SendSms",
                              lambda client, runtime: client.send_sms_with_options(request, runtime))
        code = _code(body.code)
        if lookup("SendSms", code)[0] != PASS:
            raise refusal(lookup("SendSms", code), "SendSms", code)
        return SmsReceipt(text(body.biz_id, "BizId"))

    def send_code(self, phone: str, code: str) -> SmsReceipt:
        return self._send(phone, "ALIYUN_SMS_TEMPLATE_CODE", {"code": code})

    def send_notice(self, phone: str, params: dict[str, str]) -> SmsReceipt:
        """Template variables ${time}, ${app}, ${account}, ${hotline}, as registered with the vendor."""
        values = {key: str(params.get(key) or "") for key in ("time", "app", "account")}
        values["hotline"] = str(params.get("hotline") or "城市服务热线")
        return self._send(phone, "ALIYUN_SMS_TEMPLATE_NOTICE", values)



class AliyunFaceProvider(VendorProvider):
    """金融级实人认证, H5: InitFaceVerify (with the page's MetaInfo) sends the resident to the vendor's page;
    the verdict is fetched by CertifyId with DescribeFaceVerify. Nothing the browser brings back is read."""

    @property
    def device_script(self) -> str:
        """The vendor script our face page runs before the check can start (its ``getMetaInfo()``)."""
        return str(self._config.get("ALIYUN_FACE_SCRIPT_URL") or "")

    def start(self, name: str, id_card_type_code: str, idcode: str, return_url: str, device_info: str = "") -> FaceStart:
        from alibabacloud_cloudauth20190307 import models

        require_id_card(id_card_type_code)
        if (problem := device_info_problem(device_info)) is not None:
            raise ProviderUnavailable(problem, "MetaInfo")
        request = models.InitFaceVerifyRequest(
            scene_id=int(self._config["ALIYUN_FACE_SCENE_ID"]), outer_order_no=secrets.token_hex(16),
            product_code=str(self._config.get("ALIYUN_FACE_PRODUCT_CODE") or "ID_PRO"), cert_type="IDENTITY_CARD",
            cert_name=name, cert_no=idcode, return_url=return_url, meta_info=device_info)
        body = self._api.call("face_token", "cloudauth", "InitFaceVerify",
                              lambda client, runtime: client.init_face_verify_with_options(request, runtime))
        read = _read("InitFaceVerify", body, "certify_id")
        if isinstance(read, CheckResult):  # a verdict before the resident saw the vendor's page: not one
            raise ProviderUnavailable(read.reason or "unknown_result", "InitFaceVerify")
        result, certify_id, _ = read
        url = text(result.certify_url, "CertifyUrl")
        if urlsplit(url).scheme != allowed_scheme(self._config, "ALIYUN_ENDPOINT"):
            raise ProviderUnavailable("bad_reply", "CertifyUrl scheme")
        return FaceStart(token=certify_id, redirect_url=url)

    def verify_image(self, token: str, image: bytes) -> CheckResult:
        raise ProviderUnavailable("not_supported", "the vendor's own page captures the face")

    def fetch_result(self, token: str) -> CheckResult:
        from alibabacloud_cloudauth20190307 import models

        request = models.DescribeFaceVerifyRequest(scene_id=int(self._config["ALIYUN_FACE_SCENE_ID"]), certify_id=token)
        body = self._api.call("face_result", "cloudauth", "DescribeFaceVerify",
                              lambda client, runtime: client.describe_face_verify_with_options(request, runtime))
        read = _read("DescribeFaceVerify", body, "sub_code")
        if isinstance(read, CheckResult):
            return read
        result, sub_code, ref = read
        passed = text(result.passed, "Passed")
        verdict_ = verdict(lookup("DescribeFaceVerify", "sub:" + sub_code), "DescribeFaceVerify", "SubCode " + sub_code, ref)
        # The documentation: judge by Passed. A pass needs Passed "T" and the pass sub-code, both.
        if verdict_.passed != (passed == "T") or passed not in ("T", "F"):
            raise ProviderUnavailable("bad_reply", f"Passed {passed[:8]} with SubCode {sub_code[:16]}")
        return verdict_

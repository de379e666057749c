"""Alibaba Cloud providers on the official SDKs: 身份二要素核验 (cloudauth Id2MetaVerify), 手机号三要素
核验简版 (Mobile3MetaSimpleVerify) and SMS by template (dysmsapi SendSms).

The SDKs sign with ACS3-HMAC-SHA256 and shape each request; the HTTP exchange goes through the
project's bounded transport (``erhc_h5/outbound.py``): the OpenAPI core's ``do_action`` is replaced,
for calls made here only, by one that keeps the deadline, the reply cap and the JSON nesting limit.
The SDK's own retries are off. Codes are read through ONE table (``aliyun_codes.py``); an unknown
code is never a pass. Alibaba Cloud's H5 face product needs the browser's device data (MetaInfo,
gathered by its own script) to start, so no face provider is offered here.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

import requests

from erhc_h5.identity.aliyun_codes import FAIL, PASS, lookup
from erhc_h5.identity.base import CheckResult, ProviderUnavailable, SmsReceipt
from erhc_h5.identity.http import TRANSPORT_REASONS, count_provider_failure, parse_timeout
from erhc_h5.identity.tencent import require_id_card
from erhc_h5.logs import log_event
from erhc_h5.outbound import Limits, OutboundFailure, fetch, new_session, parse_json

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
        connect, read = parse_timeout(config.get("PROVIDER_TIMEOUT", 5.0))
        self.limits = Limits(connect, read, deadline=float(config.get("PROVIDER_DEADLINE_SECONDS", 10.0)),
                             max_bytes=int(config.get("PROVIDER_MAX_REPLY_BYTES", 1024 * 1024)))
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
        started = time.monotonic()
        try:
            body = self._call(product, api, invoke)
        except ProviderUnavailable as exc:
            _log(op, started, exc.reason, exc.detail)
            raise
        _log(op, started, "ok", "")
        return body

    def _call(self, product: str, api: str, invoke):
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        from darabonba.exceptions import UnretryableException

        _call.limits, _call.session = self.limits, self.session
        try:
            return invoke(self.client(product), self.runtime()).body
        except UnretryableException as exc:
            raise _transport(getattr(exc, "inner_exception", None)) from None
        except AlibabaCloudException as exc:
            raise refusal(api, str(exc.code or "")) from None
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


def refusal(api: str, code: str) -> ProviderUnavailable:
    """The unavailability an error code stands for (never a verdict: the call itself failed)."""
    kind, reason = lookup(api, code)
    return ProviderUnavailable(reason if kind not in (PASS, FAIL) else "unknown_result", f"{api} {code[:64]}")


def _log(op: str, started: float, outcome: str, detail: str) -> None:
    log_event("provider_call", op=op, vendor="aliyun", outcome=outcome, detail=detail,
              elapsed_ms=round((time.monotonic() - started) * 1000))
    if outcome != "ok":
        count_provider_failure(op, outcome)


def _code(value) -> str:
    if value is None or isinstance(value, (dict, list, bool)) or str(value) == "":
        raise ProviderUnavailable("bad_reply", "missing code")
    return str(value)


def verify_verdict(api: str, body) -> CheckResult:
    """Code first (200 or a failure), then ResultObject.BizCode; unknown codes are unavailable."""
    ref = str(getattr(body, "request_id", "") or "")
    kind, reason = lookup(api, _code(body.code))
    if kind == FAIL:
        return CheckResult(False, reason, ref)
    if kind != PASS:
        raise ProviderUnavailable(reason, f"{api} {str(body.code)[:64]}")
    result = body.result_object
    biz = _code(result.biz_code if result is not None else None)
    kind, reason = lookup(api, "biz:" + biz)
    if kind == PASS:
        return CheckResult(True, "", ref)
    if kind == FAIL:
        return CheckResult(False, reason, ref)
    raise ProviderUnavailable(reason, f"{api} BizCode {biz[:64]}")


class _AliyunBase:
    def __init__(self, api: AliyunApi, config: Mapping) -> None:
        self._api = api
        self._config = config


class AliyunIdentityProvider(_AliyunBase):
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


class AliyunSmsProvider(_AliyunBase):
    """Templated SMS; the receipt (BizId) means the gateway accepted the message."""

    def _send(self, phone: str, template_key: str, params: dict[str, str]) -> SmsReceipt:
        import json

        from alibabacloud_dysmsapi20170525 import models

        request = models.SendSmsRequest(phone_numbers=phone, sign_name=str(self._config["ALIYUN_SMS_SIGN"]),
                                        template_code=str(self._config[template_key]),
                                        template_param=json.dumps(params, ensure_ascii=False))
        body = self._api.call("sms_send", "dysmsapi", "SendSms",
                              lambda client, runtime: client.send_sms_with_options(request, runtime))
        code = _code(body.code)
        kind, reason = lookup("SendSms", code)
        if kind != PASS:
            raise ProviderUnavailable(reason if kind != FAIL else "unknown_result", f"SendSms {code[:64]}")
        return SmsReceipt(_code(body.biz_id))

    def send_code(self, phone: str, code: str) -> SmsReceipt:
        return self._send(phone, "ALIYUN_SMS_TEMPLATE_CODE", {"code": code})

    def send_notice(self, phone: str, params: dict[str, str]) -> SmsReceipt:
        """Template variables ${time}, ${app}, ${account}, ${hotline}, as registered with the vendor."""
        values = {key: str(params.get(key) or "") for key in ("time", "app", "account")}
        values["hotline"] = str(params.get("hotline") or "城市服务热线")
        return self._send(phone, "ALIYUN_SMS_TEMPLATE_NOTICE", values)


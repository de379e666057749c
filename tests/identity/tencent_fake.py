"""A loopback fake of Tencent Cloud API 3.0 (faceid 2018-03-01, sms 2021-01-11) for offline tests.

It checks every request's TC3-HMAC-SHA256 signature, computed here from the published description
(https://cloud.tencent.com/document/api/1007/31325 签名方法 v3) and not by the SDK's signer:
canonical request → credential scope → string to sign → derived key (TC3+key, date, service,
"tc3_request"). A bad one gets the documented AuthFailure.SignatureFailure reply. Replies follow
the documented shapes; ``mode`` switches to faults: timeout (silence), trickle (a reply slower than
any deadline), error (HTTP 502 HTML), bad_json, nested, huge, or ``code:<Error.Code>``.
The same magic as the sandbox: a name containing 失败 does not match.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timezone

from tests.identity.vendor_fake import FakeHandler, LoopbackFake, handler_for

SECRET_ID = "AKIDfake0123456789abcdef"
SECRET_KEY = "fake-secret-key-0123456789"
PRODUCTS = {"IdCardVerification": ("faceid", "2018-03-01"), "PhoneVerification": ("faceid", "2018-03-01"),
            "DetectAuth": ("faceid", "2018-03-01"), "GetDetectInfoEnhanced": ("faceid", "2018-03-01"),
            "SendSms": ("sms", "2021-01-11")}
SIGNATURE_FAILURE = ("AuthFailure.SignatureFailure",
                     "The provided credentials could not be validated. Please check your signature is correct.")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def tc3_signature(secret_key: str, method: str, uri: str, query: str, headers: dict[str, str],
                  signed_headers: list[str], payload: bytes, timestamp: str, service: str) -> str:
    """The signature, step by step as the documentation writes it."""
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed_headers)
    canonical_request = "\n".join([method, uri, query, canonical_headers, ";".join(signed_headers),
                                   hashlib.sha256(payload).hexdigest()])
    date = datetime.fromtimestamp(int(timestamp), timezone.utc).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(["TC3-HMAC-SHA256", timestamp, scope,
                                hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
    secret_date = _hmac(("TC3" + secret_key).encode("utf-8"), date)
    secret_service = _hmac(secret_date, service)
    secret_signing = _hmac(secret_service, "tc3_request")
    return hmac.new(secret_signing, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def parse_authorization(value: str) -> dict[str, str]:
    algorithm, _, rest = value.partition(" ")
    fields = dict(part.strip().split("=", 1) for part in rest.split(",") if "=" in part)
    return {"algorithm": algorithm, **fields}


class FakeTencent(LoopbackFake):
    """Tencent Cloud's faceid and sms APIs and its H5 face page."""

    PORTS = range(5220, 5240)

    def handler(self):
        return handler_for(self, TencentHandler)

    # --- the API ------------------------------------------------------------------------------
    def answer(self, action: str, params: dict) -> dict:
        self.calls.append(action)
        if self.mode.startswith("code:"):
            return _error(self.mode[5:], "fault")
        body = getattr(self, "_" + action)(params)
        return {**body, **self.result_override.get(action, {})}

    def _IdCardVerification(self, params):
        fail = "失败" in params["Name"]
        return {"Result": "-1" if fail else "0", "Description": "姓名和身份证号不一致" if fail else "姓名和身份证号一致"}

    def _PhoneVerification(self, params):
        fail = "失败" in params["Name"]
        return {"Result": "-4" if fail else "0", "Description": "三要素信息不一致" if fail else "三要素信息一致",
                "Isp": "移动", "ResultDetail": ""}

    def _DetectAuth(self, params):
        token = str(uuid.uuid4()).upper()
        self.faces[token] = {"fail": "失败" in params["Name"], "redirect": params["RedirectUrl"], "done": False}
        return {"Url": f"{self.url}/h5/face?token={token}", "BizToken": token}

    def _GetDetectInfoEnhanced(self, params):
        face = self.faces.get(params.get("BizToken", ""))
        if face is None:
            return _error("InvalidParameterValue.BizTokenIllegal", "BizToken不合法。")
        if not face["done"]:
            return {"Text": {"ErrCode": None, "ErrMsg": None, "LiveStatus": None, "Comparestatus": None, "Sim": None}}
        if face["fail"]:
            text = {"ErrCode": 2016, "ErrMsg": "比对相似度未达到通过标准", "LiveStatus": 0, "Comparestatus": 2016,
                    "Sim": "35.20"}
        else:
            text = {"ErrCode": 0, "ErrMsg": "成功", "LiveStatus": 0, "Comparestatus": 0, "Sim": "93.50"}
        return {"Text": text, "IdCardData": None, "BestFrame": None, "VideoData": None}

    def _SendSms(self, params):
        self.sms.append(params)
        return {"SendStatusSet": [{"SerialNo": uuid.uuid4().hex, "PhoneNumber": params["PhoneNumberSet"][0],
                                   "Fee": 1, "SessionContext": "", "Code": "Ok", "Message": "send success",
                                   "IsoCode": "CN"}]}


def _error(code: str, message: str) -> dict:
    return {"Error": {"Code": code, "Message": message}}


class TencentHandler(FakeHandler):
    fake: FakeTencent

    def api(self, body: bytes):
        action = self.headers.get("X-TC-Action", "")
        refusal = self._auth(action, body)
        reply = _error(*refusal) if refusal else self.fake.answer(action, json.loads(body or b"{}"))
        if self.fake.mode == "bad_json":
            return self.send(200, b'{"Response": {"Result": "0", ', "application/json")
        if self.fake.mode == "nested":
            return self.send(200, b'{"Response": ' + b"[" * 200 + b"]" * 200 + b"}", "application/json")
        if self.fake.mode == "huge":
            padding = "x" * (2 * 1024 * 1024)
            reply = {**reply, "Padding": padding}
        reply["RequestId"] = str(uuid.uuid4())
        self.send(200, json.dumps({"Response": reply}, ensure_ascii=False).encode(), "application/json")

    def _auth(self, action: str, body: bytes):
        auth = parse_authorization(self.headers.get("Authorization", ""))
        try:
            secret_id, date, service, terminal = auth["Credential"].split("/")
            signed = auth["SignedHeaders"].split(";")
            timestamp = self.headers["X-TC-Timestamp"]
            expected = tc3_signature(SECRET_KEY, "POST", "/", "", {k.lower(): v for k, v in self.headers.items()},
                                     signed, body, timestamp, service)
        except (KeyError, ValueError):
            self.fake.refused.append(action)
            return ("AuthFailure.InvalidAuthorization", "请求头部的 Authorization 不符合腾讯云标准。")
        if abs(time.time() - int(timestamp)) > 300:
            return ("AuthFailure.SignatureExpire", "签名过期。")
        if (auth["algorithm"] != "TC3-HMAC-SHA256" or secret_id != SECRET_ID or terminal != "tc3_request"
                or "host" not in signed or "content-type" not in signed
                or PRODUCTS.get(action, ("", ""))[0] != service
                or PRODUCTS[action][1] != self.headers.get("X-TC-Version")
                or not hmac.compare_digest(expected, auth.get("Signature", ""))):
            self.fake.refused.append(action)
            return SIGNATURE_FAILURE
        return None


def provider_config(fake: FakeTencent, **changes) -> dict:
    """A production-like config whose three providers are Tencent Cloud, pointed at the fake."""
    return {"SANDBOX": True, "IDENTITY_PROVIDER": "tencent", "SMS_PROVIDER": "tencent", "FACE_PROVIDER": "tencent",
            "TENCENT_SECRET_ID": SECRET_ID, "TENCENT_SECRET_KEY": SECRET_KEY, "TENCENT_REGION": "ap-guangzhou",
            "TENCENT_FACEID_RULE_ID": "1", "TENCENT_SMS_SDK_APP_ID": "1400006666", "TENCENT_SMS_SIGN": "电子健康码",
            "TENCENT_SMS_TEMPLATE_CODE": "1110", "TENCENT_SMS_TEMPLATE_NOTICE": "1111",
            "TENCENT_ENDPOINT": fake.url, "PROVIDER_TIMEOUT": "0.5,0.3", "PROVIDER_DEADLINE_SECONDS": 1.0,
            **changes}

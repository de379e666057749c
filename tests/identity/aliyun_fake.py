"""A loopback fake of Alibaba Cloud OpenAPI (cloudauth 2019-03-07, dysmsapi 2017-05-25), offline.

It checks every request's ACS3-HMAC-SHA256 signature, computed here from the published description
(https://help.aliyun.com/zh/sdk/product-overview/v3-request-structure-and-signature): canonical
request (method, URI, sorted percent-encoded query, the signed headers lowercased and trimmed,
SignedHeaders, x-acs-content-sha256) → string to sign ("ACS3-HMAC-SHA256\\n" + its SHA-256 hex) →
HMAC-SHA256 with the AccessKey secret. A bad one gets HTTP 400 SignatureDoesNotMatch, as documented.
Replies follow the documented shapes; ``mode`` switches to faults as in the Tencent fake, or
``gateway:<status>:<Code>``. For the H5 face check it serves the device script (a tiny
``getMetaInfo()``) at ``/cdn/jsvm_all.js`` and the vendor's face page; InitFaceVerify refuses a
MetaInfo that script did not make. The same magic as the sandbox: a name containing 失败 does not match.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from urllib.parse import parse_qsl, quote, urlsplit

from tests.identity.vendor_fake import FakeHandler, LoopbackFake, handler_for

ACCESS_KEY_ID = "LTAIfake0123456789"
ACCESS_KEY_SECRET = "fake-aliyun-secret-0123456789"
VERSIONS = {"Id2MetaVerify": "2019-03-07", "Mobile3MetaSimpleVerify": "2019-03-07", "InitFaceVerify": "2019-03-07",
            "DescribeFaceVerify": "2019-03-07", "SendSms": "2017-05-25"}
SCENE_ID = "1000000006"
SCRIPT_PATH = "/cdn/jsvm_all.js"
# What the real script's getMetaInfo() returns is an object describing the device; this one says whose it is.
DEVICE_SCRIPT = """window.getMetaInfo = function () {
  return {zimVer: "3.0.0", appName: "erhc-fake", deviceType: "h5", ua: navigator.userAgent,
          bioMetaInfo: "fake-4.1.0:" + screen.width + "x" + screen.height};
};"""
# The page's JSON of that object, for tests that start a face check without a browser.
SCRIPT_META_INFO = json.dumps({"zimVer": "3.0.0", "appName": "erhc-fake", "deviceType": "h5", "ua": "pytest",
                               "bioMetaInfo": "fake-4.1.0:360x740"})


def _encode(value: str) -> str:
    return quote(value, safe="-_.~")


def acs3_signature(secret: str, method: str, uri: str, query: list[tuple[str, str]], headers: dict[str, str],
                   signed_headers: list[str], hashed_payload: str) -> str:
    """The signature, step by step as the documentation writes it."""
    canonical_query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query))
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers)
    canonical_request = "\n".join([method, uri, canonical_query, canonical_headers, ";".join(signed_headers),
                                   hashed_payload])
    string_to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def made_by_script(meta_info: str) -> bool:
    """The MetaInfo our fake script's getMetaInfo() makes (JSON-encoded by the page)."""
    try:
        meta = json.loads(meta_info)
    except ValueError:
        return False
    return isinstance(meta, dict) and meta.get("appName") == "erhc-fake" and meta.get("deviceType") == "h5"


class FakeAliyun(LoopbackFake):
    """Alibaba Cloud's cloudauth and dysmsapi APIs, its device script and its H5 face page."""

    PORTS = range(5230, 5240)

    def handler(self):
        return handler_for(self, AliyunHandler)

    def answer(self, action: str, params: dict) -> tuple[int, dict]:
        self.calls.append(action)
        if self.mode.startswith("gateway:"):  # a gateway error: HTTP status and Code
            status, code = self.mode[8:].split(":", 1)
            return int(status), {"Code": code, "Message": "fault", "HostId": "fake"}
        body = getattr(self, "_" + action)(params)
        return 200, {**body, **self.result_override.get(action, {})}

    def _Id2MetaVerify(self, params):
        return {"Code": "200", "Message": "success", "ResultObject": {"BizCode": "2" if "失败" in params["UserName"] else "1"}}

    def _Mobile3MetaSimpleVerify(self, params):
        return {"Code": "200", "Message": "success", "ResultObject": {"BizCode": "2" if "失败" in params["UserName"] else "1"}}

    def _InitFaceVerify(self, params):
        needed = ("SceneId", "OuterOrderNo", "ProductCode", "CertType", "CertName", "CertNo", "ReturnUrl", "MetaInfo")
        if any(not params.get(key) for key in needed):
            return {"Code": "400", "Message": "参数不能为空"}
        if params["SceneId"] != SCENE_ID:
            return {"Code": "404", "Message": "认证场景配置不存在"}
        if params["ProductCode"] != "ID_PRO" or not made_by_script(params["MetaInfo"]):
            return {"Code": "401", "Message": "参数非法"}
        certify_id = uuid.uuid4().hex
        self.faces[certify_id] = {"fail": "失败" in params["CertName"], "redirect": params["ReturnUrl"], "done": False}
        return {"Code": "200", "Message": "success",
                "ResultObject": {"CertifyId": certify_id, "CertifyUrl": f"{self.url}/h5/face?certifyId={certify_id}"}}

    def _DescribeFaceVerify(self, params):
        face = self.faces.get(params.get("CertifyId", ""))
        if face is None or params.get("SceneId") != SCENE_ID:
            return {"Code": "406", "Message": "无效的CertifyId"}
        if not face["done"]:
            return {"Code": "424", "Message": "身份认证记录不存在"}
        passed, sub_code = ("F", "204") if face["fail"] else ("T", "200")
        return {"Code": "200", "Message": "success", "ResultObject": {
            "Passed": passed, "SubCode": sub_code, "IdentityInfo": None, "DeviceToken": "fake-device-token",
            "MaterialInfo": json.dumps({"faceAttack": "F", "facialPictureFront": {"verifyScore": 35.2 if face["fail"] else 93.5}})}}

    def _SendSms(self, params):
        self.sms.append(params)
        return {"Code": "OK", "Message": "OK", "BizId": uuid.uuid4().hex[:20]}

    def return_query(self, token: str) -> dict:
        # The vendor's page appends its own view of the outcome; our app reads none of it.
        return {"response": json.dumps({"certifyId": token, "code": "1000"})}


class AliyunHandler(FakeHandler):
    fake: FakeAliyun
    TOKEN_PARAM = "certifyId"
    PAGES = {SCRIPT_PATH: (DEVICE_SCRIPT.encode(), "application/javascript")}

    def api(self, body: bytes):
        action = self.headers.get("x-acs-action", "")
        if not self._signed(action, body):
            self.fake.refused.append(action)
            return self._reply(400, {"Code": "SignatureDoesNotMatch", "HostId": "fake",
                                     "Message": "Specified signature does not match our calculation."})
        params = dict(parse_qsl(urlsplit(self.path).query)) | dict(parse_qsl(body.decode("utf-8")))
        status, reply = self.fake.answer(action, params)
        if self.fake.mode == "bad_json":
            return self.send(200, b'{"Code": "200", ', "application/json;charset=utf-8")
        self._reply(status, reply)

    def _signed(self, action: str, body: bytes) -> bool:
        auth = self.headers.get("Authorization", "")
        algorithm, _, rest = auth.partition(" ")
        fields = dict(part.split("=", 1) for part in rest.split(",") if "=" in part)
        headers = {k.lower(): v for k, v in self.headers.items()}
        signed = fields.get("SignedHeaders", "").split(";")
        if (algorithm != "ACS3-HMAC-SHA256" or fields.get("Credential") != ACCESS_KEY_ID
                or not {"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date",
                        "x-acs-signature-nonce", "x-acs-version"} <= set(signed)
                or headers.get("x-acs-content-sha256") != hashlib.sha256(body).hexdigest()
                or VERSIONS.get(action) != headers.get("x-acs-version")):
            return False
        parts = urlsplit(self.path)
        expected = acs3_signature(ACCESS_KEY_SECRET, "POST", parts.path or "/", parse_qsl(parts.query),
                                  headers, signed, headers["x-acs-content-sha256"])
        return hmac.compare_digest(expected, fields.get("Signature", ""))

    def _reply(self, status: int, reply: dict):
        reply["RequestId"] = str(uuid.uuid4()).upper()
        self.send(status, json.dumps(reply, ensure_ascii=False).encode(), "application/json;charset=utf-8")


def provider_config(fake: FakeAliyun, **changes) -> dict:
    """A config whose three providers are Alibaba Cloud, pointed at the fake (its script, its page)."""
    return {"SANDBOX": True, "IDENTITY_PROVIDER": "aliyun", "SMS_PROVIDER": "aliyun", "FACE_PROVIDER": "aliyun",
            "ALIYUN_ACCESS_KEY_ID": ACCESS_KEY_ID, "ALIYUN_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
            "ALIYUN_SMS_SIGN": "电子健康码", "ALIYUN_SMS_TEMPLATE_CODE": "SMS_100000001",
            "ALIYUN_SMS_TEMPLATE_NOTICE": "SMS_100000002", "ALIYUN_ENDPOINT": fake.url,
            "ALIYUN_FACE_SCENE_ID": SCENE_ID, "ALIYUN_FACE_PRODUCT_CODE": "ID_PRO",
            "ALIYUN_FACE_SCRIPT_URL": fake.url + SCRIPT_PATH,
            "PROVIDER_TIMEOUT": "0.5,0.3", "PROVIDER_DEADLINE_SECONDS": 1.0, **changes}

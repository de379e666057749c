"""A loopback fake of Alibaba Cloud OpenAPI (cloudauth 2019-03-07, dysmsapi 2017-05-25), offline.

It checks every request's ACS3-HMAC-SHA256 signature, computed here from the published description
(https://help.aliyun.com/zh/sdk/product-overview/v3-request-structure-and-signature): canonical
request (method, URI, sorted percent-encoded query, the signed headers lowercased and trimmed,
SignedHeaders, x-acs-content-sha256) → string to sign ("ACS3-HMAC-SHA256\\n" + its SHA-256 hex) →
HMAC-SHA256 with the AccessKey secret. A bad one gets HTTP 400 SignatureDoesNotMatch, as documented.
Replies follow the documented shapes; ``mode`` switches to faults as in the Tencent fake.
The same magic as the sandbox: a name containing 失败 does not match.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlsplit

ACCESS_KEY_ID = "LTAIfake0123456789"
ACCESS_KEY_SECRET = "fake-aliyun-secret-0123456789"
PORTS = range(5230, 5240)
VERSIONS = {"Id2MetaVerify": "2019-03-07", "Mobile3MetaSimpleVerify": "2019-03-07", "SendSms": "2017-05-25"}


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


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


class FakeAliyun:
    """Shared state of the fake and its fault mode."""

    def __init__(self) -> None:
        self.mode = "normal"
        self.sms: list[dict] = []
        self.calls: list[str] = []
        self.refused: list[str] = []
        self.result_override: dict[str, dict] = {}
        self.release = threading.Event()
        self.server = None
        self.url = ""

    def start(self) -> FakeAliyun:
        for port in PORTS:
            try:
                self.server = _QuietServer(("127.0.0.1", port), _handler(self))
                break
            except OSError:
                continue
        else:
            raise RuntimeError("no free port in 5230-5239")
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

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

    def _SendSms(self, params):
        self.sms.append(params)
        return {"Code": "OK", "Message": "OK", "BizId": uuid.uuid4().hex[:20]}


def _handler(fake: FakeAliyun):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if fake.mode == "timeout":
                fake.release.wait(5)
                return
            if fake.mode == "error":
                return self._send(502, b"<html>Bad Gateway</html>", "text/html")
            action = self.headers.get("x-acs-action", "")
            if not self._signed(action, body):
                fake.refused.append(action)
                return self._reply(400, {"Code": "SignatureDoesNotMatch", "HostId": "fake",
                                         "Message": "Specified signature does not match our calculation."})
            params = dict(parse_qsl(urlsplit(self.path).query)) | dict(parse_qsl(body.decode("utf-8")))
            status, reply = fake.answer(action, params)
            if fake.mode == "bad_json":
                return self._send(200, b'{"Code": "200", ', "application/json;charset=utf-8")
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
            self._send(status, json.dumps(reply, ensure_ascii=False).encode(), "application/json;charset=utf-8")

        def _send(self, status: int, body: bytes, content_type: str):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass

    return Handler


def provider_config(fake: FakeAliyun, **changes) -> dict:
    """A config whose identity and SMS providers are Alibaba Cloud, pointed at the fake."""
    return {"SANDBOX": True, "IDENTITY_PROVIDER": "aliyun", "SMS_PROVIDER": "aliyun", "FACE_PROVIDER": "null",
            "ALIYUN_ACCESS_KEY_ID": ACCESS_KEY_ID, "ALIYUN_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
            "ALIYUN_SMS_SIGN": "电子健康码", "ALIYUN_SMS_TEMPLATE_CODE": "SMS_100000001",
            "ALIYUN_SMS_TEMPLATE_NOTICE": "SMS_100000002", "ALIYUN_ENDPOINT": fake.url,
            "PROVIDER_TIMEOUT": "0.5,0.3", "PROVIDER_DEADLINE_SECONDS": 1.0, **changes}

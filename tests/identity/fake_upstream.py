"""A fake identity/SMS/face vendor for ``responses``: checks signatures, applies the same magic
as the sandbox (a name containing 失败 fails) and can simulate a timeout or a server error."""
from __future__ import annotations

import base64
import io
import json
import secrets
from urllib.parse import parse_qs, urlsplit

import requests
import responses
from PIL import Image

from erhc_h5.identity.http import sign

BASE = "https://idp.test"
APP_KEY = "test-app-key"
SECRET = "test-app-secret"
CONFIG = {"PROVIDER_BASE_URL": BASE, "PROVIDER_APP_KEY": APP_KEY, "PROVIDER_APP_SECRET": SECRET,
          "PROVIDER_TIMEOUT": [2.0, 7.0]}


class FakeVendor:
    def __init__(self, rsps: responses.RequestsMock) -> None:
        self.mode = "normal"
        self.faces: dict[str, dict] = {}
        self.sms: list[dict] = []
        routes = [("POST", "/idcard/verify", self._check), ("POST", "/mobile/verify3", self._check),
                  ("POST", "/sms/send", self._sms), ("POST", "/face/token", self._face_token),
                  ("POST", "/face/verify", self._face_verify), ("GET", "/face/result", self._face_result)]
        for method, path, handler in routes:
            rsps.add_callback(method, BASE + path, callback=self._wrap(handler))

    def _wrap(self, handler):
        def callback(request):
            if self.mode == "timeout":
                raise requests.ReadTimeout("simulated")
            if self.mode == "error":
                return 502, {}, "<html>Bad Gateway</html>"
            body = request.body or b""
            body = body.encode() if isinstance(body, str) else body
            h = request.headers
            expected = sign(SECRET, request.method, request.path_url, h.get("X-Timestamp", ""), h.get("X-Nonce", ""), body)
            if h.get("X-App-Key") != APP_KEY or h.get("X-Signature") != expected:
                return 200, {}, json.dumps({"code": "1001", "message": "签名错误"})
            payload = json.loads(body) if body else {}
            query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
            return 200, {}, json.dumps({"order_no": secrets.token_hex(6), **handler(payload, query)}, ensure_ascii=False)
        return callback

    def _check(self, payload, query):
        return {"code": "0", "result": "2" if "失败" in payload["name"] else "1"}

    def _sms(self, payload, query):
        self.sms.append(payload)
        return {"code": "0", "message_id": secrets.token_hex(8)}

    def _face_token(self, payload, query):
        token = secrets.token_hex(8)
        self.faces[token] = {"fail": "失败" in payload["name"], "verdict": None}
        return {"code": "0", "token": token, "redirect_url": f"{BASE}/h5/face?token={token}"}

    def _face_verify(self, payload, query):
        face = self.faces.get(payload["token"])
        if face is None:
            return {"code": "3002", "message": "token无效"}
        try:
            with Image.open(io.BytesIO(base64.b64decode(payload["image"]))) as img:
                img.load()
                big_enough = min(img.size) >= 64
        except Exception:
            big_enough = None
        if not big_enough:
            return {"code": "3001", "message": "图片无法识别"}
        face["verdict"] = {"code": "0", "status": "done", "liveness": "1",
                           "passed": "0" if face["fail"] else "1", "score": "35.2" if face["fail"] else "93.5"}
        return face["verdict"]

    def _face_result(self, payload, query):
        face = self.faces.get(query.get("token", ""))
        if face is None:
            return {"code": "3002", "message": "token无效"}
        return face["verdict"] or {"code": "0", "status": "pending"}

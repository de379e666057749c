"""HTTP providers shaped like Chinese real-name, carrier, SMS and H5-face vendors.

Every request (JSON, UTF-8) carries signing headers:
  X-App-Key, X-Timestamp (unix seconds), X-Nonce (32 lowercase hex, fresh per request),
  X-Signature = lowercase hex HMAC-SHA256(app secret,
                METHOD + "\\n" + path?query + "\\n" + timestamp + "\\n" + nonce + "\\n" + sha256_hex(body)).
Every reply is ``{"code": "0", "message": "…", …}``; code "0" is success. Business codes
1001 bad app key/signature, 1002 quota exhausted, 1003 caller IP not allowed, 1004 account
suspended → ProviderUnavailable("provider_refused"); any other non-zero code → "upstream_error"
(SMS: "sms_rejected"; face: 3001 → bad_image verdict, 3002 unknown/expired token → "face_expired").

  POST /idcard/verify  {"name", "id_type", "id_no"}            → {"code", "result", "order_no"}
  POST /mobile/verify3 {"name", "id_type", "id_no", "mobile"}  → {"code", "result", "order_no"}
       result "1" match, "2" mismatch, "3" no record.
  POST /sms/send       {"mobile", "template_id", "params": {"code"}} → {"code", "message_id"}
  POST /face/token     {"name", "id_type", "id_no", "return_url"} → {"code", "token", "redirect_url"}
  POST /face/verify    {"token", "image": base64}               → face verdict (below)
  GET  /face/result?token=…                                     → face verdict:
       {"code", "status": "done"|"pending"|"expired", "passed": "1"|"0", "liveness": "1"|"0",
        "score": "0".."100", "order_no"}
The face verdict is always fetched server to server; nothing the browser brings back is trusted.
Transport (erhc_h5/outbound.py: a whole-call deadline, a reply-size cap, streamed reads, a JSON
nesting limit): timeouts and the deadline → "timeout", connection failures → "unreachable",
HTTP 5xx → "upstream_error", 401/403/429 → "provider_refused", oversize, over-nested or unparseable
JSON, or missing keys → "bad_reply". The exception's detail and the log line's ``cause`` carry the
finer transport code (read_timeout, deadline, reply_too_large, nested_json …).
Personal data never reaches logs or exception text (only operation, status, codes, timings).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping

import requests

from erhc_h5.identity.base import CheckResult, FaceStart, ProviderUnavailable, SmsReceipt
from erhc_h5.logs import log_event
from erhc_h5.outbound import Limits, OutboundFailure, fetch, new_session, parse_json
from erhc_h5.outbound_tls import TLS_REASONS, verify_setting

REFUSAL_CODES = {"1001", "1002", "1003", "1004"}
# The journey's coarse reason for each transport failure (the fine code travels as the detail).
TRANSPORT_REASONS = {"connect_timeout": "timeout", "read_timeout": "timeout", "deadline": "timeout",
                     "stopped": "timeout", "connect_error": "unreachable", "transport_error": "unreachable",
                     "reply_too_large": "bad_reply", "bad_json": "bad_reply", "nested_json": "bad_reply",
                     **{reason: "unreachable" for reason in TLS_REASONS}}
CHECK_RESULTS = {"1": (True, ""), "2": (False, "mismatch"), "3": (False, "no_record")}


def parse_timeout(value) -> tuple[float, float]:
    """PROVIDER_TIMEOUT as (connect, read): a number for both, "3,10", or a two-item list."""
    if isinstance(value, str) and "," in value:
        value = value.split(",")
    if isinstance(value, (list, tuple)):
        connect, read = (float(v) for v in value)
        return connect, read
    return float(value), float(value)


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The X-Signature value for one request."""
    message = "\n".join([method, path, timestamp, nonce, hashlib.sha256(body).hexdigest()])
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class ProviderHttpClient:
    """One pooled, signed JSON client shared by the HTTP providers."""

    def __init__(self, base_url: str, app_key: str, app_secret: str, timeout, session=None, *,
                 deadline: float = 10.0, max_reply_bytes: int = 1024 * 1024, ca_bundle: str = "") -> None:
        self.base_url = base_url.rstrip("/")
        self.app_key = app_key
        self.app_secret = app_secret
        self.timeout = parse_timeout(timeout)
        self.limits = Limits(*self.timeout, deadline=float(deadline), max_bytes=int(max_reply_bytes))
        self.session = session or new_session()
        self.verify = verify_setting(ca_bundle)

    @classmethod
    def from_config(cls, config: Mapping) -> ProviderHttpClient:
        return cls(config["PROVIDER_BASE_URL"], config["PROVIDER_APP_KEY"], config["PROVIDER_APP_SECRET"],
                   config.get("PROVIDER_TIMEOUT", 5.0), deadline=config.get("PROVIDER_DEADLINE_SECONDS", 10.0),
                   max_reply_bytes=config.get("PROVIDER_MAX_REPLY_BYTES", 1024 * 1024),
                   ca_bundle=config.get("PROVIDER_CA_BUNDLE", ""))

    def call(self, op: str, method: str, path: str, payload: dict | None = None, params: dict | None = None,
             refusal: str = "upstream_error") -> dict:
        """Send a signed request and return the reply dict of a code-"0" answer, else raise."""
        body = b"" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        prepared = self.session.prepare_request(requests.Request(
            method, self.base_url + path, params=params, data=body or None,
            headers={"Content-Type": "application/json; charset=utf-8"} if body else {}))
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        prepared.headers.update({
            "X-App-Key": self.app_key, "X-Timestamp": timestamp, "X-Nonce": nonce,
            "X-Signature": sign(self.app_secret, method, prepared.path_url, timestamp, nonce, body),
        })
        started = time.monotonic()
        try:
            status, body = self._send(prepared)
            data = self._decode(status, body, refusal, self.limits.max_depth)
        except ProviderUnavailable as exc:
            self._log(op, started, outcome=exc.reason, detail=exc.detail)
            raise
        self._log(op, started, outcome="ok", detail="")
        return data

    def _send(self, prepared) -> tuple[int, bytes]:
        settings = self.session.merge_environment_settings(prepared.url, {}, None, self.verify, None)
        try:
            fetched = fetch(self.session, prepared, self.limits, **settings)
        except OutboundFailure as exc:
            raise ProviderUnavailable(TRANSPORT_REASONS.get(exc.reason, "unreachable"), exc.reason) from None
        return fetched.status, fetched.body

    @staticmethod
    def _decode(status: int, body: bytes, refusal: str, max_depth: int) -> dict:
        if status >= 500:
            raise ProviderUnavailable("upstream_error", f"HTTP {status}")
        if status in (401, 403, 429):
            raise ProviderUnavailable("provider_refused", f"HTTP {status}")
        if status != 200:
            raise ProviderUnavailable("upstream_error", f"HTTP {status}")
        try:
            data = parse_json(body, max_depth)
        except OutboundFailure as exc:
            raise ProviderUnavailable("bad_reply", exc.reason) from None
        if not isinstance(data, dict) or "code" not in data:
            raise ProviderUnavailable("bad_reply", "no code")
        code = str(data["code"])
        if code in REFUSAL_CODES:
            raise ProviderUnavailable("provider_refused", f"code {code}")
        if code != "0":
            data["_code"] = code
            if refusal == "pass_through":
                return data
            raise ProviderUnavailable(refusal, f"code {code}")
        return data

    @staticmethod
    def _log(op: str, started: float, outcome: str, detail: str) -> None:
        log_event("provider_call", op=op, outcome=outcome, detail=detail,
                  elapsed_ms=round((time.monotonic() - started) * 1000))
        if outcome != "ok":  # a certificate problem is counted under its own reason: someone must fix it
            count_provider_failure(op, detail if detail in TLS_REASONS else outcome)


def count_provider_failure(op: str, reason: str) -> None:
    """Count a failed provider call in the current app's metrics (none outside an app context)."""
    from flask import current_app, has_app_context

    metrics = current_app.extensions.get("erhc_metrics") if has_app_context() else None
    if metrics is not None and hasattr(metrics, "provider_failures"):
        metrics.provider_failures.labels(op, reason).inc()


def _field(data: dict, key: str) -> str:
    value = data.get(key)
    if value is None or isinstance(value, (dict, list, bool)) or str(value) == "":
        raise ProviderUnavailable("bad_reply", f"missing {key}")
    return str(value)


class _HttpBase:
    def __init__(self, client: ProviderHttpClient, config: Mapping) -> None:
        self._client = client
        self._config = config


class HttpIdentityProvider(_HttpBase):
    """Name + ID two-factor and carrier name + ID + phone three-factor checks."""

    def _check(self, op: str, path: str, payload: dict) -> CheckResult:
        data = self._client.call(op, "POST", path, payload)
        result = _field(data, "result")
        if result not in CHECK_RESULTS:
            raise ProviderUnavailable("bad_reply", "unknown result")
        passed, reason = CHECK_RESULTS[result]
        return CheckResult(passed, reason, str(data.get("order_no") or ""))

    def check_two_factor(self, name: str, id_card_type_code: str, idcode: str) -> CheckResult:
        return self._check("two_factor", "/idcard/verify", {"name": name, "id_type": id_card_type_code, "id_no": idcode})

    def check_three_factor(self, name: str, id_card_type_code: str, idcode: str, phone: str) -> CheckResult:
        return self._check("three_factor", "/mobile/verify3",
                           {"name": name, "id_type": id_card_type_code, "id_no": idcode, "mobile": phone})


class HttpSmsProvider(_HttpBase):
    """Templated one-time-code SMS; the receipt means the gateway accepted the message."""

    def send_code(self, phone: str, code: str) -> SmsReceipt:
        template = str(self._config.get("PROVIDER_SMS_TEMPLATE", "ERHC_OTP"))
        data = self._client.call("sms_send", "POST", "/sms/send",
                                 {"mobile": phone, "template_id": template, "params": {"code": code}},
                                 refusal="sms_rejected")
        return SmsReceipt(_field(data, "message_id"))

    def send_notice(self, phone: str, params: dict[str, str]) -> SmsReceipt:
        template = self._config.get("PROVIDER_SMS_NOTICE_TEMPLATE", "ERHC_LINK_NOTICE")
        data = self._client.call("sms_send", "POST", "/sms/send",
                                 {"mobile": phone, "template_id": template, "params": dict(params)},
                                 refusal="sms_rejected")
        return SmsReceipt(_field(data, "message_id"))


class HttpFaceProvider(_HttpBase):
    """H5 face verification: token + redirect to the vendor page, then a server-side result fetch."""

    device_script = ""


    def start(self, name: str, id_card_type_code: str, idcode: str, return_url: str, device_info: str = "") -> FaceStart:
        data = self._client.call("face_token", "POST", "/face/token",
                                 {"name": name, "id_type": id_card_type_code, "id_no": idcode, "return_url": return_url})
        redirect = _field(data, "redirect_url")
        if not redirect.startswith(("https://", "http://")):
            raise ProviderUnavailable("bad_reply", "redirect_url not http(s)")
        return FaceStart(token=_field(data, "token"), redirect_url=redirect)

    def verify_image(self, token: str, image: bytes) -> CheckResult:
        data = self._client.call("face_verify", "POST", "/face/verify",
                                 {"token": token, "image": base64.b64encode(image or b"").decode()},
                                 refusal="pass_through")
        return self._verdict(data)

    def fetch_result(self, token: str) -> CheckResult:
        data = self._client.call("face_result", "GET", "/face/result", params={"token": token},
                                 refusal="pass_through")
        return self._verdict(data)

    def _verdict(self, data: dict) -> CheckResult:
        code = data.get("_code", "0")
        if code == "3001":
            return CheckResult(False, "bad_image", str(data.get("order_no") or ""))
        if code == "3002":
            raise ProviderUnavailable("face_expired", f"code {code}")
        if code != "0":
            raise ProviderUnavailable("upstream_error", f"code {code}")
        status = _field(data, "status")
        if status == "pending":
            raise ProviderUnavailable("pending", "face result not ready")
        if status == "expired":
            raise ProviderUnavailable("face_expired", "face token expired")
        if status != "done":
            raise ProviderUnavailable("bad_reply", "unknown status")
        passed, liveness = _field(data, "passed"), _field(data, "liveness")
        try:
            score = float(_field(data, "score"))
        except ValueError:
            raise ProviderUnavailable("bad_reply", "score not a number") from None
        ref = str(data.get("order_no") or "")
        if liveness != "1":
            return CheckResult(False, "liveness_failed", ref)
        # Both the vendor's verdict and our own threshold must agree before a face passes.
        if passed == "1" and score >= float(self._config.get("PROVIDER_FACE_MIN_SCORE", 80)):
            return CheckResult(True, "", ref)
        return CheckResult(False, "face_mismatch", ref)

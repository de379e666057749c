"""ProvinceClient: one signed POST of a batch to the provincial platform, and what its reply means."""
from __future__ import annotations

import email.utils
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

UPLOAD_PATH = "/erhc/v1/auth-records"
REFUSED_STATUSES = (400, 401, 413)


def signature(secret: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 over method, path, timestamp, nonce and the body's SHA-256."""
    message = "\n".join(("POST", path, timestamp, nonce, hashlib.sha256(body).hexdigest()))
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass
class Reply:
    """The meaning of one attempt: ``ok``, ``refused`` or a transient reason code."""

    outcome: str
    status: int | None = None
    accepted: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    retry_after: float | None = None
    elapsed_ms: int = 0
    detail: str = ""

    @property
    def transient(self) -> bool:
        return self.outcome not in ("ok", "refused")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def interpret(status: int, text: bytes, cd_batch: str, ids: list[str]) -> Reply:
    """Check a 200 reply against the batch sent: same cd_batch, every id answered exactly once."""
    try:
        data = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return Reply("bad_reply", status, detail="unparseable reply")
    if not isinstance(data, dict) or data.get("cd_batch") != cd_batch:
        return Reply("inconsistent_reply", status, detail="cd_batch missing or different")
    accepted, rejected = data.get("accepted"), data.get("rejected")
    if not isinstance(accepted, list) or not isinstance(rejected, list):
        return Reply("inconsistent_reply", status, detail="accepted/rejected not lists")
    clean_rejected = []
    for item in rejected:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            return Reply("inconsistent_reply", status, detail="rejected item without id")
        errors = item.get("errors") if isinstance(item.get("errors"), list) else []
        clean_rejected.append({
            "id": item["id"],
            "errors": [
                {"field": str(e.get("field", ""))[:64], "reason": str(e.get("reason", ""))[:64]}
                for e in errors if isinstance(e, dict)
            ][:25],
        })
    answered = [a for a in accepted if isinstance(a, str)] + [r["id"] for r in clean_rejected]
    if len(answered) != len(accepted) + len(clean_rejected) or sorted(answered) != sorted(ids):
        return Reply("inconsistent_reply", status, detail="reply does not answer each record once")
    return Reply("ok", status, accepted=list(accepted), rejected=clean_rejected)


class ProvinceClient:
    """Signs and posts batches; never raises for network trouble, it returns a transient Reply."""

    def __init__(self, base_url: str, app_id: str, secret: str, *, connect_timeout: float = 3.0,
                 read_timeout: float = 15.0, session: requests.Session | None = None) -> None:
        self.url = base_url.rstrip("/") + UPLOAD_PATH
        self.path = urlsplit(self.url).path
        self.app_id = app_id
        self.secret = secret
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.http = session or requests.Session()

    @classmethod
    def from_config(cls, cfg) -> "ProvinceClient":
        return cls(cfg["PROVINCE_URL"], str(cfg["PROVINCE_APP_ID"]), str(cfg["PROVINCE_SECRET"]),
                   connect_timeout=cfg["PROVINCE_CONNECT_TIMEOUT"], read_timeout=cfg["PROVINCE_READ_TIMEOUT"])

    def headers(self, body: bytes) -> dict:
        """Fresh timestamp and nonce, and the signature over them."""
        timestamp = str(int(time.time()))
        nonce = secrets.token_hex(16)
        return {
            "Content-Type": "application/json; charset=utf-8",
            "X-Erhc-App-Id": self.app_id,
            "X-Erhc-Timestamp": timestamp,
            "X-Erhc-Nonce": nonce,
            "X-Erhc-Signature": signature(self.secret, self.path, timestamp, nonce, body),
        }

    def send(self, body: bytes, cd_batch: str, ids: list[str]) -> Reply:
        """POST one batch body and classify the answer."""
        started = time.monotonic()
        reply = self._send(body, cd_batch, ids)
        reply.elapsed_ms = int((time.monotonic() - started) * 1000)
        return reply

    def _send(self, body: bytes, cd_batch: str, ids: list[str]) -> Reply:
        try:
            response = self.http.post(self.url, data=body, headers=self.headers(body), timeout=self.timeout)
            content = response.content
        except requests.exceptions.ConnectTimeout:
            return Reply("connect_timeout", detail="connect timeout")
        except requests.exceptions.ReadTimeout:
            return Reply("read_timeout", detail="read timeout")
        except requests.exceptions.ConnectionError as exc:
            return Reply("connection_error", detail=type(exc).__name__)
        except requests.exceptions.RequestException as exc:
            return Reply("transport_error", detail=type(exc).__name__)
        status = response.status_code
        if status == 200:
            return interpret(status, content, cd_batch, ids)
        detail = _error_code(content)
        if status in REFUSED_STATUSES:
            return Reply("refused", status, detail=detail)
        if status == 429:
            return Reply("rate_limited", status, retry_after=parse_retry_after(response.headers.get("Retry-After")),
                         detail=detail)
        if status >= 500:
            return Reply("server_error", status, detail=detail)
        return Reply("unexpected_status", status, detail=detail)


def _error_code(content: bytes) -> str:
    """The receiver's machine reason code, if the body carries one (never the body itself)."""
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ""
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"][:64]
    return ""

"""ProvinceClient: one signed POST of a batch to the provincial platform, and what its reply means."""
from __future__ import annotations

import email.utils
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from erhc_h5.outbound import Limits, OutboundFailure, fetch, new_session, parse_json
from erhc_h5.outbound_tls import verify_setting
from erhc_h5.text import ascii_digits

UPLOAD_PATH = "/erhc/v1/auth-records"
REFUSED_STATUSES = (400, 401, 413)
# The province's 401 for a timestamp outside its window: our clock, not our credentials; retried.
CLOCK_REFUSALS = ("stale_timestamp",)


def signature(secret: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 over method, path, timestamp, nonce and the body's SHA-256."""
    message = "\n".join(("POST", path, timestamp, nonce, hashlib.sha256(body).hexdigest()))
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass
class Reply:
    """The meaning of one attempt: ``ok``, ``refused``, ``stopped`` (the worker is shutting down, the
    province's answer is unknown) or a transient reason code (``erhc_h5.outbound.REASONS``,
    ``http_5xx``, ``rate_limited``, ``inconsistent_reply``, ``unexpected_status``, ``clock_skew``).
    ``clock_offset``: the province's clock minus ours, in seconds, from the reply's Date header."""

    outcome: str
    status: int | None = None
    accepted: list[str] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    retry_after: float | None = None
    elapsed_ms: int = 0
    detail: str = ""
    clock_offset: float | None = None

    @property
    def transient(self) -> bool:
        return self.outcome not in ("ok", "refused")


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if ascii_digits(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def clock_offset(date_header: str | None, sent_at: float, received_at: float) -> float | None:
    """The peer's clock minus ours (seconds) from an RFC 7231 Date header, None if absent or unreadable.

    The header has one-second resolution and truncates, so the peer's time lies in [Date, Date + 1):
    its middle is compared with the middle of our send and receive times."""
    if not date_header:
        return None
    try:
        when = email.utils.parsedate_to_datetime(date_header.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return round(when.timestamp() + 0.5 - (sent_at + received_at) / 2, 1)


def interpret(status: int, text: bytes, cd_batch: str, ids: list[str]) -> Reply:
    """Check a 200 reply against the batch sent: same cd_batch, every id answered exactly once."""
    try:
        data = parse_json(text)
    except OutboundFailure as exc:
        return Reply(exc.reason, status, detail=exc.detail)
    if not isinstance(data, dict) or data.get("cd_batch") != cd_batch:
        return Reply("inconsistent_reply", status, detail="回复的 cd_batch 缺失或与所发批次不同")
    accepted, rejected = data.get("accepted"), data.get("rejected")
    if not isinstance(accepted, list) or not isinstance(rejected, list):
        return Reply("inconsistent_reply", status, detail="accepted/rejected 不是列表")
    clean_rejected = []
    for item in rejected:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            return Reply("inconsistent_reply", status, detail="rejected 中有条目缺少 id")
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
        return Reply("inconsistent_reply", status, detail="回复未对每条记录恰好答复一次")
    return Reply("ok", status, accepted=list(accepted), rejected=clean_rejected)


class ProvinceClient:
    """Signs and posts batches; never raises for network trouble, it returns a transient Reply."""

    def __init__(self, base_url: str, app_id: str, secret: str, *, connect_timeout: float = 3.0,
                 read_timeout: float = 15.0, deadline: float = 30.0, max_reply_bytes: int = 4 * 1024 * 1024,
                 session: requests.Session | None = None, ca_bundle: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.url = base_url.rstrip("/") + UPLOAD_PATH
        self.path = urlsplit(self.url).path
        self.app_id = app_id
        self.secret = secret
        self.limits = Limits(float(connect_timeout), float(read_timeout), float(deadline), int(max_reply_bytes))
        self.http = session or new_session()
        self.verify = verify_setting(ca_bundle)
        self.clock = clock  # this host's wall clock (tests move it)

    @property
    def timeout(self) -> tuple[float, float]:
        return self.limits.timeout

    @classmethod
    def from_config(cls, cfg) -> "ProvinceClient":
        return cls(cfg["PROVINCE_URL"], str(cfg["PROVINCE_APP_ID"]), str(cfg["PROVINCE_SECRET"]),
                   connect_timeout=cfg["PROVINCE_CONNECT_TIMEOUT"], read_timeout=cfg["PROVINCE_READ_TIMEOUT"],
                   deadline=cfg.get("SYNC_DEADLINE_SECONDS", 30.0),
                   max_reply_bytes=cfg.get("SYNC_MAX_REPLY_BYTES", 4 * 1024 * 1024),
                   ca_bundle=cfg.get("PROVINCE_CA_BUNDLE", ""))

    def headers(self, body: bytes) -> dict:
        """Fresh timestamp and nonce, and the signature over them."""
        timestamp = str(int(self.clock()))
        nonce = secrets.token_hex(16)
        return {
            "Content-Type": "application/json; charset=utf-8",
            "X-Erhc-App-Id": self.app_id,
            "X-Erhc-Timestamp": timestamp,
            "X-Erhc-Nonce": nonce,
            "X-Erhc-Signature": signature(self.secret, self.path, timestamp, nonce, body),
        }

    def send(self, body: bytes, cd_batch: str, ids: list[str], stop: threading.Event | None = None) -> Reply:
        """POST one batch body and classify the answer; ``stop`` ends the call early (outcome ``stopped``)."""
        started = time.monotonic()
        prepared = self.http.prepare_request(requests.Request("POST", self.url, data=body, headers=self.headers(body)))
        settings = self.http.merge_environment_settings(prepared.url, {}, None, self.verify, None)
        sent_at = self.clock()
        try:
            fetched = fetch(self.http, prepared, self.limits, stop=stop, **settings)
        except OutboundFailure as exc:
            reply = Reply(exc.reason, exc.status, detail=exc.detail)
        else:
            reply = self._classify(fetched.status, fetched.body, fetched.headers, cd_batch, ids)
            reply.clock_offset = clock_offset(fetched.headers.get("Date"), sent_at, self.clock())
        reply.elapsed_ms = int((time.monotonic() - started) * 1000)
        return reply

    @staticmethod
    def _classify(status: int, content: bytes, headers, cd_batch: str, ids: list[str]) -> Reply:
        if status == 200:
            return interpret(status, content, cd_batch, ids)
        detail = _error_code(content)
        if status == 401 and detail in CLOCK_REFUSALS:
            return Reply("clock_skew", status, detail=detail)
        if status in REFUSED_STATUSES:
            return Reply("refused", status, detail=detail)
        if status == 429:
            return Reply("rate_limited", status, retry_after=parse_retry_after(headers.get("Retry-After")),
                         detail=detail)
        if status >= 500:
            return Reply("http_5xx", status, detail=detail)
        return Reply("unexpected_status", status, detail=detail)


def _error_code(content: bytes) -> str:
    """The receiver's machine reason code, if the body carries one (never the body itself)."""
    try:
        data = parse_json(content)
    except OutboundFailure:
        return ""
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return data["error"][:64]
    return ""

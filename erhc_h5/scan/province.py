"""The province's verification (验码): a signed request from the provincial platform, checked and
answered like a scan at the province's terminal.

The signature is the upload's scheme in the other direction (``erhc_h5.sync.client.signature``):
HMAC-SHA256 with ``PROVINCE_VERIFY_SECRET`` over method, path, timestamp, nonce and the body's
SHA-256. A nonce is single use: it is stored under a primary key in the scan's own transaction, so
of two requests racing with one nonce exactly one is answered and the other is refused 401.
"""
from __future__ import annotations

import hmac
import json
import re
import time
from dataclasses import dataclass

from erhc_h5.errors import WireRefusal
from erhc_h5.sync.client import signature

MAX_SKEW_SECONDS = 300
SITE_NAME = "省级平台验码"
_NONCE = re.compile(r"[0-9a-f]{32}")
_STAMP = re.compile(r"[0-9]{1,12}")
_TERMINAL = re.compile(r"[\x20-\x7e]{1,64}")
REFUSALS = {
    "unknown_app_id": "调用方标识不正确",
    "bad_timestamp": "时间戳缺失或格式不正确",
    "stale_timestamp": "时间戳与平台时间相差超过300秒",
    "bad_nonce": "随机数缺失或不是32位小写十六进制",
    "bad_signature": "签名缺失或不正确",
    "replayed_nonce": "随机数已使用过",
}


class Refused(WireRefusal):
    """A province request refused before its code is looked at: status, reason code (``error``),
    Chinese message; a 401 names the signature scheme the caller must use."""

    def response_headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'ErhcSignature realm="erhc-province-verify"'} if self.status == 401 else {}

    @classmethod
    def unauthorized(cls, reason: str) -> "Refused":
        return cls(401, reason, REFUSALS[reason])


@dataclass(frozen=True)
class VerifyRequest:
    """The body of a verification request: the QR text verbatim and the province's terminal id."""

    code: str
    terminal: str


def check_headers(cfg, headers, now: float | None = None) -> tuple[str, str]:
    """App id, timestamp window and nonce form; returns (timestamp, nonce)."""
    if not hmac.compare_digest(headers.get("X-Erhc-App-Id", "").encode(), str(cfg["PROVINCE_VERIFY_ID"]).encode()):
        raise Refused.unauthorized("unknown_app_id")
    stamp = headers.get("X-Erhc-Timestamp", "")
    if not _STAMP.fullmatch(stamp):
        raise Refused.unauthorized("bad_timestamp")
    if abs((time.time() if now is None else now) - int(stamp)) > MAX_SKEW_SECONDS:
        raise Refused.unauthorized("stale_timestamp")
    nonce = headers.get("X-Erhc-Nonce", "")
    if not _NONCE.fullmatch(nonce):
        raise Refused.unauthorized("bad_nonce")
    return stamp, nonce


def check_signature(cfg, path: str, headers, stamp: str, nonce: str, body: bytes) -> None:
    """The signature over method, path, timestamp, nonce and the body's SHA-256 (compared in constant time)."""
    expected = signature(str(cfg["PROVINCE_VERIFY_SECRET"]), path, stamp, nonce, body)
    if not hmac.compare_digest(expected.encode(), headers.get("X-Erhc-Signature", "").encode("utf-8", "replace")):
        raise Refused.unauthorized("bad_signature")


def check_signed(cfg, path: str, headers, body: bytes | None) -> str:
    """Every check of a signed province call, in order: headers, size (``None``: the body was over
    the cap), signature. Returns the nonce, still to be used up in the caller's transaction."""
    stamp, nonce = check_headers(cfg, headers)
    if body is None:
        raise Refused(413, "too_large", "请求内容过大")
    check_signature(cfg, path, headers, stamp, nonce, body)
    return nonce


def parse_body(raw: bytes) -> VerifyRequest:
    """``{"code": str, "terminal": 1–64 printable ASCII}``, else Refused 400."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        raise Refused(400, "bad_request", '请求体应为 JSON:{"code": "二维码内容", "terminal": "终端编号"}')
    terminal = body.get("terminal")
    if not isinstance(terminal, str) or not _TERMINAL.fullmatch(terminal):
        raise Refused(400, "bad_terminal", "终端编号应为1至64个可打印ASCII字符")
    return VerifyRequest(body["code"], terminal)


def is_authenticated(record: dict | None) -> bool:
    """Whether an uploaded record says the resident is real-name authenticated (and not deleted)."""
    return record is not None and record.get("recognize_flag") == 1 and record.get("cd_operation") != "d"

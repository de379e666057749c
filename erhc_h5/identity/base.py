"""Provider interfaces for identity checks, SMS and face verification.

Every implementation (sandbox, HTTP, null) returns these results and raises ``ProviderUnavailable``
for anything that is not the resident's fault (timeout, 5xx, garbled reply, misconfiguration):
the journey then offers a retry without spending an attempt.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Protocol

MAX_DEVICE_INFO = 8192  # a vendor script's device data is a small JSON object; anything larger is not it


class ProviderUnavailable(RuntimeError):
    """The provider could not give an answer; ``reason`` is a stable code (timeout, upstream_error…)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class CheckResult:
    """A provider's verdict: ``passed`` or not, with a stable reason code when not."""

    passed: bool
    reason: str = ""  # e.g. mismatch, no_record, phone_mismatch, face_mismatch, liveness_failed
    provider_ref: str = ""  # the provider's transaction id, for audit (no personal data)


@dataclass(frozen=True)
class SmsReceipt:
    """The gateway confirmed it accepted the message."""

    message_id: str


@dataclass(frozen=True)
class FaceStart:
    """A face verification started at the provider: where to send the browser, and the token."""

    token: str
    redirect_url: str | None = None  # None: the page captures and uploads the image itself
    extra: dict = field(default_factory=dict)


def device_info_problem(value: str) -> str | None:
    """Why device data posted by the face page cannot be sent on (``no_device_info``, ``bad_device_info``),
    or None: it must be the non-empty JSON object the vendor's script gave."""
    if not value:
        return "no_device_info"
    if len(value) > MAX_DEVICE_INFO:
        return "bad_device_info"
    try:
        parsed = json.loads(value)
    except ValueError:
        return "bad_device_info"
    return None if isinstance(parsed, dict) and parsed else "bad_device_info"


class IdentityProvider(Protocol):
    def check_two_factor(self, name: str, id_card_type_code: str, idcode: str) -> CheckResult: ...

    def check_three_factor(self, name: str, id_card_type_code: str, idcode: str, phone: str) -> CheckResult: ...


class SmsProvider(Protocol):
    def send_code(self, phone: str, code: str) -> SmsReceipt: ...

    def send_notice(self, phone: str, params: dict[str, str]) -> SmsReceipt:
        """The link notice (``PROVIDER_SMS_NOTICE_TEMPLATE``): params ``time``, ``app``, ``account``."""
        ...


class FaceProvider(Protocol):
    """Face verification. ``device_script``: the URL of a vendor script our face page must run first (its
    ``getMetaInfo()`` gives ``device_info`` for ``start``), or "" when the check starts without one."""

    device_script: str

    def start(self, name: str, id_card_type_code: str, idcode: str, return_url: str, device_info: str = "") -> FaceStart: ...

    def verify_image(self, token: str, image: bytes) -> CheckResult: ...

    def fetch_result(self, token: str) -> CheckResult: ...

"""Null providers: nothing is configured, every call is unavailable (not the resident's fault)."""
from __future__ import annotations

from erhc_h5.identity.base import CheckResult, FaceStart, ProviderUnavailable, SmsReceipt


def _unavailable():
    raise ProviderUnavailable("not_configured", "provider not configured")


class NullIdentityProvider:
    def check_two_factor(self, name: str, id_card_type_code: str, idcode: str) -> CheckResult:
        _unavailable()

    def check_three_factor(self, name: str, id_card_type_code: str, idcode: str, phone: str) -> CheckResult:
        _unavailable()


class NullSmsProvider:
    def send_code(self, phone: str, code: str) -> SmsReceipt:
        _unavailable()

    def send_notice(self, phone: str, params: dict[str, str]) -> SmsReceipt:
        _unavailable()


class NullFaceProvider:
    device_script = ""

    def start(self, name: str, id_card_type_code: str, idcode: str, return_url: str, device_info: str = "") -> FaceStart:
        _unavailable()

    def verify_image(self, token: str, image: bytes) -> CheckResult:
        _unavailable()

    def fetch_result(self, token: str) -> CheckResult:
        _unavailable()

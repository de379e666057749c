"""Sandbox providers: no network, contract magic (a name containing 失败 fails), fault simulation.

``SANDBOX_PROVIDER_MODE`` (read at each call): ``normal``, ``timeout`` (raises
ProviderUnavailable("timeout") at once, without waiting) or ``error`` (ProviderUnavailable("upstream_error")).
The SMS sandbox sends nothing; it remembers the last code per phone so sandbox pages can show it.
Face images are checked in memory (Pillow) and never stored.
"""
from __future__ import annotations

import io
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping

from itsdangerous import BadSignature, URLSafeSerializer
from PIL import Image, UnidentifiedImageError

from erhc_h5.identity.base import CheckResult, FaceStart, ProviderUnavailable, SmsReceipt
from erhc_h5.records.codes import ID_CARD_TYPES
from erhc_h5.records.idnumbers import IdNumberError, check_idcode
from erhc_h5.records.standard import validate_field

FAIL_MARK = "失败"
MIN_FACE_SIDE = 64
MAX_FACE_PIXELS = 40_000_000  # refuse before decoding: a phone photo is far smaller
MEMORY_LIMIT = 1000  # entries kept per in-memory table; oldest dropped first


class _BoundedMap:
    """A small thread-safe LRU dict: sandbox memory must not grow without bound."""

    def __init__(self, limit: int = MEMORY_LIMIT) -> None:
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def put(self, key, value) -> None:
        with self._lock:
            self._data.pop(key, None)
            self._data[key] = value
            while len(self._data) > self._limit:
                self._data.popitem(last=False)

    def get(self, key):
        with self._lock:
            return self._data.get(key)

    def __len__(self) -> int:
        return len(self._data)


class _SandboxBase:
    def __init__(self, config: Mapping) -> None:
        self._config = config  # the live app.config: tests may switch the mode after creation

    def _simulate_faults(self) -> None:
        mode = str(self._config.get("SANDBOX_PROVIDER_MODE", "normal"))
        if mode == "timeout":
            raise ProviderUnavailable("timeout", "sandbox simulated timeout")
        if mode == "error":
            raise ProviderUnavailable("upstream_error", "sandbox simulated error")

    @staticmethod
    def _ref() -> str:
        return "sbx-" + secrets.token_hex(8)


def _well_formed(name: str, id_card_type_code: str, idcode: str) -> bool:
    if id_card_type_code not in ID_CARD_TYPES or validate_field("name", name):
        return False
    try:
        check_idcode(id_card_type_code, idcode)
    except IdNumberError:
        return False
    return True


class SandboxIdentityProvider(_SandboxBase):
    """Two- and three-factor checks: well-formed passes, a name containing 失败 is a mismatch."""

    def check_two_factor(self, name: str, id_card_type_code: str, idcode: str) -> CheckResult:
        self._simulate_faults()
        if not _well_formed(name, id_card_type_code, idcode):
            return CheckResult(False, "no_record", self._ref())
        if FAIL_MARK in name:
            return CheckResult(False, "mismatch", self._ref())
        return CheckResult(True, "", self._ref())

    def check_three_factor(self, name: str, id_card_type_code: str, idcode: str, phone: str) -> CheckResult:
        self._simulate_faults()
        if not _well_formed(name, id_card_type_code, idcode) or validate_field("phone", phone):
            return CheckResult(False, "no_record", self._ref())
        if FAIL_MARK in name:
            return CheckResult(False, "mismatch", self._ref())
        return CheckResult(True, "", self._ref())


def notice_text(params: dict[str, str]) -> str:
    """The link notice as the sandbox shows it (a real gateway fills its registered template)."""
    return (f"【电子健康码】您的证件于{params['time']}在“{params['app']}”的账号{params['account']}上完成实名认证"
            "并关联了您的电子健康码。如非本人操作,请立即拨打{hotline}或携带身份证件到现场核验点处理。"
            ).replace("{hotline}", params.get("hotline") or "城市服务热线")


class SandboxSmsProvider(_SandboxBase):
    """Sends nothing; keeps the last code per phone (bounded) for the sandbox page hint."""

    def __init__(self, config: Mapping) -> None:
        super().__init__(config)
        self._last = _BoundedMap()
        self._notices = _BoundedMap()

    def send_code(self, phone: str, code: str) -> SmsReceipt:
        self._simulate_faults()
        self._last.put(phone, code)
        return SmsReceipt(self._ref())

    def sandbox_last_code(self, phone: str) -> str | None:
        """The last code 'sent' to this phone, or None."""
        return self._last.get(phone)

    def send_notice(self, phone: str, params: dict[str, str]) -> SmsReceipt:
        self._simulate_faults()
        self._notices.put(phone, (self._notices.get(phone) or ()) + (notice_text(params),))
        return SmsReceipt(self._ref())

    def sandbox_notices(self, phone: str) -> tuple[str, ...]:
        """The link notices 'sent' to this phone, oldest first."""
        return self._notices.get(phone) or ()


class SandboxFaceProvider(_SandboxBase):
    """The page captures; any decodable image of at least 64x64 passes unless the name holds 失败."""

    device_script = ""


    def __init__(self, config: Mapping) -> None:
        super().__init__(config)
        # Tokens carry their own verdict seed, signed, so any worker process can check an image.
        self._signer = URLSafeSerializer(str(config.get("SECRET_KEY", "")), salt="sandbox-face")
        self._verdicts = _BoundedMap()

    def start(self, name: str, id_card_type_code: str, idcode: str, return_url: str, device_info: str = "") -> FaceStart:
        self._simulate_faults()
        token = self._signer.dumps({"n": secrets.token_hex(8), "f": FAIL_MARK in name})
        return FaceStart(token=token, redirect_url=None)

    def _claims(self, token: str) -> dict:
        try:
            return self._signer.loads(token)
        except BadSignature:
            raise ProviderUnavailable("face_expired", "unknown sandbox face token") from None

    def verify_image(self, token: str, image: bytes) -> CheckResult:
        self._simulate_faults()
        claims = self._claims(token)
        result = self._judge(claims, image)
        self._verdicts.put(token, result)
        return result

    def _judge(self, claims: dict, image: bytes) -> CheckResult:
        try:
            with Image.open(io.BytesIO(image or b"")) as img:
                width, height = img.size
                if width * height > MAX_FACE_PIXELS:
                    return CheckResult(False, "bad_image", self._ref())
                img.load()
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            return CheckResult(False, "bad_image", self._ref())
        if min(width, height) < MIN_FACE_SIDE:
            return CheckResult(False, "bad_image", self._ref())
        if claims.get("f"):
            return CheckResult(False, "face_mismatch", self._ref())
        return CheckResult(True, "", self._ref())

    def fetch_result(self, token: str) -> CheckResult:
        self._simulate_faults()
        self._claims(token)
        result = self._verdicts.get(token)
        if result is None:
            raise ProviderUnavailable("pending", "no image verified yet")
        return result

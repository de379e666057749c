"""Sandbox specifics: malformed identities, bounded SMS memory, signed face tokens, no stored images."""
from __future__ import annotations

import pytest

from erhc_h5.identity.base import ProviderUnavailable
from erhc_h5.identity.sandbox import (
    MEMORY_LIMIT,
    SandboxFaceProvider,
    SandboxIdentityProvider,
    SandboxSmsProvider,
)
from tests.identity.conftest import png

CONFIG = {"SANDBOX": True, "SECRET_KEY": "k1", "SANDBOX_PROVIDER_MODE": "normal"}
ID = "11010519491231002X"  # GB 11643-1999 specimen


@pytest.mark.parametrize("name,type_code,idcode", [
    ("张三", "01", ID[:-1] + ("0" if ID[-1] != "0" else "1")),  # bad check character
    ("张三", "42", ID),  # unknown document type
    ("张三3", "01", ID),  # not a name
    ("", "01", ID),
])
def test_malformed_identity_is_no_record(name, type_code, idcode):
    result = SandboxIdentityProvider(CONFIG).check_two_factor(name, type_code, idcode)
    assert (result.passed, result.reason) == (False, "no_record")


def test_other_documents_and_bad_phone():
    provider = SandboxIdentityProvider(CONFIG)
    assert provider.check_two_factor("JOHN SMITH", "03", "E12345678").passed
    assert provider.check_three_factor("张三", "01", ID, "1380013800").reason == "no_record"


def test_sms_memory_is_per_phone_and_bounded():
    sms = SandboxSmsProvider(CONFIG)
    sms.send_code("13800000000", "111111")
    sms.send_code("13800000000", "222222")
    assert sms.sandbox_last_code("13800000000") == "222222"
    for i in range(MEMORY_LIMIT + 10):
        sms.send_code(f"139{i:08d}", "333333")
    assert len(sms._last) == MEMORY_LIMIT
    assert sms.sandbox_last_code("13800000000") is None


def test_mode_is_read_at_call_time():
    config = dict(CONFIG)
    sms = SandboxSmsProvider(config)
    config["SANDBOX_PROVIDER_MODE"] = "timeout"
    with pytest.raises(ProviderUnavailable) as info:
        sms.send_code("13800000000", "111111")
    assert info.value.reason == "timeout"
    assert sms.sandbox_last_code("13800000000") is None


def test_face_token_works_across_workers_and_forgery_fails():
    first, second = SandboxFaceProvider(CONFIG), SandboxFaceProvider(CONFIG)
    token = first.start("张三", "01", ID, "https://h5.test/r").token
    assert second.verify_image(token, png()).passed
    other_key = SandboxFaceProvider({**CONFIG, "SECRET_KEY": "k2"})
    with pytest.raises(ProviderUnavailable) as info:
        other_key.verify_image(token, png())
    assert info.value.reason == "face_expired"


def test_face_image_is_not_kept():
    face = SandboxFaceProvider(CONFIG)
    image = png(120, 80)
    token = face.start("张三", "01", ID, "https://h5.test/r").token
    face.verify_image(token, image)
    kept = list(face.__dict__.values()) + list(face._verdicts._data.values())
    assert not any(isinstance(value, (bytes, bytearray)) for value in kept)
    assert image not in repr(kept).encode()


def test_face_refuses_huge_dimensions_before_decoding():
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("1", (8000, 6000)).save(out, "PNG")  # 48 Mpx, a few kB compressed
    face = SandboxFaceProvider(CONFIG)
    token = face.start("张三", "01", ID, "https://h5.test/r").token
    assert face.verify_image(token, out.getvalue()).reason == "bad_image"

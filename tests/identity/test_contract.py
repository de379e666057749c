"""One contract for every provider implementation: pass, fail with a reason, unavailable."""
from __future__ import annotations

import pytest

from erhc_h5.identity.base import CheckResult, ProviderUnavailable, SmsReceipt
from tests.identity.conftest import png

ID = "11010519491231002X"  # GB 11643-1999 specimen
PHONE = "13800138000"
FAULTS = [("timeout", "timeout"), ("error", "upstream_error")]


def test_two_factor_passes_well_formed_identity(impl):
    result = impl.providers.identity.check_two_factor("张三", "01", ID)
    assert result == CheckResult(True, "", result.provider_ref) and result.provider_ref


def test_two_factor_fails_name_with_magic_word(impl):
    result = impl.providers.identity.check_two_factor("张失败", "01", ID)
    assert (result.passed, result.reason) == (False, "mismatch")


def test_three_factor_pass_and_fail(impl):
    ok = impl.providers.identity.check_three_factor("阿依古丽·买买提", "01", ID, PHONE)
    bad = impl.providers.identity.check_three_factor("认证失败", "01", ID, PHONE)
    assert ok.passed and not ok.reason
    assert (bad.passed, bad.reason) == (False, "mismatch")


def test_sms_send_returns_receipt(impl):
    receipt = impl.providers.sms.send_code(PHONE, "123456")
    assert isinstance(receipt, SmsReceipt) and receipt.message_id


def test_face_start_then_resident_step_then_server_side_result(impl):
    face = impl.providers.face
    started = impl.start_face("张三", ID, "https://h5.test/h5/face/return")
    assert started.token
    secure = ("https://", "http://127.0.0.1:") if impl.loopback else ("https://",)
    assert started.redirect_url is None or started.redirect_url.startswith(secure)
    with pytest.raises(ProviderUnavailable) as info:
        face.fetch_result(started.token)
    assert info.value.reason == "pending"
    impl.finish_face(started.token)
    verdict = face.fetch_result(started.token)
    assert verdict.passed and not verdict.reason


def test_face_mismatch_for_magic_name(impl):
    started = impl.start_face("李失败", ID)
    impl.finish_face(started.token)
    verdict = impl.providers.face.fetch_result(started.token)
    assert (verdict.passed, verdict.reason) == (False, "face_mismatch")


@pytest.mark.parametrize("image", [b"not an image", b"", png(32, 32)], ids=["garbage", "empty", "tiny"])
def test_face_bad_image(impl, image):
    if not impl.captures:
        pytest.skip("the vendor's own page captures the face")
    started = impl.start_face("张三", ID)
    verdict = impl.providers.face.verify_image(started.token, image)
    assert (verdict.passed, verdict.reason) == (False, "bad_image")


def test_face_unknown_token_is_not_residents_fault(impl):
    with pytest.raises(ProviderUnavailable) as info:
        impl.providers.face.fetch_result("forged-token")
    assert info.value.reason == "face_expired"


@pytest.mark.parametrize("mode,reason", FAULTS)
def test_every_call_unavailable_when_upstream_fails(impl, mode, reason):
    started = impl.start_face("张三", ID)
    impl.set_mode(mode)
    calls = [lambda: impl.providers.identity.check_two_factor("张三", "01", ID),
             lambda: impl.providers.identity.check_three_factor("张三", "01", ID, PHONE),
             lambda: impl.providers.sms.send_code(PHONE, "123456")]
    calls += [lambda: impl.start_face("张三", ID), lambda: impl.providers.face.fetch_result(started.token)]
    if impl.captures:
        calls.append(lambda: impl.providers.face.verify_image(started.token, png()))
    for call in calls:
        with pytest.raises(ProviderUnavailable) as info:
            call()
        assert info.value.reason == reason
        assert "张三" not in str(info.value) and ID not in str(info.value)
    impl.set_mode("normal")
    assert impl.providers.identity.check_two_factor("张三", "01", ID).passed

"""Both cloud vendors' adapters against their fakes: every fault is an unavailability (the documented
gateway and common error codes, the transport's failures), never a pass; documents other than the
resident ID card are never sent."""
from __future__ import annotations

import pytest

from erhc_h5.identity.factory import build_providers
from tests.identity import aliyun_fake, tencent_fake
from tests.identity.vendor_checks import TRANSPORT_FAULTS, check_and_sms_unavailable, unavailable

CONFIG = {"aliyun": aliyun_fake.provider_config, "tencent": tencent_fake.provider_config}
FAULTS = {
    "aliyun": [
        ("gateway:400:Throttling.User", "throttled"),  # Request was denied due to user flow control.
        ("gateway:503:ServiceUnavailable", "upstream_error"),
        ("gateway:404:InvalidAccessKeyId.NotFound", "provider_refused"),
        ("gateway:400:Galaxy.Unheard", "unknown_result"),
    ],
    "tencent": [
        ("code:RequestLimitExceeded", "throttled"),  # 请求的次数超过了频率限制。
        ("code:RequestLimitExceeded.IPLimitExceeded", "throttled"),  # IP 限频。(parent code)
        ("code:LimitExceeded", "quota"),  # 超过配额限制。
        ("code:FailedOperation.IdentityAuthLimitExceeded", "quota"),  # 姓名/身份证号认证次数超过当日限制
        ("code:UnauthorizedOperation.Arrears", "quota"),  # 账号已欠费。
        ("code:InternalError", "upstream_error"),  # 内部错误。
        ("code:AuthFailure.SignatureExpire", "provider_refused"),  # 签名过期。
        ("code:Galaxy.Unheard", "unknown_result"),
        ("nested", "bad_reply"),
        ("huge", "bad_reply"),
        ("trickle", "timeout"),
    ],
}


def vendor_and_providers(request, vendor: str):
    fake = request.getfixturevalue(vendor)
    return fake, build_providers(CONFIG[vendor](fake))


@pytest.mark.parametrize("vendor,mode,reason", [
    (vendor, mode, reason) for vendor, faults in FAULTS.items() for mode, reason in [*faults, *TRANSPORT_FAULTS]])
def test_faults_are_unavailable_never_a_pass(request, vendor, mode, reason):
    fake, providers = vendor_and_providers(request, vendor)
    fake.mode = mode
    assert check_and_sms_unavailable(providers) == {reason}


@pytest.mark.parametrize("vendor", sorted(CONFIG))
def test_other_documents_are_not_sent(request, vendor):
    fake, providers = vendor_and_providers(request, vendor)
    assert unavailable(lambda: providers.identity.check_two_factor("张三", "03", "E12345678")) == "unsupported_document"
    assert unavailable(lambda: providers.face.start("张三", "06", "H1234567890", "https://h5.test/r")) \
        == "unsupported_document"
    assert fake.calls == []

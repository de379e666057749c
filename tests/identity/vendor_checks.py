"""What the vendor adapter tests share: reading a call's outcome (never with personal data in an error),
and the transport faults both fakes simulate."""
from __future__ import annotations

import pytest

from erhc_h5.config import ConfigError
from erhc_h5.identity.base import ProviderUnavailable
from erhc_h5.identity.factory import check_config

ID = "11010519491231002X"  # GB 11643-1999 specimen
PHONE = "13800138000"
# Every fake answers these the same way: HTTP 502 HTML, a cut-off JSON reply, silence.
TRANSPORT_FAULTS = [("error", "upstream_error"), ("bad_json", "bad_reply"), ("timeout", "timeout")]


def unavailable(call) -> str:
    """The reason of the ProviderUnavailable ``call`` must raise; its text names nobody."""
    with pytest.raises(ProviderUnavailable) as info:
        call()
    assert ID not in str(info.value) and "张三" not in str(info.value)
    return info.value.reason


def outcome_of(call):
    """(passed, reason) of a verdict, or the reason of an unavailability."""
    try:
        result = call()
    except ProviderUnavailable:
        return unavailable(call)
    return (result.passed, result.reason)


def check_and_sms_unavailable(providers) -> set[str]:
    """The reasons a two-factor check and an SMS give while the vendor misbehaves."""
    return {unavailable(lambda: providers.identity.check_two_factor("张三", "01", ID)),
            unavailable(lambda: providers.sms.send_code(PHONE, "123456"))}


def each_setting_is_required(full: dict, keys, kind: str, endpoint_key: str, fake_url: str) -> None:
    """Production refuses each missing setting, and a plain-http endpoint, in one line that names it."""
    check_config(full)
    for key in keys:
        with pytest.raises(ConfigError, match=f"ERHC_{key} is required when ERHC_[A-Z]+_PROVIDER={kind}") as info:
            check_config({**full, key: ""})
        assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=f"ERHC_{endpoint_key} must use https in production"):
        check_config({**full, endpoint_key: fake_url})

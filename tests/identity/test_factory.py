"""Provider selection from configuration, caching per app, and production refusal of the sandbox."""
from __future__ import annotations

import pytest

from erhc_h5.config import ConfigError
from erhc_h5.identity import get_providers, sandbox_last_code, set_providers
from erhc_h5.identity.factory import build_providers, check_config
from erhc_h5.identity.null import NullFaceProvider, NullIdentityProvider, NullSmsProvider
from erhc_h5.identity.base import ProviderUnavailable
from erhc_h5.identity.sandbox import SandboxFaceProvider, SandboxIdentityProvider, SandboxSmsProvider

HTTP = {"PROVIDER_BASE_URL": "https://idp.test", "PROVIDER_APP_KEY": "k", "PROVIDER_APP_SECRET": "s"}


def test_defaults_are_sandbox_and_cached_per_app(app):
    providers = get_providers()
    assert isinstance(providers.identity, SandboxIdentityProvider)
    assert isinstance(providers.sms, SandboxSmsProvider)
    assert isinstance(providers.face, SandboxFaceProvider)
    assert get_providers(app) is providers
    set_providers(app, None)
    assert get_providers(app) is not providers


def test_sandbox_refused_in_production():
    with pytest.raises(ConfigError, match="ERHC_IDENTITY_PROVIDER=sandbox is not allowed in production"):
        check_config({"SANDBOX": False, "IDENTITY_PROVIDER": "sandbox"})
    with pytest.raises(ConfigError, match="ERHC_FACE_PROVIDER"):
        check_config({"SANDBOX": False, "IDENTITY_PROVIDER": "null", "SMS_PROVIDER": "null",
                      "FACE_PROVIDER": "sandbox"})


def test_unknown_kind_and_missing_http_settings_refused():
    with pytest.raises(ConfigError, match="must be one of"):
        check_config({"SANDBOX": True, "SMS_PROVIDER": "carrier-pigeon"})
    with pytest.raises(ConfigError, match="ERHC_PROVIDER_APP_SECRET is required"):
        check_config({"SANDBOX": True, "IDENTITY_PROVIDER": "http",
                      "PROVIDER_BASE_URL": "https://idp.test", "PROVIDER_APP_KEY": "k"})


def test_http_and_null_selected_by_config():
    from erhc_h5.identity.http import HttpFaceProvider, HttpIdentityProvider, HttpSmsProvider

    providers = build_providers({"SANDBOX": False, "IDENTITY_PROVIDER": "http", "SMS_PROVIDER": "http",
                                 "FACE_PROVIDER": "null", **HTTP})
    assert isinstance(providers.identity, HttpIdentityProvider)
    assert isinstance(providers.sms, HttpSmsProvider)
    assert providers.identity._client is providers.sms._client  # one pooled session
    assert isinstance(providers.face, NullFaceProvider)
    assert not isinstance(providers.face, HttpFaceProvider)


def test_null_is_always_unavailable():
    calls = [lambda: NullIdentityProvider().check_two_factor("张三", "01", "x"),
             lambda: NullIdentityProvider().check_three_factor("张三", "01", "x", "13800000000"),
             lambda: NullSmsProvider().send_code("13800000000", "123456"),
             lambda: NullFaceProvider().start("张三", "01", "x", "https://r"),
             lambda: NullFaceProvider().verify_image("t", b""),
             lambda: NullFaceProvider().fetch_result("t")]
    for call in calls:
        with pytest.raises(ProviderUnavailable) as info:
            call()
        assert info.value.reason == "not_configured"


def test_sandbox_last_code_only_in_sandbox(app):
    get_providers().sms.send_code("13800138000", "246810")
    assert sandbox_last_code("13800138000") == "246810"
    assert sandbox_last_code("13900000000") is None
    app.config["SANDBOX"] = False
    assert sandbox_last_code("13800138000") is None


def test_app_config_reaches_http_client(app):
    app.config.update(IDENTITY_PROVIDER="http", PROVIDER_TIMEOUT="3,10", **HTTP)
    set_providers(app, None)
    client = get_providers(app).identity._client
    assert (client.base_url, client.app_key, client.timeout) == ("https://idp.test", "k", (3.0, 10.0))
    assert isinstance(get_providers(app).sms, SandboxSmsProvider)
    assert app.config["PROVIDER_SMS_TEMPLATE"] == "ERHC_OTP" and app.config["PROVIDER_FACE_MIN_SCORE"] == 80
    set_providers(app, None)

"""Choose the identity, SMS and face providers from configuration, once per app."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, current_app

from erhc_h5.config import ConfigError
from erhc_h5.identity.base import FaceProvider, IdentityProvider, SmsProvider
from erhc_h5.security.headers import script_origin

EXTENSION_KEY = "erhc_identity_providers"
KINDS = ("sandbox", "http", "tencent", "aliyun", "null")
SETTINGS = {"identity": "IDENTITY_PROVIDER", "sms": "SMS_PROVIDER", "face": "FACE_PROVIDER"}
TENCENT_KEYS = ("TENCENT_SECRET_ID", "TENCENT_SECRET_KEY")
TENCENT_NEEDS = {
    "identity": TENCENT_KEYS,
    "face": (*TENCENT_KEYS, "TENCENT_FACEID_RULE_ID"),
    "sms": (*TENCENT_KEYS, "TENCENT_SMS_SDK_APP_ID", "TENCENT_SMS_SIGN", "TENCENT_SMS_TEMPLATE_CODE",
            "TENCENT_SMS_TEMPLATE_NOTICE"),
}
TENCENT_SDK = {"identity": "tencentcloud.faceid", "face": "tencentcloud.faceid", "sms": "tencentcloud.sms"}
ALIYUN_KEYS = ("ALIYUN_ACCESS_KEY_ID", "ALIYUN_ACCESS_KEY_SECRET")
ALIYUN_NEEDS = {"identity": ALIYUN_KEYS,
                "face": (*ALIYUN_KEYS, "ALIYUN_FACE_SCENE_ID", "ALIYUN_FACE_PRODUCT_CODE", "ALIYUN_FACE_SCRIPT_URL"),
                "sms": (*ALIYUN_KEYS, "ALIYUN_SMS_SIGN", "ALIYUN_SMS_TEMPLATE_CODE", "ALIYUN_SMS_TEMPLATE_NOTICE")}
ALIYUN_SDK = {"identity": "alibabacloud_cloudauth20190307", "face": "alibabacloud_cloudauth20190307",
              "sms": "alibabacloud_dysmsapi20170525"}


@dataclass(frozen=True)
class Providers:
    """The three providers the journey talks to."""

    identity: IdentityProvider
    sms: SmsProvider
    face: FaceProvider


def check_config(config) -> None:
    """Raise ConfigError (one line) when the provider settings cannot be used."""
    for role, key in SETTINGS.items():
        kind = str(config.get(key, "sandbox"))
        if kind not in KINDS:
            raise ConfigError(f"ERHC_{key} must be one of {', '.join(KINDS)}, got {kind!r}")
        if kind == "sandbox" and not config.get("SANDBOX"):
            raise ConfigError(f"ERHC_{key}=sandbox is not allowed in production; use http")
        if kind == "http":
            for needed in ("PROVIDER_BASE_URL", "PROVIDER_APP_KEY", "PROVIDER_APP_SECRET"):
                if not config.get(needed):
                    raise ConfigError(f"ERHC_{needed} is required when ERHC_{key}=http")
        if kind == "tencent":
            check_tencent(config, role, key)
        if kind == "aliyun":
            check_aliyun(config, role, key)


def check_tencent(config, role: str, key: str) -> None:
    """The Tencent Cloud settings one role needs, the endpoint override, and the SDK itself."""
    for needed in TENCENT_NEEDS[role]:
        if not str(config.get(needed) or ""):
            raise ConfigError(f"ERHC_{needed} is required when ERHC_{key}=tencent")
    _check_endpoint(config, "TENCENT_ENDPOINT")
    _check_sdk(TENCENT_SDK[role], key, "tencent", "the Tencent Cloud SDK")


def check_aliyun(config, role: str, key: str) -> None:
    """The Alibaba Cloud settings one role needs, the endpoint override, the face page's script and the SDK."""
    for needed in ALIYUN_NEEDS[role]:
        if not str(config.get(needed) or ""):
            raise ConfigError(f"ERHC_{needed} is required when ERHC_{key}=aliyun")
    _check_endpoint(config, "ALIYUN_ENDPOINT")
    if role == "face":
        if not str(config["ALIYUN_FACE_SCENE_ID"]).isdigit():
            raise ConfigError("ERHC_ALIYUN_FACE_SCENE_ID must be the console's numeric 认证场景ID")
        _check_script_url(config, "ALIYUN_FACE_SCRIPT_URL")
    _check_sdk(ALIYUN_SDK[role], key, "aliyun", "the Alibaba Cloud SDK")


def _check_script_url(config, name: str) -> None:
    parts = urlsplit(str(config.get(name) or ""))
    if script_origin(parts.geturl()) is None or not parts.path.endswith(".js") or parts.query or parts.fragment:
        raise ConfigError(f"ERHC_{name} must look like https://host/path.js")
    if parts.scheme != "https" and not config.get("SANDBOX"):
        raise ConfigError(f"ERHC_{name} must use https in production")


def _check_endpoint(config, name: str) -> None:
    endpoint = str(config.get(name) or "")
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise ConfigError(f"ERHC_{name} must look like https://host[:port]")
        if parts.scheme != "https" and not config.get("SANDBOX"):
            raise ConfigError(f"ERHC_{name} must use https in production")


def _check_sdk(module: str, key: str, kind: str, what: str) -> None:
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"ERHC_{key}={kind} needs {what}: pip install 'erhc-h5[{kind}]'") from None


def build_providers(config) -> Providers:
    """Build fresh providers from a config mapping (checked first)."""
    check_config(config)
    built = {}
    clients = {}
    for role, key in SETTINGS.items():
        kind = str(config.get(key, "sandbox"))
        if kind == "http" and kind not in clients:
            from erhc_h5.identity.http import ProviderHttpClient

            clients[kind] = ProviderHttpClient.from_config(config)
        if kind == "tencent" and kind not in clients:
            from erhc_h5.identity.tencent import TencentApi

            clients[kind] = TencentApi(config)
        if kind == "aliyun" and kind not in clients:
            from erhc_h5.identity.aliyun import AliyunApi

            clients[kind] = AliyunApi(config)
        built[role] = _make(role, kind, config, clients.get(kind))
    return Providers(**built)


def _make(role: str, kind: str, config, client):
    if kind == "sandbox":
        from erhc_h5.identity import sandbox

        cls = {"identity": sandbox.SandboxIdentityProvider, "sms": sandbox.SandboxSmsProvider,
               "face": sandbox.SandboxFaceProvider}[role]
        return cls(config)
    if kind == "http":
        from erhc_h5.identity import http

        cls = {"identity": http.HttpIdentityProvider, "sms": http.HttpSmsProvider,
               "face": http.HttpFaceProvider}[role]
        return cls(client, config)
    if kind == "tencent":
        from erhc_h5.identity import tencent

        cls = {"identity": tencent.TencentIdentityProvider, "sms": tencent.TencentSmsProvider,
               "face": tencent.TencentFaceProvider}[role]
        return cls(client, config)
    if kind == "aliyun":
        from erhc_h5.identity import aliyun

        cls = {"identity": aliyun.AliyunIdentityProvider, "sms": aliyun.AliyunSmsProvider,
               "face": aliyun.AliyunFaceProvider}[role]
        return cls(client, config)
    from erhc_h5.identity import null

    return {"identity": null.NullIdentityProvider, "sms": null.NullSmsProvider,
            "face": null.NullFaceProvider}[role]()


def get_providers(app: Flask | None = None) -> Providers:
    """The app's providers, built on first use and cached in ``app.extensions``."""
    app = app or current_app._get_current_object()
    providers = app.extensions.get(EXTENSION_KEY)
    if providers is None:
        providers = app.extensions[EXTENSION_KEY] = build_providers(app.config)
    return providers


def set_providers(app: Flask, providers: Providers | None) -> None:
    """Replace (or with None, forget) the cached providers, e.g. in tests or after a config change."""
    if providers is None:
        app.extensions.pop(EXTENSION_KEY, None)
    else:
        app.extensions[EXTENSION_KEY] = providers


def sandbox_last_code(phone: str, app: Flask | None = None) -> str | None:
    """In sandbox mode, the last SMS code 'sent' to ``phone``; None otherwise."""
    app = app or current_app._get_current_object()
    if not app.config.get("SANDBOX"):
        return None
    last = getattr(get_providers(app).sms, "sandbox_last_code", None)
    return last(phone) if last else None

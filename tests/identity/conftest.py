"""Fixtures: every provider implementation behind one handle, so one contract suite runs on all."""
from __future__ import annotations

import io

import pytest
import responses
from PIL import Image

from erhc_h5.identity import get_providers, set_providers
from erhc_h5.identity.factory import build_providers
from tests.identity.fake_upstream import CONFIG, FakeVendor
from tests.identity.aliyun_fake import FakeAliyun
from tests.identity.aliyun_fake import provider_config as aliyun_config
from tests.identity.tencent_fake import FakeTencent, provider_config


def png(width: int = 96, height: int = 96) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 160, 140)).save(out, "PNG")
    return out.getvalue()


class Handle:
    """Providers plus a switch that makes the upstream time out or fail, and the resident's face step:
    a photo the page captures, or (redirect providers) finishing the vendor's own page."""

    def __init__(self, kind, providers, set_mode, vendor=None, finish_face=None, loopback=False, face=True):
        self.kind, self.providers, self.set_mode, self.vendor = kind, providers, set_mode, vendor
        self.face = face  # False: this vendor offers no face provider
        self.loopback = loopback  # the vendor is a plain-http fake on 127.0.0.1
        self.captures = finish_face is None
        self.finish_face = finish_face or (lambda token: providers.face.verify_image(token, png()))


@pytest.fixture(scope="session")
def tencent_fake():
    fake = FakeTencent().start()
    yield fake
    fake.stop()


@pytest.fixture
def tencent(tencent_fake):
    """The fake, reset for one test."""
    tencent_fake.mode = "normal"
    for seen in (tencent_fake.result_override, tencent_fake.calls, tencent_fake.refused, tencent_fake.sms):
        seen.clear()
    tencent_fake.release.clear()
    yield tencent_fake
    tencent_fake.release.set()
    tencent_fake.mode = "normal"


@pytest.fixture(scope="session")
def aliyun_fake():
    fake = FakeAliyun().start()
    yield fake
    fake.stop()


@pytest.fixture
def aliyun(aliyun_fake):
    """The fake, reset for one test."""
    aliyun_fake.mode = "normal"
    aliyun_fake.release.clear()
    for seen in (aliyun_fake.result_override, aliyun_fake.calls, aliyun_fake.refused, aliyun_fake.sms):
        seen.clear()
    yield aliyun_fake
    aliyun_fake.release.set()
    aliyun_fake.mode = "normal"


@pytest.fixture(params=["sandbox", "http", "tencent", "aliyun"])
def impl(request, app):
    if request.param == "sandbox":
        set_providers(app, None)

        def set_mode(mode):
            app.config["SANDBOX_PROVIDER_MODE"] = mode

        yield Handle("sandbox", get_providers(app), set_mode)
        return
    if request.param == "aliyun":
        fake = request.getfixturevalue("aliyun")

        def set_aliyun_mode(mode):
            fake.mode = mode

        yield Handle("aliyun", build_providers(aliyun_config(fake)), set_aliyun_mode, fake, face=False)
        return
    if request.param == "tencent":
        fake = request.getfixturevalue("tencent")

        def set_fake_mode(mode):
            fake.mode = mode

        yield Handle("tencent", build_providers(provider_config(fake)), set_fake_mode, fake,
                     finish_face=fake.finish_face, loopback=True)
        return
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        vendor = FakeVendor(rsps)
        config = {"SANDBOX": False, "IDENTITY_PROVIDER": "http", "SMS_PROVIDER": "http", "FACE_PROVIDER": "http", **CONFIG}

        def set_mode(mode):
            vendor.mode = mode

        yield Handle("http", build_providers(config), set_mode, vendor)

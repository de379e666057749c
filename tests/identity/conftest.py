"""Fixtures: every provider implementation behind one handle, so one contract suite runs on all."""
from __future__ import annotations

import io

import pytest
import responses
from PIL import Image

from erhc_h5.identity import get_providers, set_providers
from erhc_h5.identity.factory import build_providers
from tests.identity.fake_upstream import CONFIG, FakeVendor
from tests.identity.aliyun_fake import SCRIPT_META_INFO, FakeAliyun
from tests.identity.aliyun_fake import provider_config as aliyun_config
from tests.identity.tencent_fake import FakeTencent, provider_config


def png(width: int = 96, height: int = 96) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 160, 140)).save(out, "PNG")
    return out.getvalue()


class Handle:
    """Providers plus a switch that makes the upstream time out or fail, and the resident's face step:
    a photo the page captures, or (redirect providers) finishing the vendor's own page."""

    def __init__(self, kind, providers, set_mode, vendor=None, finish_face=None, loopback=False, device_info=""):
        self.kind, self.providers, self.set_mode, self.vendor = kind, providers, set_mode, vendor
        self.loopback = loopback  # the vendor is a plain-http fake on 127.0.0.1
        self.captures = finish_face is None
        self.finish_face = finish_face or (lambda token: providers.face.verify_image(token, png()))
        self.device_info = device_info  # what the face page's vendor script would have posted

    def start_face(self, name: str, idcode: str, return_url: str = "https://h5.test/r"):
        return self.providers.face.start(name, "01", idcode, return_url, device_info=self.device_info)


@pytest.fixture(scope="session")
def tencent_fake():
    fake = FakeTencent().start()
    yield fake
    fake.stop()


def _reset(fake):
    fake.reset()
    yield fake
    fake.release.set()
    fake.mode = "normal"


@pytest.fixture
def tencent(tencent_fake):
    """The fake, reset for one test."""
    yield from _reset(tencent_fake)


@pytest.fixture(scope="session")
def aliyun_fake():
    fake = FakeAliyun().start()
    yield fake
    fake.stop()


@pytest.fixture
def aliyun(aliyun_fake):
    """The fake, reset for one test."""
    yield from _reset(aliyun_fake)


@pytest.fixture(params=["sandbox", "http", "tencent", "aliyun"])
def impl(request, app):
    if request.param == "sandbox":
        set_providers(app, None)

        def set_mode(mode):
            app.config["SANDBOX_PROVIDER_MODE"] = mode

        yield Handle("sandbox", get_providers(app), set_mode)
        return
    if request.param in ("aliyun", "tencent"):
        fake = request.getfixturevalue(request.param)
        config = (aliyun_config if request.param == "aliyun" else provider_config)(fake)

        def set_fake_mode(mode):
            fake.mode = mode

        yield Handle(request.param, build_providers(config), set_fake_mode, fake, finish_face=fake.finish_face,
                     loopback=True, device_info=SCRIPT_META_INFO if request.param == "aliyun" else "")
        return
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        vendor = FakeVendor(rsps)
        config = {"SANDBOX": False, "IDENTITY_PROVIDER": "http", "SMS_PROVIDER": "http", "FACE_PROVIDER": "http", **CONFIG}

        def set_mode(mode):
            vendor.mode = mode

        yield Handle("http", build_providers(config), set_mode, vendor)

"""Fixtures: every provider implementation behind one handle, so one contract suite runs on all."""
from __future__ import annotations

import io

import pytest
import responses
from PIL import Image

from erhc_h5.identity import get_providers, set_providers
from erhc_h5.identity.factory import build_providers
from tests.identity.fake_upstream import CONFIG, FakeVendor


def png(width: int = 96, height: int = 96) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 160, 140)).save(out, "PNG")
    return out.getvalue()


class Handle:
    """Providers plus a switch that makes the upstream time out or fail."""

    def __init__(self, kind, providers, set_mode, vendor=None):
        self.kind, self.providers, self.set_mode, self.vendor = kind, providers, set_mode, vendor


@pytest.fixture(params=["sandbox", "http"])
def impl(request, app):
    if request.param == "sandbox":
        set_providers(app, None)

        def set_mode(mode):
            app.config["SANDBOX_PROVIDER_MODE"] = mode

        yield Handle("sandbox", get_providers(app), set_mode)
        return
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        vendor = FakeVendor(rsps)
        config = {"SANDBOX": False, "IDENTITY_PROVIDER": "http", "SMS_PROVIDER": "http", "FACE_PROVIDER": "http", **CONFIG}

        def set_mode(mode):
            vendor.mode = mode

        yield Handle("http", build_providers(config), set_mode, vendor)

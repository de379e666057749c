"""Rendering: the fast layout equals the qrcode package's symbol, and a real decoder reads every code."""
from __future__ import annotations

import io
import random
import string

import pytest
import qrcode
import zxingcpp
from PIL import Image
from qrcode.constants import ERROR_CORRECT_M

from erhc_h5.code import render

ALPHABET = string.ascii_letters + string.digits + "-_"


def _token(rng: random.Random) -> str:
    parts = ["EHC1", "".join(rng.choices(string.ascii_lowercase, k=4)), "".join(rng.choices(ALPHABET[:62], k=10)),
             "ufz9k0", "ufz9l0", "".join(rng.choices(ALPHABET[:62], k=8)), "".join(rng.choices(ALPHABET, k=43))]
    return ".".join(parts)


def test_matrix_matches_reference_encoder():
    rng = random.Random(1)
    for _ in range(20):
        text = _token(rng)
        ref = qrcode.QRCode(version=render.VERSION, error_correction=ERROR_CORRECT_M, mask_pattern=render.MASK, border=0)
        ref.add_data(text.encode(), optimize=0)
        ref.make(fit=False)
        assert render.matrix(text) == [[bool(m) for m in row] for row in ref.modules]


@pytest.mark.slow
def test_zxing_decodes_every_one_of_1200_codes():
    rng = random.Random(2026)
    failures = []
    for i in range(1200):
        text = _token(rng) if i % 3 else "".join(rng.choices(ALPHABET + ".", k=rng.randint(1, 100)))
        img = Image.open(io.BytesIO(render.png(render.matrix(text), scale=3)))
        found = zxingcpp.read_barcodes(img, formats=zxingcpp.BarcodeFormat.QRCode)
        if len(found) != 1 or found[0].text != text:
            failures.append(text)
    assert failures == []


def test_png_geometry_and_svg():
    text = "EHC1.test"
    modules = render.matrix(text)
    assert len(modules) == 41  # version 6
    img = Image.open(io.BytesIO(render.png(modules, scale=5)))
    assert img.size == ((41 + 8) * 5,) * 2 and img.mode == "1"
    assert img.getpixel((0, 0)) == 255 and img.getpixel((4 * 5, 4 * 5)) == 0  # quiet zone white, finder dark
    svg = render.svg(modules)
    assert svg.startswith("<svg") and 'viewBox="0 0 49 49"' in svg and "<script" not in svg


def test_too_long_text_is_refused():
    import pytest

    with pytest.raises(ValueError):
        render.matrix("x" * 107)


def test_a_code_face_with_a_false_linear_reading_reads_as_one_qr_code():
    """This code face, read by zxing-cpp with every format, also yields an ITF barcode '3231' found
    among the QR modules (CI failed on it); the QR-only reading the tests share finds the code alone."""
    from tests.support import qr_texts

    text = "EHC1.ZElfnM6c2tn.xPJCCxO-LiKa0TbEpmIjtp.eToInJcsl-U7vjKJagmxZQbM1LBXOlbJcwp5sV2PRztFmoNS5L1nF9jREUw9"
    face = render.png(render.matrix(text), scale=8)
    every_format = zxingcpp.read_barcodes(Image.open(io.BytesIO(face)))
    assert sorted(str(f.format) for f in every_format) == ["ITF", "QR Code"]
    assert qr_texts(face) == [text]

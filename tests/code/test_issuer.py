"""The code names its issuer (SPEC "Code text"): EHC2.<cd_source>.…, printable ASCII, ≤ 100
characters, QR version ≤ 7 at ECC M; another city's codes are refused; EHC1 codes keep scanning
until they expire."""
from __future__ import annotations

import re
import time

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from erhc_h5.code import render, service, tokens
from erhc_h5.code.models import CodeSigningKey
from tests.code.helpers import code_text, post_scan
from tests.factories import make_card
from tests.support import qr_texts

CJK = re.compile(r"[\u4e00-\u9fff]")


def _smallest_version_at_m(text: str) -> int:
    """The smallest QR version holding ``text`` at ECC M, by the qrcode package's own fitting."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    qr.add_data(text.encode("ascii"), optimize=0)
    qr.make(fit=True)
    return qr.version


def _read(text: str) -> tuple[list[str], dict]:
    import io

    import zxingcpp
    from PIL import Image

    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(render.png(render.matrix(text), scale=4))),
                                   formats=zxingcpp.BarcodeFormat.QRCode)
    return [f.text for f in found], (found[0].extra if found else {})


def test_a_new_code_names_the_city_and_fits_a_version_7_symbol(app, db_session, seeded):
    card, _, _ = make_card(db_session, seeded, methods="2")
    face = service.fresh_code(db_session, card)
    [text] = qr_texts(face.src)  # read back from the resident's code face by a real decoder
    fields = text.split(".")
    assert fields[0] == "EHC2" and fields[1] == app.config["CD_SOURCE"] and re.fullmatch(r"\d{4}", fields[1])
    assert len(fields) == 8 and len(text) <= 100 and all(0x21 <= ord(c) <= 0x7E for c in text)
    assert _smallest_version_at_m(text) <= 7
    texts, extra = _read(text)
    assert texts == [text] and int(extra["Version"]) <= 7 and extra["ECLevel"] == "M"
    assert tokens.verify(db_session, text).kid == fields[2]


def test_the_longest_code_text_still_fits(app):
    """Every field at its longest (times of 8 base-36 digits, the furthest the text allows)."""
    longest = "EHC2.9999.zzzz.ZZZZZZZZZZ.zzzzzzzz.zzzzzzzz.ZZZZZZZZ." + "A" * 43
    assert tokens.TOKEN_RE.fullmatch(longest) and len(longest) <= 100
    assert _smallest_version_at_m(longest) <= 7
    texts, extra = _read(longest)
    assert texts == [longest] and int(extra["Version"]) <= 7


def test_a_code_of_another_city_is_refused_as_foreign_issuer(app, client, db_session, seeded):
    card, _, _ = make_card(db_session, seeded, methods="2")
    ours = tokens.issue(db_session, card.id).text
    db_session.commit()
    key = db_session.get(CodeSigningKey, ours.split(".")[2])
    now = int(time.time())
    other_city = "3302" if app.config["CD_SOURCE"] != "3302" else "3303"
    # Even signed with one of our keys, a code naming another city is not ours to verify.
    forged = code_text(key.secret, key.kid, ours.split(".")[3], now, now + 60, issuer=other_city)
    r = post_scan(client, seeded["device_token"], forged)
    assert r.status_code == 422 and r.json["error"] == "foreign_issuer" and CJK.search(r.json["message"])
    app.config["CD_SOURCE"] = other_city  # the same code read by another city's platform
    try:
        r = post_scan(client, seeded["device_token"], ours)
    finally:
        app.config["CD_SOURCE"] = ours.split(".")[1]
    assert r.status_code == 422 and r.json["error"] == "foreign_issuer"
    assert post_scan(client, seeded["device_token"], ours).json["result"] == "authenticated"


def test_an_ehc1_code_already_shown_keeps_scanning_until_it_expires(app, client, db_session, seeded):
    """An EHC1 code made as codes were made before the issuer was named."""
    card, _, _ = make_card(db_session, seeded, methods="2")
    current = tokens.issue(db_session, card.id).text
    db_session.commit()
    kid, ref = current.split(".")[2], current.split(".")[3]
    key = db_session.get(CodeSigningKey, kid)
    ttl, skew = app.config["CODE_TTL_SECONDS"], app.config["CODE_CLOCK_SKEW_SECONDS"]
    now = int(time.time())
    shown = code_text(key.secret, kid, ref, now, now + ttl, issuer=None)
    assert re.fullmatch(r"EHC1\.[a-z0-9]{4}\.[A-Za-z0-9]{10}\.[0-9a-z]+\.[0-9a-z]+\.[A-Za-z0-9]{8}\.[A-Za-z0-9_-]{43}", shown)
    r = post_scan(client, seeded["device_token"], shown)
    assert r.status_code == 200 and r.json["result"] == "authenticated"
    stale = code_text(key.secret, kid, ref, now - ttl - skew - 1, now - skew - 1, issuer=None)
    r = post_scan(client, seeded["device_token"], stale)
    assert r.status_code == 422 and r.json["error"] == "expired"

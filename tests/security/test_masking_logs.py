"""Masking helpers (property-based) and the log filter that masks ID-number and mobile shapes."""
from __future__ import annotations

import io
import json
import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from erhc_h5.logs import JsonFormatter, log_event
from erhc_h5.security.logfilter import PiiRedactingFilter, redact
from erhc_h5.security.masking import mask_address, mask_idcode, mask_name, mask_phone
from tests.factories import resident_id

ID_BODIES = st.from_regex(r"\A[1-8]\d{5}(19[5-9]\d|20[01]\d)(0[1-9]|1[0-2])(0[1-9]|1\d|2[0-8])\d{3}\Z")
MOBILES = st.from_regex(r"\A1[3-9]\d{9}\Z")
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


@given(ID_BODIES)
def test_mask_idcode_hides_birth_date_and_sequence(body):
    from tests.factories import check_character

    idcode = body + check_character(body)
    masked = mask_idcode(idcode)
    assert len(masked) == 18 and masked[:4] == idcode[:4] and masked[-4:] == idcode[-4:]
    assert set(masked[4:14]) == {"*"}
    assert redact(f"id={idcode};") == f"id={masked};"


@given(st.text(min_size=0, max_size=40))
def test_mask_idcode_never_reveals_more_than_eight_characters(value):
    masked = mask_idcode(value)
    assert len(masked) == len(value)
    assert sum(1 for a, b in zip(value, masked) if a == b and b != "*") <= min(8, max(len(value) - 1, 0)) or not value


@given(MOBILES)
def test_mask_phone_keeps_three_and_four(phone):
    masked = mask_phone(phone)
    assert masked == phone[:3] + "****" + phone[-4:]
    assert redact(f"电话{phone}。") == f"电话{masked}。"


@given(st.text(CJK, min_size=1, max_size=20))
def test_mask_name_keeps_at_most_first_and_last(name):
    masked = mask_name(name)
    assert len(masked) == len(name)
    if len(name) >= 2:
        assert masked[0] == name[0] and set(masked[1:-1] or "*") == {"*"}
        assert masked[-1] == ("*" if len(name) == 2 else name[-1])
    else:
        assert masked == "*"


@given(st.text(CJK, min_size=7, max_size=60))
def test_mask_address_keeps_six(address):
    assert mask_address(address) == address[:6] + "****"


@settings(max_examples=200)
@given(st.text(st.sampled_from("0123456789abcdefABCDEF-: "), max_size=80))
def test_redact_only_touches_pii_shapes(text):
    out = redact(text)
    assert len(out) == len(text)
    for i, (a, b) in enumerate(zip(text, out)):
        if a != b:
            assert b == "*" and a.isdigit()


def test_redact_leaves_ids_that_are_not_pii_alone():
    card_no = "A1B2" + "3" * 56 + "FFFF"
    for text in (card_no, "request 0123456789abcdef", "ts 1700000000123 ms", "batch 3301202611251200001"):
        assert redact(text) == text


def _capture():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("erhc")
    logger.addHandler(handler)
    return stream, handler


def test_filter_masks_message_args_event_fields_and_traces(app, caplog):
    idcode, phone = resident_id("330106", "19900307", 123), "13812345678"
    stream, handler = _capture()
    try:
        with caplog.at_level(logging.INFO, logger="erhc"):
            log_event("resident_verified", note=f"证件 {idcode}", nested={"phones": [phone, "x"]}, count=3)
            logging.getLogger("erhc").info("resident %s phone %s", idcode, phone)
            logging.getLogger("erhc.sync").warning("child logger %s", phone)
            try:
                raise ValueError(f"bad {idcode}")
            except ValueError:
                logging.getLogger("erhc").exception("failed")
    finally:
        logging.getLogger("erhc").removeHandler(handler)
    out = stream.getvalue()
    captured = caplog.text + out + json.dumps([r.__dict__.get("event") for r in caplog.records], ensure_ascii=False, default=str)
    assert idcode not in captured and phone not in captured
    assert mask_idcode(idcode) in out and mask_phone(phone) in out
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["event"] == "resident_verified" and lines[0]["count"] == 3
    assert lines[0]["nested"] == {"phones": [mask_phone(phone), "x"]}
    assert any(r.exc_text and mask_idcode(idcode) in r.exc_text for r in caplog.records)


def test_filter_is_installed_once_on_the_event_logger(app):
    from erhc_h5 import create_app

    create_app(dict(app.config))
    logger = logging.getLogger("erhc")
    assert sum(isinstance(f, PiiRedactingFilter) for f in logger.filters) == 1
    handlers = [h for h in logger.handlers if isinstance(h.formatter, JsonFormatter)]
    assert len(handlers) == 1 and sum(isinstance(f, PiiRedactingFilter) for f in handlers[0].filters) == 1


def test_request_id_accepts_only_short_ascii(client):
    assert client.get("/healthz", headers={"X-Request-Id": "abc123"}).headers["X-Request-Id"] == "abc123"
    for bad in ("张三丰", "330106199003071236" * 2, "a b", "x;y", resident_id("330106", "19900307", 123), "13812345678"):
        rid = client.get("/healthz", headers={"X-Request-Id": bad}).headers["X-Request-Id"]
        assert rid != bad and len(rid) == 16 and rid.isalnum()

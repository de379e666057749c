"""Digits from outside are ASCII digits: str.isdigit() also takes superscripts and other scripts'
digits, which int() refuses (a 500) or reads as another number."""
from __future__ import annotations

import pytest

from erhc_h5.records.idnumbers import IdNumberError, check_idcode
from erhc_h5.security.masking import mask_account
from erhc_h5.text import ascii_digits


@pytest.mark.parametrize("value", ["0", "0123456789", "330106"])
def test_ascii_digits_are_digits(value):
    assert ascii_digits(value)


@pytest.mark.parametrize("value", ["", "²", "12³", "١٢٣", "１２３", "一二三", "12a", " 12", "-1", "1.0"])
def test_anything_else_is_not(value):
    assert not ascii_digits(value)


def test_the_audit_log_page_number_is_not_a_500(app, client, seeded):
    client.post("/staff/login", data=seeded["users"]["admin"])
    for page in ("²", "١", "１"):
        assert client.get("/staff/admin/audit", query_string={"page": page}).status_code == 200


def test_a_fifteen_digit_number_in_other_digits_is_refused():
    with pytest.raises(IdNumberError):
        check_idcode("01", "３３０１０６８００１０１００１")  # full-width, as a phone keyboard may type


def test_an_account_in_other_digits_is_not_masked_as_a_phone():
    assert mask_account("13800138000") == "138****8000"
    assert mask_account("１３８００１３８０００") == "１３******００"

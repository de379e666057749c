"""Number fields refuse numbers of any size with a message: a 400-digit integer used to overflow the
float conversion of WTForms' own NumberRange and answer 500."""
from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict
from wtforms import FloatField, Form, IntegerField
from wtforms.validators import Optional

from erhc_h5.security.inputs import InRange


class Numbers(Form):
    count = IntegerField(validators=[Optional(), InRange(1, 100000)])
    rate = FloatField(validators=[Optional(), InRange(0, 1)])


@pytest.mark.parametrize("count, ok", [("1", True), ("100000", True), ("0", False), ("100001", False),
                                        ("2" * 400, False), ("-" + "9" * 400, False), ("", True)])
def test_integers_of_any_size(count, ok):
    form = Numbers(MultiDict({"count": count}))
    assert form.validate() is ok
    if not ok:
        assert form.count.errors == ["请输入 1 至 100000 之间的数"]


@pytest.mark.parametrize("rate, ok", [("0.5", True), ("1", True), ("nan", False), ("inf", False), ("1e400", False),
                                       ("-0.1", False)])
def test_floats_including_nan_and_infinity(rate, ok):
    assert Numbers(MultiDict({"rate": rate})).validate() is ok


def test_the_sandbox_provinces_fault_form_answers_a_huge_number_with_a_message(app, client):
    reply = client.post("/sandbox-province/faults", data={"count": "2" * 400})
    assert reply.status_code < 500

"""The real-name method codes as a type: each value is one the data standard lists, under its name."""
from __future__ import annotations

import re

from sqlalchemy import inspect

from erhc_h5.db import get_db
from erhc_h5.records.codes import AUTH_METHODS, FACE_THEN_ONSITE, AuthMethod, has_method, joined_methods, method_label

# The source's §5.2.2 row for authentication_method, verbatim (000_8614c0e2e99b103c.txt, line 79).
SOURCE_ROW = ("如已经实名认证,认证方式必传 1、二要素认证(姓名+身份证号) 2、三要素认证(姓名+身份证号 +手机号) "
              "3、面部识别 4、现场认证 认证方式可多种同时存在,例如 二要素+面部识别+现场;多要素 认证以^分隔,"
              "例如,三要素认证+面部识别,则 2^3")


def source_codes() -> dict[str, str]:
    """Code -> name as the source lists them (the name without its parenthesised detail)."""
    return {code: name for code, name in re.findall(r"([1-9])、([^\s(]+)", SOURCE_ROW)}


def test_the_source_row_lists_four_methods():
    assert source_codes() == {"1": "二要素认证", "2": "三要素认证", "3": "面部识别", "4": "现场认证"}


def test_every_method_is_a_code_of_the_standard_under_its_name():
    assert [m.value for m in AuthMethod] == list(source_codes())
    assert {str(k): v for k, v in AUTH_METHODS.items()} == source_codes()
    assert all(isinstance(m, str) and str(m) == m.value for m in AuthMethod)


def test_joined_methods_follow_the_sources_example():
    assert joined_methods(AuthMethod.THREE_FACTOR, AuthMethod.FACE) == "2^3"
    assert FACE_THEN_ONSITE == "3^4" and type(FACE_THEN_ONSITE) is str
    assert method_label(joined_methods(AuthMethod.THREE_FACTOR, AuthMethod.FACE)) == "三要素认证+面部识别"
    assert has_method("3^4", AuthMethod.ONSITE) and not has_method("3^4", AuthMethod.TWO_FACTOR)
    assert not has_method(None, AuthMethod.FACE) and not has_method("", AuthMethod.FACE)


def test_every_method_set_fits_the_migrated_columns(app):
    """AN12 in the standard; the Alembic-migrated columns that store a method set hold all four joined."""
    columns = inspect(get_db(app).engine)
    everything = joined_methods(*AuthMethod)
    for table, column in (("ehealth_cards", "authentication_method"), ("verification_sessions", "method")):
        length = next(c["type"].length for c in columns.get_columns(table) if c["name"] == column)
        assert len(everything) <= length <= 12, (table, column)

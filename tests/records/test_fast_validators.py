"""The precompiled validators against the rules as written, edge case by edge case.

Every expected reason below is written out by hand from the standard's text and from what the
strptime-based checks answered before the change (noted where the answer changed on purpose);
none is obtained by calling the code under test a second way.
"""
from __future__ import annotations

import datetime as dt

import pytest

from erhc_h5.records.standard import validate_field, validate_record
from tests.records.test_standard import valid_record


def reasons(field: str, value) -> list[str]:
    return [v.reason for v in validate_field(field, value)]


@pytest.mark.parametrize("value, expected", [
    ("2026-11-28 12:00:00", []),
    ("2024-02-29 00:00:00", []),            # leap day
    ("2000-02-29 23:59:59", []),            # divisible by 400: leap
    ("2023-02-29 00:00:00", ["bad_date"]),  # not a leap year
    ("1900-02-29 00:00:00", ["bad_date"]),  # divisible by 100, not 400
    ("2023-02-30 10:00:00", ["bad_date"]),
    ("2023-04-31 10:00:00", ["bad_date"]),
    ("2026-13-01 00:00:00", ["bad_date"]),
    ("2026-00-10 00:00:00", ["bad_date"]),
    ("2026-11-00 00:00:00", ["bad_date"]),
    ("0000-01-01 00:00:00", ["bad_date"]),  # year 0 does not exist
    ("2026-11-28 24:00:00", ["bad_date"]),
    ("2026-11-28 23:60:00", ["bad_date"]),
    ("2026-11-28 23:59:60", ["bad_date"]),  # strptime reads 60 but no datetime has it: refused before too
    ("2026-11-28T12:00:00", ["bad_format"]),
    ("20261128120000", ["bad_format"]),     # the compact DT14 form is not the wire form
    ("2026-11-28 12:00", ["bad_format"]),
    ("2026-1-28 12:00:00", ["bad_format"]),
    ("2026-11-28 12:00:00 ", ["too_long"]),  # 20 characters > 19
    ("", ["required"]),
    ("   ", ["required"]),
    (None, ["required"]),
    (20261128, ["bad_type"]),
    # Arabic-Indic digits in the year: strptime's %Y took them (accepted before); now refused,
    # the standard's digits are 0-9 (a deliberate tightening).
    ("\u0662\u0660\u0662\u0666-11-28 12:00:00", ["bad_format"]),
    ("2026-\u0661\u0661-28 12:00:00", ["bad_format"]),  # refused before as bad_date, now bad_format
])
def test_cd_time(value, expected):
    assert reasons("cd_time", value) == expected


@pytest.mark.parametrize("value, expected", [
    ("3301202611281200001", []),
    ("3301202402291200999", []),            # leap day
    ("3301202302291200001", ["bad_date"]),
    ("3301202302301200001", ["bad_date"]),  # 20230230
    ("3301202313011200001", ["bad_date"]),  # month 13
    ("3301202611002300001", ["bad_date"]),  # day 00
    ("3301202611282400001", ["bad_date"]),  # hour 24
    ("3301202611282360001", ["bad_date"]),  # minute 60
    ("330120261128120001", ["bad_format"]),  # 18 characters
    ("33012026112812000011", ["bad_format"]),  # 20 characters: the length allows it, the layout not
    ("330120261128120000011", ["too_long"]),   # 21 characters
    ("3301-20261128-12001", ["bad_format"]),
    ("\u0663301202611281200001", ["bad_format"]),  # accepted before (\d took the Arabic-Indic 3); now refused
    ("", ["required"]),
])
def test_cd_batch(value, expected):
    assert reasons("cd_batch", value) == expected


def test_birthday_edges():
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    assert reasons("birthday", "2024-02-29") == []
    assert reasons("birthday", "2023-02-29") == ["bad_date"]
    assert reasons("birthday", "2023-02-30") == ["bad_date"]
    assert reasons("birthday", "20230230") == ["bad_format"]
    assert reasons("birthday", "1880-01-01") == []
    assert reasons("birthday", "1879-12-31") == ["out_of_range"]
    assert reasons("birthday", dt.date.today().isoformat()) == []
    assert reasons("birthday", tomorrow) == ["out_of_range"]
    assert reasons("birthday", "") == ["required"]
    assert reasons("birthday", "2023-02-30-") == ["too_long"]  # 11 > 10 characters


def test_empty_and_overlong_fields():
    assert reasons("address", "") == [] and reasons("address", None) == [] and reasons("address", "  ") == []
    assert reasons("address", "路" * 200) == []
    assert reasons("address", "路" * 201) == ["too_long"]
    assert reasons("name", "") == ["required"] and reasons("name", "\u3000") == ["required"]
    assert reasons("name", "张" * 20) == [] and reasons("name", "张" * 21) == ["too_long"]
    assert reasons("phone", "138001380001") == ["bad_length"]  # the phone's own rule speaks, not too_long
    assert reasons("authentication_method", "") == []  # required, but checked across fields
    [violation] = validate_field("name", "张" * 21)
    assert violation.message == "姓名不能超过20个字符"


@pytest.mark.parametrize("value, expected", [
    ("张三", []), ("艾力·买买提", []), ("〇三", []), ("JOHN F. KENNEDY", []),
    ("张三1", ["bad_characters"]), ("·张三", ["bad_characters"]), ("张三·", ["bad_characters"]),
    ("张··三", ["bad_characters"]), ("张\u200b三", ["bad_characters"]), ("张 三", []),
])
def test_names(value, expected):
    assert reasons("name", value) == expected


def test_chinese_document_names():
    assert [v.reason for v in validate_record(valid_record(name="张 三"))] == ["bad_characters"]
    assert [v.reason for v in validate_record(valid_record(name="艾力·买买提"))] == []
    assert [v.reason for v in validate_record(valid_record(name="ZHANG SAN"))] == []


def test_remembered_values_answer_the_same_and_cannot_be_changed_by_a_caller():
    first = validate_field("cd_time", "2023-02-30 10:00:00")
    first.append("caller's own list")
    again = validate_field("cd_time", "2023-02-30 10:00:00")
    assert [v.reason for v in again] == ["bad_date"]
    assert again[0].message == "插入时间2023-02-30 10:00:00不存在"
    for _ in range(3):
        assert validate_field("sex", "1") == [] and [v.reason for v in validate_field("sex", "7")] == ["bad_code"]
    # Values that are not text are never remembered (a list is not hashable; True is not 1).
    assert reasons("cd_batch", ["3301202611281200001"]) == ["bad_type"]
    assert reasons("recognize_flag", True) == ["bad_value"] and reasons("recognize_flag", 1) == []


def test_many_distinct_values_keep_memory_bounded():
    from erhc_h5.records import standard

    for minute in range(5000):
        stamp = f"2026-11-28 {minute // 60 % 24:02d}:{minute % 60:02d}:{minute % 7:02d}"
        validate_field("cd_time", stamp)
    assert len(standard._PLAN["cd_time"][2]) <= standard._MEMO_MAX


def test_whole_record_order_and_cross_checks():
    record = valid_record(cd_time="2023-02-30 10:00:00", cd_batch="3302202611251000001", sex="2", extra="x")
    assert [(v.field, v.reason) for v in validate_record(record)] == [
        ("cd_time", "bad_date"), ("extra", "unknown_field"), ("sex", "sex_mismatch"),
        ("cd_batch", "source_mismatch"),
    ]

"""The 5.2.2 data standard: every rule with a passing and a failing example, plus properties."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erhc_h5.records import codes
from erhc_h5.records.idnumbers import IdNumberError, check_idcode, parse_resident_id
from tests.factories import check_character
from erhc_h5.records.standard import (
    FIELD_BY_NAME,
    FIELD_NAMES,
    FIELDS,
    canonical_methods,
    normalize_record,
    validate_field,
    validate_record,
)


def with_check(first17: str) -> str:
    return first17 + check_character(first17)


VALID_ID = with_check("33010619900307123")  # male, 1990-03-07, 西湖区


def valid_record(**changes) -> dict:
    record = {
        "id": "0123456789abcdef0123456789abcdef",
        "erhc_card_no": "A" * 64,
        "empi": "B" * 64,
        "name": "张三丰",
        "sex": "1",
        "nation": "01",
        "nationality": "CHN",
        "birthday": "1990-03-07",
        "address": "浙江省杭州市西湖区某路1号",
        "id_card_type_code": "01",
        "idcode": VALID_ID,
        "phone": "13812345678",
        "linkman": None,
        "telephone": None,
        "birthplace": None,
        "county_code": "330106",
        "current_address": None,
        "authentication_method": "2^3",
        "app_record_no": "330100DEMO0001",
        "app_record_no_recognize": "DEMO-APP-0001",
        "recognize_flag": 1,
        "cd_time": "2026-11-25 10:00:00",
        "cd_source": "3301",
        "cd_batch": "3301202611251000001",
        "cd_operation": "i",
    }
    record.update(changes)
    return record


def reasons(violations) -> set[tuple[str, str]]:
    return {(v.field, v.reason) for v in violations}


def test_field_table_is_the_standard():
    assert len(FIELDS) == 25
    assert FIELD_NAMES[0] == "id" and FIELD_NAMES[-1] == "cd_operation"
    required = {f.name for f in FIELDS if f.required}
    assert {"nationality", "address", "linkman", "telephone", "birthplace", "county_code",
            "current_address"}.isdisjoint(required)
    assert FIELD_BY_NAME["phone"].length == "N11" and FIELD_BY_NAME["recognize_flag"].type == "N"
    assert FIELD_BY_NAME["cd_batch"].max_len == 20


def test_code_tables():
    assert len(codes.NATIONS) == 58
    assert codes.NATIONS["01"] == "汉族" and codes.NATIONS["56"] == "基诺族" and codes.NATIONS["98"]
    assert set(codes.SEX) == {"0", "1", "2", "9"}
    assert set(codes.ID_CARD_TYPES) == {"01", "02", "03", "04", "05", "06", "07", "99"}
    assert codes.is_nationality("CHN") and codes.is_nationality("156") and not codes.is_nationality("XXX")
    assert codes.division_name("330106") and codes.division_name("999999") is None


def test_valid_record_passes():
    assert validate_record(valid_record()) == []


# (field, good value, bad value, expected reason) — one passing and one failing example per rule.
RULES = [
    ("id", "0123456789ABCDEF0123456789abcdef", "not-a-guid", "bad_format"),
    ("id", "0123456789abcdef0123456789abcdef", None, "required"),
    ("erhc_card_no", "C" * 128, "C" * 129, "too_long"),
    ("erhc_card_no", "ABC123", "ABC-123", "bad_format"),
    ("empi", "E" * 64, "", "required"),
    ("name", "阿依古丽·买买提", "张三1", "bad_characters"),
    ("name", "John Smith", "a" * 21, "too_long"),
    ("name", "王" * 20, "张\x00三", "bad_characters"),
    ("sex", "1", "3", "bad_code"),
    ("nation", "56", "57", "bad_code"),
    ("nation", "98", "1", "bad_code"),
    ("nationality", "156", "ZZZ", "bad_code"),
    ("nationality", None, "CHNA", "too_long"),
    ("birthday", "1990-03-07", "1990/03/07", "bad_format"),
    ("address", "地" * 200, "地" * 201, "too_long"),
    ("id_card_type_code", "01", "08", "bad_code"),
    ("phone", "13812345678", "1381234567", "bad_length"),
    ("phone", "19912345678", "12812345678", "bad_format"),
    ("linkman", "李四", "李4", "bad_characters"),
    ("telephone", "0571-88888888", "call me", "bad_format"),
    ("birthplace", None, "北\x07京", "bad_characters"),
    ("county_code", "330106001", "33010", "bad_format"),
    ("county_code", "330106", "999999", "unknown_division"),
    ("authentication_method", "1^2^3^4", "1^1", "duplicate_method"),
    ("authentication_method", "4", "5", "bad_format"),
    ("authentication_method", "2^3", "2,3", "bad_format"),
    ("app_record_no", "X" * 20, "X" * 21, "too_long"),
    ("app_record_no_recognize", "浙ICP备2021000001号", None, "required"),
    ("recognize_flag", 0, "1", "bad_value"),
    ("recognize_flag", 1, 2, "bad_value"),
    ("recognize_flag", 1, True, "bad_value"),
    ("cd_time", "2026-11-25 23:59:59", "2026-11-25T10:00:00", "bad_format"),
    ("cd_time", "2026-02-28 10:00:00", "2026-02-30 10:00:00", "bad_date"),
    ("cd_source", "3301", "33011", "bad_format"),
    ("cd_batch", "3301202611251000999", "33012026112510000001", "bad_format"),
    ("cd_operation", "d", "x", "bad_code"),
]


@pytest.mark.parametrize("field,good,bad,reason", RULES)
def test_rule_pass_and_fail(field, good, bad, reason):
    # Cross-field rules keep their own tests; here the rest of the record stays consistent.
    extra = {}
    if field == "birthday":
        extra = {"id_card_type_code": "03", "idcode": "E12345678"}
    assert validate_record(valid_record(**{field: good}, **extra)) == [], field
    violations = validate_record(valid_record(**{field: bad}, **extra))
    assert (field, reason) in reasons(violations)
    for v in violations:
        assert v.message and any("\u4e00" <= ch <= "\u9fff" for ch in v.message)


def test_issue_examples():
    """Examples of each hard rule: wrong check character, impossible date, short phone, bad codes, long name."""
    wrong_check = VALID_ID[:-1] + ("0" if VALID_ID[-1] != "0" else "1")
    feb30 = with_check("33010619990230123")
    cases = [
        ({"idcode": wrong_check}, ("idcode", "bad_checksum")),
        ({"idcode": feb30, "birthday": "1999-02-28"}, ("idcode", "bad_birth_date")),
        ({"phone": "1381234567"}, ("phone", "bad_length")),
        ({"sex": "3"}, ("sex", "bad_code")),
        ({"nation": "57"}, ("nation", "bad_code")),
        ({"authentication_method": "1^1"}, ("authentication_method", "duplicate_method")),
        ({"authentication_method": "5"}, ("authentication_method", "bad_format")),
        ({"name": "张" * 21}, ("name", "too_long")),
    ]
    for change, expected in cases:
        violations = validate_record(valid_record(**change))
        assert expected in reasons(violations), (change, violations)
        hit = [v for v in violations if (v.field, v.reason) == expected][0]
        assert hit.as_dict() == {"field": expected[0], "reason": expected[1], "message": hit.message}


def test_birthday_and_sex_must_match_resident_id():
    assert ("birthday", "birthday_mismatch") in reasons(validate_record(valid_record(birthday="1990-03-08")))
    assert ("sex", "sex_mismatch") in reasons(validate_record(valid_record(sex="2")))
    assert ("sex", "sex_mismatch") in reasons(validate_record(valid_record(sex="9")))


def test_method_required_only_when_authenticated():
    assert ("authentication_method", "required") in reasons(
        validate_record(valid_record(authentication_method=""))
    )
    assert validate_record(valid_record(authentication_method="", recognize_flag=0)) == []


def test_cd_batch_must_start_with_cd_source():
    assert ("cd_batch", "source_mismatch") in reasons(
        validate_record(valid_record(cd_batch="4401202611251000001"))
    )


def test_unknown_fields_are_reported():
    assert ("evil", "unknown_field") in reasons(validate_record({**valid_record(), "evil": "x"}))


def test_elderly_resident_with_abolished_division_is_not_refused():
    # 330102 (上城区 before 2021 merger) and an unknown code: only a warning, never a refusal.
    old = with_check("33010219400101002")
    parsed = parse_resident_id(old)
    assert parsed.birthday == dt.date(1940, 1, 1) and parsed.sex == "2"
    unknown = with_check("99999919400101003")
    parsed = parse_resident_id(unknown)
    assert parsed.warnings == ["unknown_division"] and not parsed.division_known
    assert validate_record(valid_record(idcode=unknown, birthday="1940-01-01", sex="1")) == []


def test_residence_permits_and_travel_permits():
    hk = with_check("81000019800101001")
    assert check_idcode("01", hk).is_permit
    assert check_idcode("06", hk).is_permit
    assert check_idcode("07", with_check("83000019800101002")).is_permit
    assert check_idcode("06", "H12345678") is None
    with pytest.raises(IdNumberError):
        check_idcode("06", "X12345678")
    assert check_idcode("07", "12345678") is None
    with pytest.raises(IdNumberError):
        check_idcode("03", "护照")


def test_fifteen_digit_and_future_ids_are_refused():
    with pytest.raises(IdNumberError) as info:
        parse_resident_id("330106900307123")
    assert info.value.reason == "obsolete_format"
    future = with_check(f"330106{dt.date.today().year + 1}0101123")
    with pytest.raises(IdNumberError) as info:
        parse_resident_id(future)
    assert info.value.reason == "bad_birth_date"


def test_normalize_record_cleans_typing():
    cleaned = normalize_record({"idcode": " ３３０１０６１９９００３０７１２３ｘ ", "name": " 阿依古丽・买买提 ",
                                "phone": "１３８１２３４５６７８", "nationality": "chn"})
    assert cleaned["idcode"] == "33010619900307123X"
    assert cleaned["name"] == "阿依古丽·买买提"
    assert cleaned["phone"] == "13812345678" and cleaned["nationality"] == "CHN"


def test_canonical_methods():
    assert canonical_methods("2", "3^4") == "2^3^4"
    assert canonical_methods("4^1", "1") == "1^4"
    assert canonical_methods("", "") == ""


# --- properties -----------------------------------------------------------------------------------

births = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date.today())
sequences = st.integers(min_value=0, max_value=999)


@settings(max_examples=200, deadline=None)
@given(births, sequences)
def test_any_well_formed_resident_id_is_accepted(birth, seq):
    number = with_check(f"330106{birth:%Y%m%d}{seq:03d}")
    parsed = parse_resident_id(number)
    assert parsed.birthday == birth
    assert parsed.sex == ("1" if seq % 2 else "2")
    record = valid_record(idcode=number, birthday=birth.isoformat(), sex=parsed.sex)
    assert validate_record(record) == []


@settings(max_examples=200, deadline=None)
@given(births, sequences, st.sampled_from("0123456789X"))
def test_any_wrong_check_character_is_refused(birth, seq, check):
    body = f"330106{birth:%Y%m%d}{seq:03d}"
    if check_character(body) == check:
        return
    with pytest.raises(IdNumberError) as info:
        parse_resident_id(body + check)
    assert info.value.reason == "bad_checksum"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FIELD_NAMES), st.one_of(st.none(), st.text(max_size=300), st.integers(), st.booleans(),
                                              st.lists(st.integers(), max_size=3)))
def test_validator_never_crashes_and_names_real_fields(field, value):
    violations = validate_field(field, value)
    for v in violations:
        assert v.field == field and v.reason and v.message


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("1234"), min_size=1, max_size=4, unique=True))
def test_method_syntax_property(parts):
    assert validate_field("authentication_method", "^".join(parts)) == []
    assert validate_field("authentication_method", "^".join(parts + parts[:1])) != []

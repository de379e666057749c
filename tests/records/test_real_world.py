"""Real residents' data, as people type it, against the data standard.

Expected values are written out from the published sources (GB 11643's specimen, python-stdnum's
doctest, the civil-affairs division list, GB/T 2659), never computed by the code under test.
"""
from __future__ import annotations

import pytest

from erhc_h5.records import codes
from erhc_h5.records.idnumbers import IdNumberError, parse_resident_id, person_key
from erhc_h5.records.standard import normalize_record, validate_field, validate_record
from tests.factories import resident_id

# Published GB 11643 numbers; X-ending ones included.
PUBLISHED_IDS = {
    "11010519491231002X": ("1949-12-31", "2"),  # GB 11643-1999 specimen (female, X check)
    "360426199101010071": ("1991-01-01", "1"),  # python-stdnum cn.ric doctest
    "440524188001010014": ("1880-01-01", "1"),
}


@pytest.mark.parametrize("number, expected", PUBLISHED_IDS.items())
def test_published_numbers_are_accepted_with_their_birthday_and_sex(number, expected):
    parsed = parse_resident_id(number)
    assert (parsed.birthday.isoformat(), parsed.sex) == expected


def test_lower_case_x_and_full_width_digits_are_the_same_number():
    assert parse_resident_id("11010519491231002x").number == "11010519491231002X"
    assert parse_resident_id("１１０１０５１９４９１２３１００２Ｘ").number == "11010519491231002X"


@pytest.mark.parametrize("number", ["11010519491231002", "110105194912310021", "110105194912310020"])
def test_wrong_check_characters_are_refused(number):
    with pytest.raises(IdNumberError):
        parse_resident_id(number)


def test_about_one_in_eleven_numbers_ends_in_x_and_all_are_accepted():
    numbers = [resident_id("330106", "19900307", seq) for seq in range(1000)]
    assert 60 < sum(n.endswith("X") for n in numbers) < 120
    for number in numbers:
        parse_resident_id(number)


def test_abolished_issuing_division_is_only_a_warning():
    # 330103 (下城区, merged into 拱墅区 in 2021): elderly residents still hold such numbers.
    assert parse_resident_id(resident_id("330103", "19400101", 11)).warnings == []  # known historically
    unknown = resident_id("339999", "19400101", 11)  # a code in no table at all
    assert parse_resident_id(unknown).warnings == ["unknown_division"]
    for number in (resident_id("330103", "19400101", 11), unknown):
        assert validate_record({"id_card_type_code": "01", "idcode": number}, fields=("id_card_type_code", "idcode")) == []


@pytest.mark.parametrize("county, name", [("330113", "临平区"), ("330114", "钱塘区"), ("330106", "西湖区")])
def test_current_hangzhou_districts_are_places_of_residence(county, name):
    assert name in codes.current_county(county)
    assert validate_field("county_code", county + "000") == []
    assert (county, name) in codes.counties_of("3301")


def test_an_abolished_district_is_not_a_place_of_residence():
    assert [v.reason for v in validate_field("county_code", "330103000")] == ["unknown_division"]


@pytest.mark.parametrize("typed, sent", [("330113", "330113000"), ("330113001", "330113001"),
                                         ("330113001002", "330113001"), ("３３０１１４", "330114000")])
def test_county_code_is_sent_in_the_nine_digit_form(typed, sent):
    assert normalize_record({"county_code": typed})["county_code"] == sent


@pytest.mark.parametrize("typed, kept", [
    ("艾力 · 买买提", "艾力·买买提"), ("艾力･买买提", "艾力·买买提"), ("艾力∙买买提", "艾力·买买提"),
    ("艾力⋅买买提", "艾力·买买提"), ("艾力.买买提", "艾力·买买提"), ("艾力・买买提", "艾力·买买提"),
    ("  张  三 ", "张 三"),
])
def test_minority_names_with_every_dot_variant(typed, kept):
    record = normalize_record({"name": typed, "id_card_type_code": "01"})
    assert record["name"] == kept
    if "·" in kept:
        assert validate_record(record, fields=("name",)) == []


@pytest.mark.parametrize("typed, kept", [
    ("JEAN-PIERRE DUPONT", "JEAN-PIERRE DUPONT"), ("O'BRIEN", "O'BRIEN"), ("O’BRIEN", "O'BRIEN"),
    ("José Müller", "José Müller"), ("Иван Петров", "Иван Петров"), ("ＪＯＨＮ ＳＭＩＴＨ", "JOHN SMITH"),
    ("JOHN F. KENNEDY", "JOHN F. KENNEDY"),
])
def test_foreign_names_on_passports(typed, kept):
    record = normalize_record({"name": typed, "id_card_type_code": "03"})
    assert record["name"] == kept
    assert validate_record({**record, "id_card_type_code": "03", "idcode": "E12345678", "nationality": "USA"},
                           fields=("name", "id_card_type_code", "idcode", "nationality")) == []


def test_cjk_extension_h_and_b_characters_are_name_characters():
    for name in ("\U00031350明", "𠀀华", "王\U0002ebf0"):  # Ext H, Ext B, Ext I
        assert validate_field("name", name) == []


@pytest.mark.parametrize("bad", ["张3", "张三!", "·张三", "张三·", "JOHN--SMITH"])
def test_names_that_are_not_names(bad):
    assert validate_field("name", normalize_record({"name": bad})["name"])


@pytest.mark.parametrize("typed", ["138 0013 8000", "138-0013-8000", "+8613800138000", "+86 138 0013 8000",
                                   "008613800138000", "１３８００１３８０００"])
def test_mobile_numbers_as_people_type_them(typed):
    record = normalize_record({"phone": typed})
    assert record["phone"] == "13800138000" and validate_field("phone", record["phone"]) == []


def test_a_short_mobile_number_says_so():
    [violation] = validate_field("phone", normalize_record({"phone": "138 0013 800"})["phone"])
    assert violation.reason == "bad_length" and "11位" in violation.message and "不能超过" not in violation.message


@pytest.mark.parametrize("typed, kept", [
    ("(0571)88888888", "0571-88888888"), ("0571-88888888转123", "0571-88888888-123"),
    ("0571-88888888", "0571-88888888"), ("+44 20 7946 0958", "+44-2079460958"), ("13800138000", "13800138000"),
    ("+86 138 0013 8000", "13800138000"),
])
def test_contact_telephones(typed, kept):
    record = normalize_record({"telephone": typed})
    assert record["telephone"] == kept and validate_field("telephone", kept) == []


@pytest.mark.parametrize("typed, kept", [("156", "CHN"), ("chn", "CHN"), ("840", "USA"), ("DEU", "DEU")])
def test_nationality_is_stored_as_alpha3(typed, kept):
    assert normalize_record({"nationality": typed})["nationality"] == kept


def test_chinese_documents_default_to_chn_and_passports_need_a_nationality():
    assert normalize_record({"id_card_type_code": "01", "nationality": ""})["nationality"] == "CHN"
    record = normalize_record({"id_card_type_code": "03", "idcode": "123456789", "nationality": ""})
    reasons = [(v.field, v.reason) for v in
               validate_record(record, fields=("id_card_type_code", "idcode", "nationality"))]
    assert reasons == [("nationality", "required")]


@pytest.mark.parametrize("nationality, key", [("USA", "03:USA:123456789"), ("840", "03:USA:123456789"),
                                              ("DEU", "03:DEU:123456789"), ("276", "03:DEU:123456789")])
def test_one_passport_number_in_two_countries_is_two_people(nationality, key):
    assert person_key("03", "123456789", nationality) == key


@pytest.mark.parametrize("alias", ["01", "02", "05", "06", "99"])
def test_one_resident_id_number_is_one_person_under_every_type(alias):
    assert person_key(alias, "11010519491231002x", None) == "01:11010519491231002X"


def test_other_chinese_documents_key_on_type_and_number():
    assert person_key("04", "军字第12345", None) == "04:军字第12345"


def test_residence_permit_numbers_follow_the_resident_id_layout():
    permit = resident_id("810000", "19900101", 1)
    assert validate_record({"id_card_type_code": "06", "idcode": permit}, fields=("id_card_type_code", "idcode")) == []
    assert parse_resident_id(permit).is_permit

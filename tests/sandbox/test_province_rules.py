"""Differential test: the city's 5.2.2 validator (``records.standard.validate_record``) and the sandbox
province's own (``sandbox.province_rules.validate``) must agree, record by record, on accept or reject.

Hypothesis grows a corpus of records: a good record built here from the SPEC's table, then zero to
three mutations from a catalogue of wrong and borderline values. Where the two verdicts differ, the
record must show one of the documented differences (``KNOWN_DIFFERENCES``, docs/contracts.md); each
of those is also shown by an example of its own below.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from erhc_h5.records.standard import validate_record
from erhc_h5.sandbox.province_rules import validate
from tests.factories import resident_id

CURRENT_COUNTIES = ("330106", "330102", "110101", "440305")  # 西湖区 上城区 东城区 南山区: current divisions
ABOLISHED_COUNTY = "330103"  # 下城区, merged into 上城区 in 2021
KNOWN_DIFFERENCES = {
    "county_input_form": "the city also takes 6- and 12-digit county codes (input forms, sent as 9 digits)",
    "county_not_current": "the city refuses abolished divisions (the Ministry's current list); the province has no table",
    "nationality_input_form": "the city also takes numeric and lower-case nationality codes (converted before upload)",
    "mobile_prefix": "the city refuses 11-digit numbers outside the 13–19 mobile prefixes; the table says N11 only",
    "idcode_input_form": "the city upper-cases a lower-case x check character before checking",
    "contact_phone_format": "the city wants a phone-number shape for telephone (digits, '-', a leading +country); the table says AN20",
}
LONG = {"id": 32, "erhc_card_no": 128, "empi": 128, "name": 20, "address": 200, "idcode": 30, "linkman": 20,
        "telephone": 20, "birthplace": 200, "current_address": 200, "app_record_no": 20,
        "app_record_no_recognize": 20}


def known_difference(record: dict) -> str | None:
    """The documented difference this record shows, if any (computed here, not by either validator)."""
    county = record.get("county_code")
    if isinstance(county, str) and re.fullmatch(r"[0-9]{6}|[0-9]{12}", county):
        return "county_input_form"
    if isinstance(county, str) and re.fullmatch(r"[0-9]{9}", county) and county[:6] not in CURRENT_COUNTIES:
        return "county_not_current"
    nationality = record.get("nationality")
    if isinstance(nationality, str) and nationality.strip() and (nationality.isdigit() or nationality != nationality.upper()):
        return "nationality_input_form"
    phone = record.get("phone")
    if isinstance(phone, str) and re.fullmatch(r"[0-9]{11}", phone) and not re.fullmatch(r"1[3-9][0-9]{9}", phone):
        return "mobile_prefix"
    idcode = record.get("idcode")
    if isinstance(idcode, str) and idcode.endswith("x"):
        return "idcode_input_form"
    telephone = record.get("telephone")
    if isinstance(telephone, str) and telephone.strip() and len(telephone) <= 20 and not re.fullmatch(
            r"(\+[0-9]{1,4}-?)?[0-9][0-9-]{3,18}[0-9]", telephone):
        return "contact_phone_format"
    return None


def without_known_differences(record: dict) -> dict:
    """The record with each documented difference replaced by what the city would send for it, so a
    disagreement elsewhere in the same record is still caught."""
    import pycountry

    record = dict(record)
    for _ in range(5):
        difference = known_difference(record)
        if difference is None:
            return record
        if difference.startswith("county"):
            record["county_code"] = CURRENT_COUNTIES[0] + "000"
        elif difference == "nationality_input_form":
            value = record["nationality"]
            found = pycountry.countries.get(numeric=value) if value.isdigit() else None
            record["nationality"] = found.alpha_3 if found else value.upper()
        elif difference == "mobile_prefix":
            record["phone"] = "13812345678"
        elif difference == "contact_phone_format":
            record["telephone"] = "0571-88888888"
        else:
            record["idcode"] = record["idcode"].upper()
    return record


@st.composite
def good_records(draw) -> dict:
    """A record every reading of the table accepts."""
    kind = draw(st.sampled_from(["01", "01", "01", "02", "03"]))
    born = draw(st.dates(dt.date(1900, 1, 1), dt.date(2020, 12, 31)))
    seq = draw(st.integers(1, 999))
    if kind == "03":
        idcode, nationality, name = "E" + f"{draw(st.integers(0, 10 ** 8 - 1)):08d}", draw(
            st.sampled_from(["USA", "GBR", "JPN", "DEU"])), draw(st.sampled_from(["JOHN SMITH", "ANNA MÜLLER", "YAMADA TARO"]))
        sex = draw(st.sampled_from(["0", "1", "2", "9"]))
    else:
        idcode = resident_id(draw(st.sampled_from(CURRENT_COUNTIES)), born, seq)
        nationality, sex = draw(st.sampled_from(["CHN", None])), "1" if seq % 2 else "2"
        name = draw(st.sampled_from(["张三", "欧阳娜娜", "买买提·艾力", "李" * 20, "王小明"]))
    flag = draw(st.sampled_from([0, 1, 1, 1]))
    at = draw(st.datetimes(dt.datetime(2026, 1, 1), dt.datetime(2026, 12, 31)))
    optional = st.one_of(st.none(), st.sampled_from(["浙江省杭州市西湖区文三路1号", "北京市东城区", "A" * 200]))
    return {
        "id": uuid.UUID(int=draw(st.integers(0, 2 ** 128 - 1))).hex, "erhc_card_no": "AB12" * 16, "empi": "c0ffee" * 10,
        "name": name, "sex": sex, "nation": draw(st.sampled_from(["01", "02", "56", "97", "98"])),
        "nationality": nationality, "birthday": born.isoformat(), "address": draw(optional), "id_card_type_code": kind,
        "idcode": idcode, "phone": f"1{draw(st.integers(3, 9))}{draw(st.integers(0, 10 ** 9 - 1)):09d}",
        "linkman": draw(st.sampled_from([None, "李四", "王五"])), "telephone": draw(st.sampled_from([None, "0571-88888888"])),
        "birthplace": draw(optional),
        "county_code": draw(st.sampled_from([None, *[c + "000" for c in CURRENT_COUNTIES]])),
        "current_address": draw(optional),
        "authentication_method": draw(st.sampled_from(["1", "2", "3", "4", "2^3", "3^4", "1^2^3^4"])) if flag else "",
        "app_record_no": "330100DEMO0001", "app_record_no_recognize": "DEMO-APP-0001", "recognize_flag": flag,
        "cd_time": at.strftime("%Y-%m-%d %H:%M:%S"), "cd_source": "3301",
        "cd_batch": "3301" + at.strftime("%Y%m%d%H%M") + f"{draw(st.integers(0, 999)):03d}",
        "cd_operation": draw(st.sampled_from(["i", "u", "d"])),
    }


BAD_VALUES = {
    "id": ["xyz", "0" * 31, "0" * 33, "G" * 32, "ABCDEF0123456789ABCDEF0123456789"],
    "erhc_card_no": ["ABC-123", "A" * 129, "A"],
    "empi": ["e m p i", "E" * 128],
    "name": ["张\x00三", "李" * 21, "张\u200b三"],
    "sex": ["3", "1 ", "男", "01"],
    "nation": ["00", "57", "99", "1", "97", " 01"],
    "nationality": ["ZZZ", "CN", "chn", "156", "USA", "CHNA"],
    "birthday": ["1990-02-30", "19900307", "1990/03/07", "2999-01-01", "1879-12-31", "2000-01-01"],
    "address": ["地址\x07", "A" * 201],
    "id_card_type_code": ["00", "08", "1", " 01", "１"],
    "phone": ["1381234567", "138123456789", "1381234567a", "+8613812345678", "12812345678", "０３８１２３４５６７８"],
    "linkman": ["李\x00四", "王" * 21],
    "telephone": ["0" * 21, "0571 8888888", "fax", "+44-2079460958", "0571-88888888-123"],
    "birthplace": ["出生地\x1f"],
    "county_code": ["330106", "330106001001", "33010600", "abcdefghi", ABOLISHED_COUNTY + "000", "3301060000"],
    "current_address": ["B" * 201],
    "authentication_method": ["", "5", "2^2", "2^", "^2", "2,3", "2^3^4^1", "0"],
    "app_record_no": ["A" * 21, "JR\x00"],
    "app_record_no_recognize": ["B" * 21],
    "recognize_flag": [2, True, "1", 1.0, -1, 0],
    "cd_time": ["2026-13-01 00:00:00", "2026-12-03T10:00:00", "2026-12-03 24:00:00", "2026-12-03 10:00", "2026-02-29 10:00:00"],
    "cd_source": ["330", "33a1", "4401", "33011"],
    "cd_batch": ["4401202612031200001", "3301202613011200001", "330120261203120001", "3301202612032400001"],
    "cd_operation": ["x", "I", "iu"],
}


@st.composite
def mutated(draw, record: dict) -> dict:
    """The record with one value changed, removed, blanked, retyped, or an unknown field added."""
    record = dict(record)
    field = draw(st.sampled_from(sorted(BAD_VALUES)))
    how = draw(st.sampled_from(["bad", "bad", "bad", "none", "blank", "number", "drop", "unknown", "long"]))
    if how == "bad":
        record[field] = draw(st.sampled_from(BAD_VALUES[field]))
    elif how == "none":
        record[field] = None
    elif how == "blank":
        record[field] = draw(st.sampled_from(["", "  "]))
    elif how == "number":
        record[field] = draw(st.sampled_from([5, 3.5, [], {}]))
    elif how == "drop":
        record.pop(field, None)
    elif how == "unknown":
        record[draw(st.sampled_from(["extra", "ID", "cd_batch_no"]))] = "x"
    elif field in LONG:
        record[field] = draw(st.sampled_from(["字", "a"])) * (LONG[field] + draw(st.integers(0, 1)))
    if record.get("id_card_type_code") in ("01", "02") and field == "idcode" and how == "bad":
        number = record["idcode"]
        record["idcode"] = draw(st.sampled_from([number[:17] + ("0" if number[17] != "0" else "1"), number[:17],
                                                 number[:10] + "13" + number[12:], number[:17] + "x"]))
    return record


@st.composite
def corpus(draw) -> dict:
    record = draw(good_records())
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 1, 1, 2, 3]))):
        record = draw(mutated(record))
    return record


BASE = {
    "id": "0123456789abcdef0123456789abcdef", "erhc_card_no": "AB" * 32, "empi": "cd" * 32, "name": "张三",
    "sex": "1", "nation": "01", "nationality": "CHN", "birthday": "1990-03-07", "address": None,
    "id_card_type_code": "01", "idcode": resident_id("330106", dt.date(1990, 3, 7), 123), "phone": "13812345678",
    "linkman": None, "telephone": None, "birthplace": None, "county_code": "330106000", "current_address": None,
    "authentication_method": "2", "app_record_no": "330100DEMO0001", "app_record_no_recognize": "DEMO-APP-0001",
    "recognize_flag": 1, "cd_time": "2026-12-03 10:00:00", "cd_source": "3301", "cd_batch": "3301202612031000001",
    "cd_operation": "i",
}


@pytest.mark.slow  # 700 records through both readings
@settings(max_examples=700, deadline=None, suppress_health_check=list(HealthCheck))
@example(record=BASE)
@example(record={**BASE, "recognize_flag": 0, "authentication_method": ""})
@example(record={**BASE, "recognize_flag": 1, "authentication_method": ""})
@example(record={**BASE, "sex": "2"})
@given(record=corpus())
def test_city_and_province_agree_on_every_record(record):
    city_accepts = not validate_record(record)
    province_accepts = not validate(record)
    event("accepted" if city_accepts else "rejected")
    if city_accepts != province_accepts:
        difference = known_difference(record)
        assert difference is not None, (
            f"city {'accepts' if city_accepts else 'rejects'} {validate_record(record)}, "
            f"province {'accepts' if province_accepts else 'rejects'} {validate(record)}: {record}")
        event("known difference: " + difference)
        _agree_strictly(without_known_differences(record))


def _agree_strictly(record: dict) -> None:
    assert (not validate_record(record)) == (not validate(record)), (validate_record(record), validate(record), record)


def _agree(record: dict) -> None:
    city_accepts, province_accepts = not validate_record(record), not validate(record)
    if city_accepts != province_accepts:
        assert known_difference(record) is not None, (validate_record(record), validate(record), record)
        _agree_strictly(without_known_differences(record))


@pytest.mark.parametrize("field, value", [(f, v) for f, values in BAD_VALUES.items() for v in values])
def test_every_catalogued_value_on_a_good_record(field, value):
    """The whole catalogue, one value at a time, on the specimen record and on an unauthenticated one."""
    _agree({**BASE, field: value})
    _agree({**BASE, "recognize_flag": 0, "authentication_method": "", field: value})


@pytest.mark.parametrize("difference, change, city_accepts", [
    ("county_input_form", {"county_code": "330106"}, True),
    ("county_input_form", {"county_code": "330106001001"}, True),
    ("county_not_current", {"county_code": ABOLISHED_COUNTY + "000"}, False),
    ("nationality_input_form", {"nationality": "156"}, True),
    ("nationality_input_form", {"nationality": "chn"}, True),
    ("mobile_prefix", {"phone": "12812345678"}, False),
    ("contact_phone_format", {"telephone": "电话"}, False),
    ("idcode_input_form", {"idcode": resident_id("330106", dt.date(1990, 3, 7), 123)[:17].lower() + "x"}, None),
])
def test_each_known_difference_is_real(difference, change, city_accepts):
    record = {**BASE, **change}
    if change.get("idcode", "").endswith("x"):  # find a number whose check character is X
        number = next(n for n in (resident_id("330106", dt.date(1990, 3, 7), s) for s in range(1, 999)) if n.endswith("X"))
        record["idcode"], record["sex"] = number[:17] + "x", "1" if int(number[16]) % 2 else "2"
        city_accepts = True
    assert known_difference(record) == difference
    assert (not validate_record(record)) is city_accepts
    assert (not validate(record)) is (not city_accepts)
    assert difference in KNOWN_DIFFERENCES


def test_the_sandbox_province_reads_the_standard_on_its_own():
    """Its modules import nothing of the city's validators, code tables or upload client."""
    import ast
    from pathlib import Path

    import erhc_h5.sandbox as sandbox
    import erhc_h5.sync as sync

    forbidden = {"erhc_h5.records.standard", "erhc_h5.records.codes", "erhc_h5.records.idnumbers", "erhc_h5.sync.client"}
    modules = [Path(sandbox.__file__).parent / name for name in ("province_books.py", "province_rules.py", "receiver.py")]
    modules += [Path(sync.__file__).parent / name for name in ("province_signing.py", "province_verify.py")]
    for path in modules:
        name = path.name
        tree = ast.parse(path.read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert not imported & forbidden, (name, imported & forbidden)

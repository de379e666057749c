"""The sandbox province's own validator of uploaded 5.2.2 records, written from the table in SPEC.md
(§5.2.2 and §2) and not from the city's code: the receiver checks uploads with it, and a
differential test holds it against the city's ``records.standard.validate_record``.

Where the two knowingly differ (docs/contracts.md, "Provincial validation"):
- ``county_code``: the province takes the 9-digit wire form only and does not know which divisions
  are current (that needs the Ministry's table); the city also takes 6 and 12 digits (input forms,
  normalised before upload) and refuses abolished divisions.
- ``nationality``: the province takes upper-case alpha-3 only (the wire form); the city's validator
  also takes numeric and lower-case input (converted before upload).
- Name, phone, contact-phone and non-GB 11643 document formats: the city checks more (which
  characters a name may hold, 13–19 mobile prefixes, passport and permit layouts) than the table says.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

import pycountry

# (field, type, maximum length in characters, required) in the order of the standard's table.
TABLE = (
    ("id", "S", 32, True), ("erhc_card_no", "S", 128, True), ("empi", "S", 128, True), ("name", "S", 20, True),
    ("sex", "S", 2, True), ("nation", "S", 2, True), ("nationality", "S", 3, False), ("birthday", "S", 10, True),
    ("address", "S", 200, False), ("id_card_type_code", "S", 2, True), ("idcode", "S", 30, True),
    ("phone", "S", 11, True), ("linkman", "S", 20, False), ("telephone", "S", 20, False),
    ("birthplace", "S", 200, False), ("county_code", "S", 12, False), ("current_address", "S", 200, False),
    ("authentication_method", "S", 12, False),  # required whenever recognize_flag = 1 (below)
    ("app_record_no", "S", 20, True), ("app_record_no_recognize", "S", 20, True), ("recognize_flag", "N", 1, True),
    ("cd_time", "DT", 19, True), ("cd_source", "S", 12, True), ("cd_batch", "S", 20, True),
    ("cd_operation", "S", 1, True),
)
NAMES = tuple(row[0] for row in TABLE)
SEXES = {"0", "1", "2", "9"}  # GB/T 2261.1
NATIONS = {f"{n:02d}" for n in range(1, 57)} | {"97", "98"}  # GB/T 3304
DOCUMENT_TYPES = {"01", "02", "03", "04", "05", "06", "07", "99"}  # CV02.01.101
OPERATIONS = {"i", "u", "d"}
ID_WEIGHTS = tuple(2 ** (17 - i) % 11 for i in range(17))  # GB 11643 MOD 11-2
ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class Problem:
    """One broken rule of a record: the field and a reason code. The codes are the upload reply's
    shared vocabulary (``required``, ``bad_code``, ``too_long`` …, docs/contracts.md); the rules
    that give them are this module's own."""

    field: str
    reason: str


def _is_printable(text: str) -> bool:
    return not any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text)


def _real_date(y: str, m: str, d: str) -> dt.date | None:
    try:
        return dt.date(int(y), int(m), int(d))
    except ValueError:
        return None


def _date_problem(text: str, today: dt.date) -> str | None:
    found = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", text)
    day = _real_date(*found.groups()) if found else None
    if day is None:
        return "bad_format" if not found else "bad_date"
    return None if dt.date(1880, 1, 1) <= day <= today else "out_of_range"


def _time_problem(text: str) -> str | None:
    found = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})", text)
    if not found or _real_date(*found.groups()[:3]) is None:
        return "bad_format" if not found else "bad_date"
    hour, minute, second = (int(v) for v in found.groups()[3:])
    return None if hour < 24 and minute < 60 and second < 60 else "bad_date"


def _methods_problem(text: str) -> str | None:
    parts = text.split("^")
    if not all(p in ("1", "2", "3", "4") for p in parts):
        return "bad_format"
    return "duplicate_method" if len(parts) != len(set(parts)) else None


def _batch_problem(text: str) -> str | None:
    found = re.fullmatch(r"([0-9]{4})([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{3})", text)
    if not found:
        return "bad_format"
    if _real_date(*found.groups()[1:4]) is None:
        return "bad_date"
    return None if int(found.group(5)) < 24 and int(found.group(6)) < 60 else "bad_date"


def _value_problem(name: str, text: str, today: dt.date) -> str | None:
    """The rule of one present string field, beyond type and length."""
    if name == "id":
        return None if re.fullmatch(r"[0-9a-fA-F]{32}", text) else "bad_format"
    if name in ("erhc_card_no", "empi"):
        return None if re.fullmatch(r"[0-9A-Za-z]+", text) else "bad_format"
    if name in ("sex", "nation", "id_card_type_code", "cd_operation"):
        table = {"sex": SEXES, "nation": NATIONS, "id_card_type_code": DOCUMENT_TYPES, "cd_operation": OPERATIONS}[name]
        return None if text in table else "bad_code"
    if name == "nationality":
        return None if re.fullmatch(r"[A-Z]{3}", text) and pycountry.countries.get(alpha_3=text) else "bad_code"
    if name == "birthday":
        return _date_problem(text, today)
    if name == "phone":
        if not text.isascii() or not text.isdigit():
            return "bad_format"
        return None if len(text) == 11 else "bad_length"
    if name == "county_code":
        return None if re.fullmatch(r"[0-9]{9}", text) else "bad_format"
    if name == "authentication_method":
        return _methods_problem(text)
    if name == "cd_time":
        return _time_problem(text)
    if name == "cd_source":
        return None if re.fullmatch(r"[0-9]{4}", text) else "bad_format"
    if name == "cd_batch":
        return _batch_problem(text)
    return None if _is_printable(text) else "bad_characters"


def _field_problems(record: dict, today: dt.date) -> list[Problem]:
    out = []
    for name, kind, max_len, required in TABLE:
        value = record.get(name)
        if kind == "N":
            if type(value) is not int or value not in (0, 1):
                out.append(Problem(name, "bad_value" if value is not None else "required"))
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                out.append(Problem(name, "required"))
            continue
        if not isinstance(value, str):
            out.append(Problem(name, "bad_type"))
        elif len(value) > max_len:
            out.append(Problem(name, "too_long"))
        elif (reason := _value_problem(name, value, today)) is not None:
            out.append(Problem(name, reason))
    return out


def _uses_resident_id(record: dict) -> bool:
    """GB 11643 numbers: the ID card (01) and the household register (02), which carries the same
    number, and the residence permits of Hong Kong, Macau (06, 810000/820000) and Taiwan (07, 830000)."""
    kind, number = record.get("id_card_type_code"), record.get("idcode")
    if kind in ("01", "02"):
        return True
    if not isinstance(number, str) or len(number) != 18:
        return False
    return (kind == "06" and number[:6] in ("810000", "820000")) or (kind == "07" and number[:6] == "830000")


def _is_resident_id(number: object) -> bool:
    """17 digits and the right GB 11643 MOD 11-2 check character."""
    return isinstance(number, str) and re.fullmatch(r"[0-9]{17}[0-9X]", number) is not None and ID_CHECK[
        sum(int(c) * w for c, w in zip(number[:17], ID_WEIGHTS)) % 11] == number[17]


def _resident_id_problems(record: dict, today: dt.date) -> list[Problem]:
    """GB 11643-1999: 17 digits and the MOD 11-2 check character; the birth date must
    exist and agree with ``birthday``, the sequence's parity with ``sex``."""
    number = record["idcode"]
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number):
        return [Problem("idcode", "bad_length" if len(number) != 18 else "bad_format")]
    if not _is_resident_id(number):
        return [Problem("idcode", "bad_checksum")]
    born = _real_date(number[6:10], number[10:12], number[12:14])
    if born is None or not dt.date(1880, 1, 1) <= born <= today:
        return [Problem("idcode", "bad_birth_date")]
    out = []
    if record.get("birthday") != born.isoformat():
        out.append(Problem("birthday", "birthday_mismatch"))
    if record.get("sex") != ("1" if int(number[16]) % 2 else "2"):
        out.append(Problem("sex", "sex_mismatch"))
    return out


def validate(record: object, today: dt.date | None = None) -> list[Problem]:
    """Every problem of one uploaded record (an empty list: the province accepts it)."""
    if not isinstance(record, dict):
        return [Problem("", "bad_type")]
    today = today or dt.date.today()
    out = [Problem(str(k)[:32], "unknown_field") for k in record if k not in NAMES]
    out += _field_problems(record, today)
    bad = {p.field for p in out}
    if record.get("recognize_flag") == 1 and "authentication_method" not in bad and not str(
            record.get("authentication_method") or "").strip():
        out.append(Problem("authentication_method", "required"))
    if _uses_resident_id(record) and not bad & {"idcode", "id_card_type_code", "birthday", "sex"}:
        out += _resident_id_problems(record, today)
    # A passport or other per-country number names a person only with its country (SPEC §2, person key).
    if record.get("id_card_type_code") in ("03", "99") and not bad & {"nationality", "idcode"} and not str(
            record.get("nationality") or "").strip() and not _is_resident_id(record.get("idcode")):
        out.append(Problem("nationality", "required"))
    batch, source = record.get("cd_batch"), record.get("cd_source")
    if not bad & {"cd_batch", "cd_source"} and not str(batch).startswith(str(source)):
        out.append(Problem("cd_batch", "source_mismatch"))
    return out

"""ID document number rules: GB 11643 resident IDs, HK/MO/TW residence permits, other documents.

Residence permits of Hong Kong, Macau and Taiwan residents (港澳台居民居住证) have no code of
their own in CV02.01.101: they are entered as type 06 (810000/820000 numbers) or 07 (830000) and
follow the GB 11643 layout (docs/data-standard.md).

The check character and the birth date are hard rules. The division code is where the number was
first issued and may have been abolished since (python-stdnum's ``ric.validate`` rejects such real
numbers), so an unknown division code is only a warning.
"""
from __future__ import annotations

import datetime as dt
import re
import time
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from stdnum.cn import ric

from erhc_h5.errors import DomainError
from erhc_h5.records.codes import division_name, to_alpha3
from erhc_h5.text import ascii_digits

PERMIT_DIVISIONS = {"810000": "香港", "820000": "澳门", "830000": "台湾"}
_RIC = re.compile(r"^\d{17}[\dX]$")
_HKMO_TRAVEL = re.compile(r"^[HM]\d{8}(\d{2})?$")
_TW_TRAVEL = re.compile(r"^\d{8}(\d{2})?$")
_PASSPORT = re.compile(r"^[A-Z0-9]{5,17}$")
_OTHER = re.compile(r"^[A-Z0-9][A-Z0-9()\-]{3,29}$")
EARLIEST_BIRTH = dt.date(1880, 1, 1)


class IdNumberError(DomainError, ValueError):
    """A document number breaks a hard rule; ``reason`` is a stable code."""

    status = 422


@dataclass
class ResidentId:
    """What an 18-character resident ID (or residence permit) number encodes."""

    number: str
    birthday: dt.date
    sex: str  # "1" male (odd sequence), "2" female
    division: str
    division_known: bool
    is_permit: bool
    warnings: list[str] = field(default_factory=list)


def normalize_idcode(value: str) -> str:
    """Full-width to half-width, spaces removed, letters upper-cased."""
    if value and value.isascii() and value.isalnum():  # nothing to fold or strip: the common case
        return value.upper()
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", value or "")).upper()


def parse_resident_id(number: str, today: dt.date | None = None) -> ResidentId:
    """Parse and check an 18-character GB 11643 number; raise IdNumberError on a hard-rule breach."""
    number = normalize_idcode(number)
    # One row is checked several times (import, validation, card); the outcome depends only on
    # the number and the day, so it is memoised and a fresh ResidentId is handed out each time.
    ok, outcome = _parse_cached(number, today or _today())
    if not ok:
        raise IdNumberError(*outcome)
    return ResidentId(*outcome[:-1], list(outcome[-1]))


_TODAY: list = [0.0, None]  # [local midnight ending the day, that day]


def _today() -> dt.date:
    """``date.today()``, asked of the clock once per local day instead of once per number."""
    if time.time() >= _TODAY[0]:
        today = dt.date.today()
        _TODAY[:] = [dt.datetime.combine(today + dt.timedelta(days=1), dt.time()).timestamp(), today]
    return _TODAY[1]


@lru_cache(maxsize=2048)
def _parse_cached(number: str, today: dt.date) -> tuple[bool, tuple]:
    try:
        parsed = _parse(number, today)
    except IdNumberError as exc:
        return False, (exc.reason, exc.message)
    return True, (parsed.number, parsed.birthday, parsed.sex, parsed.division, parsed.division_known,
            parsed.is_permit, tuple(parsed.warnings))


def _parse(number: str, today: dt.date) -> ResidentId:
    if len(number) == 15 and ascii_digits(number):
        raise IdNumberError("obsolete_format", "15位旧身份证号码已停止使用,请输入18位身份证号码")
    if len(number) != 18:
        raise IdNumberError("bad_length", "身份证号码应为18位")
    if not _RIC.match(number):
        raise IdNumberError("bad_format", "身份证号码格式不正确:前17位应为数字,最后一位为数字或X")
    # python-stdnum's calc_check_digit takes the whole number and ignores its last character.
    if ric.calc_check_digit(number) != number[17]:
        raise IdNumberError("bad_checksum", "身份证号码校验位不正确,请核对后重新输入")
    try:
        birthday = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdNumberError("bad_birth_date", "身份证号码中的出生日期不存在") from None
    if birthday > today or birthday < EARLIEST_BIRTH:
        raise IdNumberError("bad_birth_date", "身份证号码中的出生日期不在合理范围内")
    division = number[:6]
    is_permit = division in PERMIT_DIVISIONS
    known = is_permit or division_name(division) is not None
    warnings = [] if known else ["unknown_division"]
    sex = "1" if int(number[16]) % 2 == 1 else "2"
    return ResidentId(number, birthday, sex, division, known, is_permit, warnings)


def is_resident_id_number(number: str) -> bool:
    """True for 17 digits and a correct GB 11643 check character, whatever the document type says."""
    number = normalize_idcode(number)
    return bool(_RIC.match(number)) and ric.calc_check_digit(number) == number[17]


@lru_cache(maxsize=8192)  # pure; a row asks twice (empi, card index)
def person_key(id_card_type_code: str, number: str, nationality: str | None = None) -> str:
    """What names one person, whatever document type the number was typed under.

    A GB 11643 number (ID card, household register, residence permit, a driving licence that
    carries it) is one person under every type; passports and other per-country numbers are
    unique only with their nationality; other Chinese documents by type and number."""
    number = normalize_idcode(number)
    if is_resident_id_number(number):
        return f"01:{number}"
    if id_card_type_code in ("03", "99"):
        return f"{id_card_type_code}:{to_alpha3(nationality or '')}:{number}"
    return f"{id_card_type_code}:{number}"


def uses_resident_id_layout(id_card_type_code: str, number: str) -> bool:
    """True where the number must follow GB 11643 (ID card, household register, permits)."""
    if id_card_type_code in ("01", "02"):
        return True
    number = normalize_idcode(number)
    if id_card_type_code == "06" and number[:6] in ("810000", "820000") and len(number) == 18:
        return True
    if id_card_type_code == "07" and number[:6] == "830000" and len(number) == 18:
        return True
    return False


def check_idcode(id_card_type_code: str, number: str) -> ResidentId | None:
    """Check a document number for its type; return the parsed resident ID where the layout is GB 11643."""
    number = normalize_idcode(number)
    if uses_resident_id_layout(id_card_type_code, number):
        return parse_resident_id(number)
    if id_card_type_code == "06":
        if not _HKMO_TRAVEL.match(number):
            raise IdNumberError("bad_format", "港澳居民来往内地通行证号码应为H或M开头加8位或10位数字")
    elif id_card_type_code == "07":
        if not _TW_TRAVEL.match(number):
            raise IdNumberError("bad_format", "台湾居民来往内地通行证号码应为8位或10位数字")
    elif id_card_type_code == "03":
        if not _PASSPORT.match(number):
            raise IdNumberError("bad_format", "护照号码应为5至17位字母或数字")
    elif not _OTHER.match(number):
        raise IdNumberError("bad_format", "证件号码应为4至30位字母或数字")
    return None

"""The 5.2.2 real-name authentication record, once, as data; and the validators that read it.

Forms, the record builder and the CSV import all validate through ``validate_record`` /
``validate_field`` (the sandbox receiver, playing the province, has its own reading:
``erhc_h5.sandbox.province_rules``). Each violation is a (field, reason code, Chinese message)
triple; reason codes are stable for machines.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable

from erhc_h5.records import codes
from erhc_h5.records.idnumbers import IdNumberError, check_idcode, is_resident_id_number, normalize_idcode
from erhc_h5.text import ascii_digits


@dataclass(frozen=True)
class Field:
    """One row of the 5.2.2 table."""

    name: str
    label: str
    type: str  # S string, N number, DT date-time
    length: str  # as written in the standard: AN32, N11, D8, DT14, A1
    max_len: int
    required: bool
    code_table: str = ""


@dataclass(frozen=True)
class Violation:
    """A broken rule: which field, a stable reason code, and the Chinese message for people."""

    field: str
    reason: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "reason": self.reason, "message": self.message}


FIELDS: tuple[Field, ...] = (
    Field("id", "主键", "S", "AN32", 32, True),
    Field("erhc_card_no", "电子健康码编码", "S", "AN128", 128, True),
    Field("empi", "居民账户主键", "S", "AN128", 128, True),
    Field("name", "姓名", "S", "AN20", 20, True),
    Field("sex", "性别", "S", "AN2", 2, True, "GB/T 2261.1"),
    Field("nation", "民族", "S", "AN2", 2, True, "GB/T 3304"),
    Field("nationality", "国籍", "S", "AN3", 3, False, "GB/T 2659"),
    Field("birthday", "出生日期", "S", "D8", 10, True),
    Field("address", "户籍地址", "S", "AN200", 200, False),
    Field("id_card_type_code", "证件类型", "S", "AN2", 2, True, "CV02.01.101"),
    Field("idcode", "证件号码", "S", "AN30", 30, True),
    Field("phone", "手机号", "S", "N11", 11, True),
    Field("linkman", "联系人姓名", "S", "AN20", 20, False),
    Field("telephone", "联系人电话", "S", "AN20", 20, False),
    Field("birthplace", "出生地详细地址", "S", "AN200", 200, False),
    Field("county_code", "居住地所在区县代码", "S", "AN12", 12, False, "行政区划代码"),
    Field("current_address", "居住地详细地址", "S", "AN200", 200, False),
    Field("authentication_method", "实名认证方式", "S", "AN12", 12, True),
    Field("app_record_no", "接入组件入网编码", "S", "AN20", 20, True),
    Field("app_record_no_recognize", "实名认证应用备案号", "S", "AN20", 20, True),
    Field("recognize_flag", "是否实名认证", "N", "N1", 1, True),
    Field("cd_time", "插入时间", "DT", "DT14", 19, True),
    Field("cd_source", "来源", "S", "AN12", 12, True),
    Field("cd_batch", "批次号", "S", "AN20", 20, True),
    Field("cd_operation", "新增数据状态标识", "S", "A1", 1, True),
)
FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)

# Fields a resident or an import supplies (the rest are made by the platform).
SUPPLIED_FIELDS = (
    "name", "sex", "nation", "nationality", "birthday", "address", "id_card_type_code", "idcode",
    "phone", "linkman", "telephone", "birthplace", "county_code", "current_address",
    "authentication_method",
)

# Every CJK unified-ideograph block, extensions A to I and the compatibility blocks, as ranges:
# Python's unicodedata may predate the newest extensions (H, I), so categories cannot be used.
_CJK = ("\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df\U0002a700-\U0002ee5f"
        "\U0002f800-\U0002fa1f\U00030000-\U000323af")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_CJK_ONLY = re.compile(f"[{_CJK}]+")  # fullmatch: a name of Chinese characters alone
_CJK_OR_DOT = re.compile(f"[{_CJK}·]+")
# Middle-dot look-alikes people type in minority and foreign names (after NFKC).
_DOTS = str.maketrans({c: "·" for c in "\u0387\u16eb\u2022\u2027\u2219\u22c5\u2e31\u30fb\uff65"})
_SEPARATORS = str.maketrans({"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2019": "'", "\u02bc": "'"})
_NAME_SEPARATORS = " ·-'."
_PHONE = re.compile(r"^1[3-9]\d{9}$")
_TELEPHONE = re.compile(r"^(\+\d{1,4}-?)?\d[\d-]{3,18}\d$")
_METHOD = re.compile(r"^[1-4](\^[1-4])*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_GUID = re.compile(r"^[0-9A-Fa-f]{32}$")
_ALNUM = re.compile(r"^[0-9A-Za-z]+$")
_COUNTY = re.compile(r"^\d{6}(\d{3}|\d{6})?$")
# Document types whose numbers are unique only within the issuing country: nationality is part
# of the person (two passports "123456789" of two countries are two people).
PER_COUNTRY_TYPES = ("03", "99")
CHINESE_DOCUMENT_TYPES = ("01", "02", "04", "05", "06", "07")
_CD_SOURCE = re.compile(r"^\d{4}$")
_CD_BATCH = re.compile(r"^(\d{4})(\d{12})(\d{3})$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")


def _v(field: str, reason: str, message: str) -> Violation:
    return Violation(field, reason, message)


def normalize_text(value: Any) -> Any:
    """Trim a text value; None and non-strings pass through unchanged."""
    if isinstance(value, str):
        return value.strip()
    return value


def normalize_name(value: str) -> str:
    """NFKC, one space between words, every middle-dot look-alike as '·' with no spaces round it.

    An ASCII '.' between Chinese characters is a mistyped middle dot (艾力.买买提); in a Latin
    name it is a period (JOHN F. KENNEDY) and is kept."""
    value = unicodedata.normalize("NFKC", value or "").translate(_DOTS).translate(_SEPARATORS)
    value = re.sub(r"\s+", " ", value.strip())
    if _CJK_CHAR.search(value):
        value = value.replace(".", "·")
    return re.sub(r"\s*·\s*", "·", value)


def normalize_phone(value: str) -> str:
    """A mobile number as typed (spaces, dashes, +86 or 0086) reduced to its 11 digits."""
    value = re.sub(r"[\s\-()（）.]", "", unicodedata.normalize("NFKC", value or ""))
    for prefix in ("+86", "0086"):
        if value.startswith(prefix):
            return value[len(prefix):]
    if len(value) == 13 and value.startswith("86"):
        return value[2:]
    return value


def normalize_telephone(value: str) -> str:
    """A contact number as typed -> digits with '-' between area code, number and extension.

    (0571)88888888 -> 0571-88888888; 0571-88888888转123 -> 0571-88888888-123; +86 138… -> 138…;
    +44 20 7946 0958 -> +44-2079460958."""
    value = unicodedata.normalize("NFKC", value or "").strip()
    value = re.sub(r"\s*(转|分机|ext\.?|x)\s*(?=\d+$)", "-", value, flags=re.IGNORECASE)
    value = re.sub(r"^\((\d{3,4})\)\s*", r"\1-", value)
    international = re.match(r"^(?:\+|00)(\d{1,3})[\s\-]*(.*)$", value)
    if international:
        country, rest = international.groups()
        rest = re.sub(r"[\s\-().]", "", rest)
        return rest if country == "86" else f"+{country}-{rest}"
    value = re.sub(r"[\s.]", "", value)
    return re.sub(r"-{2,}", "-", value.replace("(", "").replace(")", "-")).strip("-")


def normalize_county(value: str) -> str:
    """The 9-digit form of §5.2.2 from a 6-, 9- or 12-digit division code (000 for 'county only')."""
    value = re.sub(r"\s", "", unicodedata.normalize("NFKC", value or ""))
    if ascii_digits(value):
        if len(value) == 6:
            return value + "000"
        if len(value) == 12:
            return value[:9]
    return value


def _nfkc_strip(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _nationality(value: str) -> str:
    return codes.to_alpha3(unicodedata.normalize("NFKC", value))


def _address(value: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", value))


# How each typed field is normalised after trimming (fields not named here are only trimmed).
_NORMALIZERS: dict[str, Callable[[str], str]] = {
    "idcode": normalize_idcode, "phone": normalize_phone, "telephone": normalize_telephone,
    "county_code": normalize_county, "name": normalize_name, "linkman": normalize_name,
    "nationality": _nationality, "address": _address, "current_address": _address, "birthplace": _address,
    **dict.fromkeys(("sex", "nation", "id_card_type_code", "authentication_method", "birthday"), _nfkc_strip),
}


def normalize_record(data: dict) -> dict:
    """Normalize what people type (forms, CSV) before validation; the stored value is this one."""
    out: dict = {}
    normalizers = _NORMALIZERS
    for key, value in data.items():
        if isinstance(value, str):
            value = value.strip()
            normalize = normalizers.get(key)
            if normalize is not None:
                value = normalize(value)
        out[key] = value
    type_code = out.get("id_card_type_code")
    if "nationality" in out and not out["nationality"] and type_code in CHINESE_DOCUMENT_TYPES:
        out["nationality"] = "CHN"
    return out


def uses_nationality_in_key(id_card_type_code: str | None, idcode: str | None) -> bool:
    """True where the document number alone does not name one person (passports and the like)."""
    return id_card_type_code in PER_COUNTRY_TYPES and not is_resident_id_number(idcode or "")


# --- per-field rules ---------------------------------------------------------------------------

def _is_name_letter(char: str) -> bool:
    return bool(_CJK_CHAR.match(char)) or unicodedata.category(char)[0] in "LM"


def _check_name(field: str, value: str) -> list[Violation]:
    if _CJK_ONLY.fullmatch(value):  # the common case: every rule below holds for it
        return []
    label = FIELD_BY_NAME[field].label
    if _CONTROL.search(value):
        return [_v(field, "bad_characters", f"{label}含有不可见或控制字符")]
    if re.search(r"\d", value):
        return [_v(field, "bad_characters", f"{label}不能包含数字")]
    if not all(_is_name_letter(c) or c in _NAME_SEPARATORS for c in value):
        return [_v(field, "bad_characters", f"{label}只能包含文字、间隔号“·”、空格、连字符、撇号和点")]
    if not _is_name_letter(value[0]) or (not _is_name_letter(value[-1]) and value[-1] != "."):
        return [_v(field, "bad_characters", f"{label}应以文字开头和结尾")]
    if re.search(r"[ ·\-'.]{2,}", value.replace(". ", ".")):
        return [_v(field, "bad_characters", f"{label}中的分隔符号不能连用")]
    return []


def _check_chinese_document_name(value: str) -> list[Violation]:
    """A name on a Chinese resident document: Chinese characters and '·', or Latin letters and spaces."""
    if _CJK_CHAR.search(value):
        if not _CJK_OR_DOT.fullmatch(value):
            return [_v("name", "bad_characters", "姓名应与证件一致:汉字之间只能使用间隔号“·”")]
    elif not re.fullmatch(r"[A-Za-z]+( [A-Za-z]+)*", value):
        return [_v("name", "bad_characters", "姓名应与证件一致,只能包含汉字、间隔号“·”或英文字母和空格")]
    return []


def _check_code(table: dict, what: str) -> Callable[[str, str], list[Violation]]:
    def check(field: str, value: str) -> list[Violation]:
        if value not in table:
            return [_v(field, "bad_code", f"{what}代码“{value}”不在代码表中")]
        return []
    return check


def _check_nationality(field: str, value: str) -> list[Violation]:
    if not codes.is_nationality(value):
        return [_v(field, "bad_code", f"国籍代码“{value}”不是GB/T 2659中的三位字母或数字代码")]
    return []


# A day before this one is never in the future, so ``date.today()`` is only asked about later days.
_TODAY_AT_IMPORT = dt.date.today()


def _check_date(field: str, value: str) -> list[Violation]:
    if not _DATE.match(value):
        return [_v(field, "bad_format", "出生日期格式应为yyyy-MM-dd,例如1990-01-31")]
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return [_v(field, "bad_date", f"出生日期{value}不存在")]
    if day.year < 1880 or (day >= _TODAY_AT_IMPORT and day > dt.date.today()):
        return [_v(field, "out_of_range", "出生日期不在合理范围内")]
    return []


def _check_phone(field: str, value: str) -> list[Violation]:
    if not ascii_digits(value):
        return [_v(field, "bad_format", "手机号应为11位数字,例如13800138000")]
    if len(value) != 11:
        return [_v(field, "bad_length", f"手机号应为11位数字,您输入了{len(value)}位")]
    if not _PHONE.match(value):
        return [_v(field, "bad_format", "手机号格式不正确,应以13至19开头")]
    return []


def _check_telephone(field: str, value: str) -> list[Violation]:
    if not _TELEPHONE.match(value):
        return [_v(field, "bad_format", "联系人电话格式不正确,例如13800138000、0571-88888888、0571-88888888-123或+44-2079460958")]
    return []


def _check_method(field: str, value: str) -> list[Violation]:
    if not _METHOD.match(value):
        return [_v(field, "bad_format", "实名认证方式应为1至4的代码,多种方式以“^”分隔,例如2^3")]
    parts = value.split("^")
    if len(parts) != len(set(parts)):
        return [_v(field, "duplicate_method", "实名认证方式不能重复")]
    return []


def _check_text(field: str, value: str) -> list[Violation]:
    if _CONTROL.search(value):
        return [_v(field, "bad_characters", f"{FIELD_BY_NAME[field].label}含有不可见或控制字符")]
    return []


def _check_alnum(field: str, value: str) -> list[Violation]:
    if not _ALNUM.match(value):
        return [_v(field, "bad_format", f"{FIELD_BY_NAME[field].label}只能包含字母和数字")]
    return []


def _check_guid(field: str, value: str) -> list[Violation]:
    if not _GUID.match(value):
        return [_v(field, "bad_format", "主键应为32位GUID(十六进制字符)")]
    return []


def _check_county(field: str, value: str) -> list[Violation]:
    if not _COUNTY.match(value):
        return [_v(field, "bad_format", "区县代码应为6位、9位或12位数字的行政区划代码")]
    if codes.current_county(value[:6]) is None:
        return [_v(field, "unknown_division", f"区县代码{value[:6]}不是现行的县级行政区划代码,请重新选择居住地区县")]
    return []


def _check_datetime(field: str, value: str) -> list[Violation]:
    # ASCII digits only (the regex's \d alone would let other scripts' digits through).
    if not (value.isascii() and _DATETIME.match(value)):
        return [_v(field, "bad_format", "插入时间格式应为yyyy-MM-dd HH:mm:ss")]
    try:  # fixed positions, checked by the datetime constructor (no strptime: a tenth of the cost)
        dt.datetime(int(value[0:4]), int(value[5:7]), int(value[8:10]),
                    int(value[11:13]), int(value[14:16]), int(value[17:19]))
    except ValueError:
        return [_v(field, "bad_date", f"插入时间{value}不存在")]
    return []


def _check_cd_source(field: str, value: str) -> list[Violation]:
    if not _CD_SOURCE.match(value):
        return [_v(field, "bad_format", "来源应为行政区划代码前4位数字")]
    return []


def _check_cd_batch(field: str, value: str) -> list[Violation]:
    match = _CD_BATCH.match(value) if value.isascii() else None
    if not match:
        return [_v(field, "bad_format", "批次号应为4位区划代码+12位时间(yyyyMMddHHmm)+3位流水号")]
    stamp = match.group(2)
    try:
        dt.datetime(int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[8:10]), int(stamp[10:12]))
    except ValueError:
        return [_v(field, "bad_date", "批次号中的时间不存在")]
    return []


FIELD_RULES: dict[str, Callable[[str, str], list[Violation]]] = {
    "id": _check_guid,
    "erhc_card_no": _check_alnum,
    "empi": _check_alnum,
    "name": _check_name,
    "linkman": _check_name,
    "sex": _check_code(codes.SEX, "性别"),
    "nation": _check_code(codes.NATIONS, "民族"),
    "nationality": _check_nationality,
    "birthday": _check_date,
    "id_card_type_code": _check_code(codes.ID_CARD_TYPES, "证件类型"),
    "phone": _check_phone,
    "telephone": _check_telephone,
    "county_code": _check_county,
    "authentication_method": _check_method,
    "cd_time": _check_datetime,
    "cd_source": _check_cd_source,
    "cd_batch": _check_cd_batch,
    "cd_operation": _check_code(codes.CD_OPERATIONS, "数据状态标识"),
}


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


# Fields whose rule depends on the value alone (code tables, formats; not on today's date) and
# which take few distinct values: a batch repeats the same cd_batch, cd_time, app and codes in
# every record. Their outcome is remembered per value (bounded), so each distinct value is still
# checked in full once.
_MEMO_FIELDS = frozenset((
    "sex", "nation", "nationality", "id_card_type_code", "authentication_method", "county_code",
    "app_record_no", "app_record_no_recognize", "cd_time", "cd_source", "cd_batch", "cd_operation",
))
_MEMO_MAX = 4096
# name -> (spec, rule, memo or None); built once, read on every check.
_PLAN: dict[str, tuple[Field, Callable[[str, str], list[Violation]], dict | None]] = {
    f.name: (f, FIELD_RULES.get(f.name, _check_text), {} if f.name in _MEMO_FIELDS else None) for f in FIELDS
}


def validate_field(name: str, value: Any) -> list[Violation]:
    """Check one field on its own: presence, type, length in characters, format and code table."""
    spec, rule, memo = _PLAN[name]
    if value is None or (isinstance(value, str) and (not value or value.isspace())):  # is_blank
        if spec.required and name != "authentication_method":
            return [_v(name, "required", f"{spec.label}不能为空")]
        return []
    if spec.type == "N":
        if isinstance(value, bool) or not isinstance(value, int) or value not in codes.RECOGNIZE_FLAGS:
            return [_v(name, "bad_value", f"{spec.label}应为数字1或0")]
        return []
    if not isinstance(value, str):
        return [_v(name, "bad_type", f"{spec.label}应为文本")]
    if memo is not None and type(value) is str:
        known = memo.get(value)
        if known is not None:
            return list(known)
    if len(value) > spec.max_len and name != "phone":  # a phone's own rule says what is wrong with it
        found = [_v(name, "too_long", f"{spec.label}不能超过{spec.max_len}个字符")]
    else:
        found = rule(name, value)
    if memo is not None and type(value) is str:
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[value] = tuple(found)
    return found


def validate_record(record: dict, *, fields: tuple[str, ...] | None = None) -> list[Violation]:
    """Check a record (wire types: recognize_flag int, the rest strings or None) field by field
    and across fields. ``fields`` limits the check to a subset (forms, imports)."""
    names = fields or FIELD_NAMES
    violations: list[Violation] = []
    get = record.get
    for name in names:
        found = validate_field(name, get(name))
        if found:
            violations.extend(found)
    if fields is None and not _FIELD_SET.issuperset(record):
        unknown = sorted(set(record) - _FIELD_SET)
        violations.extend(_v(k, "unknown_field", f"未知字段{k}") for k in unknown[:5])
    bad = {v.field for v in violations}
    violations.extend(_cross_checks(record, names, bad))
    return violations


_FIELD_SET = frozenset(FIELD_NAMES)


def _cross_checks(record: dict, names: tuple[str, ...], bad: set[str]) -> list[Violation]:
    out: list[Violation] = []
    type_code, idcode = record.get("id_card_type_code"), record.get("idcode")
    if "idcode" in names and "idcode" not in bad and "id_card_type_code" not in bad and type_code and idcode:
        try:
            parsed = check_idcode(type_code, idcode)
        except IdNumberError as exc:
            out.append(_v("idcode", exc.reason, exc.message))
        else:
            if parsed is not None:
                birthday, sex = record.get("birthday"), record.get("sex")
                if "birthday" in names and birthday and "birthday" not in bad and birthday != parsed.birthday.isoformat():
                    out.append(_v("birthday", "birthday_mismatch", "出生日期与证件号码中的出生日期不一致"))
                if "sex" in names and sex and "sex" not in bad and sex != parsed.sex:
                    out.append(_v("sex", "sex_mismatch", "性别与证件号码不一致"))
    if "name" in names and "name" not in bad and record.get("name") and type_code in ("01", "02"):
        out.extend(_check_chinese_document_name(record["name"]))
    if "nationality" in names and "nationality" not in bad and is_blank(record.get("nationality")) \
            and uses_nationality_in_key(type_code, idcode):
        out.append(_v("nationality", "required", "使用护照等证件时必须填写国籍"))
    if "authentication_method" in names and "authentication_method" not in bad:
        method, flag = record.get("authentication_method"), record.get("recognize_flag")
        if flag == 1 and is_blank(method):
            out.append(_v("authentication_method", "required", "已实名认证的记录必须填写实名认证方式"))
    if "cd_batch" in names and "cd_batch" not in bad and "cd_source" not in bad:
        batch, source = record.get("cd_batch") or "", record.get("cd_source") or ""
        if batch and source and not batch.startswith(source):
            out.append(_v("cd_batch", "source_mismatch", "批次号前4位应与来源一致"))
    return out


def canonical_methods(*methods: str) -> str:
    """Join method sets: '2', '3^4' -> '2^3^4' (ascending, no repeats)."""
    seen = {m for group in methods if group for m in group.split("^") if m}
    return "^".join(sorted(seen))

"""The 5.2.2 real-name authentication record, once, as data; and the validators that read it.

Forms, the record builder, the CSV import and the sandbox receiver all validate through
``validate_record`` / ``validate_field``. Each violation is a (field, reason code, Chinese message)
triple; reason codes are stable for machines.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable

from erhc_h5.records import codes
from erhc_h5.records.idnumbers import IdNumberError, check_idcode, normalize_idcode


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
PROFILE_FIELDS = (
    "name", "sex", "nation", "nationality", "birthday", "address", "id_card_type_code", "idcode",
    "phone", "linkman", "telephone", "birthplace", "county_code", "current_address",
    "authentication_method",
)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f\u3007"
_NAME = re.compile(rf"^[{_CJK}A-Za-z\u00c0-\u024f]+([ ·][{_CJK}A-Za-z\u00c0-\u024f]+)*$")
_DOTS = str.maketrans({"\u2027": "·", "\u30fb": "·", "\u2022": "·", "\uff0e": "·", "\u00b7": "·"})
_PHONE = re.compile(r"^1[3-9]\d{9}$")
_TELEPHONE = re.compile(r"^\+?[0-9][0-9\- ]{4,19}$")
_METHOD = re.compile(r"^[1-4](\^[1-4])*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_GUID = re.compile(r"^[0-9A-Fa-f]{32}$")
_ALNUM = re.compile(r"^[0-9A-Za-z]+$")
_COUNTY = re.compile(r"^\d{6}(\d{3}|\d{6})?$")
_CD_SOURCE = re.compile(r"^\d{4}$")
_CD_BATCH = re.compile(r"^(\d{4})(\d{12})(\d{3})$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff]")


def _v(field: str, reason: str, message: str) -> Violation:
    return Violation(field, reason, message)


def normalize_text(value: Any) -> Any:
    """NFKC-free trim of a text value; None and non-strings pass through unchanged."""
    if isinstance(value, str):
        return value.strip()
    return value


def normalize_name(value: str) -> str:
    """Collapse spaces and unify the middle dot used in minority and foreign names."""
    value = re.sub(r"\s+", " ", (value or "").strip())
    return value.translate(_DOTS)


def normalize_record(data: dict) -> dict:
    """Normalize user-typed values (forms, CSV) before validation: trim, half-width digits, dots."""
    out: dict = {}
    for key, value in data.items():
        if isinstance(value, str):
            value = value.strip()
            if key in ("idcode",):
                value = normalize_idcode(value)
            elif key in ("phone", "telephone", "county_code", "sex", "nation", "id_card_type_code",
                         "authentication_method", "birthday"):
                value = unicodedata.normalize("NFKC", value).strip()
            elif key in ("name", "linkman"):
                value = normalize_name(value)
            elif key == "nationality":
                value = value.upper()
        out[key] = value
    return out


# --- per-field rules ---------------------------------------------------------------------------

def _check_name(field: str, value: str) -> list[Violation]:
    label = FIELD_BY_NAME[field].label
    if _CONTROL.search(value):
        return [_v(field, "bad_characters", f"{label}含有不可见或控制字符")]
    if re.search(r"\d", value):
        return [_v(field, "bad_characters", f"{label}不能包含数字")]
    if not _NAME.match(value):
        return [_v(field, "bad_characters", f"{label}只能包含汉字、字母、间隔号“·”和空格")]
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


def _check_date(field: str, value: str) -> list[Violation]:
    if not _DATE.match(value):
        return [_v(field, "bad_format", "出生日期格式应为yyyy-MM-dd,例如1990-01-31")]
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return [_v(field, "bad_date", f"出生日期{value}不存在")]
    if day > dt.date.today() or day.year < 1880:
        return [_v(field, "out_of_range", "出生日期不在合理范围内")]
    return []


def _check_phone(field: str, value: str) -> list[Violation]:
    if not value.isdigit() or len(value) != 11:
        return [_v(field, "bad_length", "手机号应为11位数字")]
    if not _PHONE.match(value):
        return [_v(field, "bad_format", "手机号格式不正确,应以13至19开头")]
    return []


def _check_telephone(field: str, value: str) -> list[Violation]:
    if not _TELEPHONE.match(value):
        return [_v(field, "bad_format", "联系人电话只能包含数字、“+”、“-”和空格,5至20位")]
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
    if codes.division_name(value[:6]) is None:
        return [_v(field, "unknown_division", f"区县代码{value[:6]}不是已知的行政区划代码")]
    return []


def _check_datetime(field: str, value: str) -> list[Violation]:
    if not _DATETIME.match(value):
        return [_v(field, "bad_format", "插入时间格式应为yyyy-MM-dd HH:mm:ss")]
    try:
        dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return [_v(field, "bad_date", f"插入时间{value}不存在")]
    return []


def _check_cd_source(field: str, value: str) -> list[Violation]:
    if not _CD_SOURCE.match(value):
        return [_v(field, "bad_format", "来源应为行政区划代码前4位数字")]
    return []


def _check_cd_batch(field: str, value: str) -> list[Violation]:
    match = _CD_BATCH.match(value)
    if not match:
        return [_v(field, "bad_format", "批次号应为4位区划代码+12位时间(yyyyMMddHHmm)+3位流水号")]
    try:
        dt.datetime.strptime(match.group(2), "%Y%m%d%H%M")
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


def validate_field(name: str, value: Any) -> list[Violation]:
    """Check one field on its own: presence, type, length in characters, format and code table."""
    spec = FIELD_BY_NAME[name]
    if is_blank(value):
        if spec.required and name != "authentication_method":
            return [_v(name, "required", f"{spec.label}不能为空")]
        return []
    if spec.type == "N":
        if isinstance(value, bool) or not isinstance(value, int) or value not in codes.RECOGNIZE_FLAGS:
            return [_v(name, "bad_value", f"{spec.label}应为数字1或0")]
        return []
    if not isinstance(value, str):
        return [_v(name, "bad_type", f"{spec.label}应为文本")]
    if len(value) > spec.max_len:
        return [_v(name, "too_long", f"{spec.label}不能超过{spec.max_len}个字符")]
    rule = FIELD_RULES.get(name, _check_text)
    return rule(name, value)


def validate_record(record: dict, *, fields: tuple[str, ...] | None = None) -> list[Violation]:
    """Check a record (wire types: recognize_flag int, the rest strings or None) field by field
    and across fields. ``fields`` limits the check to a subset (forms, imports)."""
    names = fields or FIELD_NAMES
    violations: list[Violation] = []
    for name in names:
        violations.extend(validate_field(name, record.get(name)))
    if fields is None:
        unknown = sorted(set(record) - set(FIELD_NAMES))
        violations.extend(_v(k, "unknown_field", f"未知字段{k}") for k in unknown[:5])
    bad = {v.field for v in violations}
    violations.extend(_cross_checks(record, names, bad))
    return violations


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

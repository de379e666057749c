"""Code tables of the data standard: sex, ethnicity, nationality, ID document types, divisions.

Divisions come from two tables with two jobs. ``data/divisions.csv`` is the current list (county
level and above, rebuilt by ``scripts/refresh_divisions.py``; its header names the source and
date): a place of residence must be current. python-stdnum's historical table also knows
abolished codes: an ID number's issuing division may be one of those, and is only ever a warning.
"""
from __future__ import annotations

import csv
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from erhc_h5.text import ascii_digits

DIVISIONS_FILE = Path(__file__).resolve().parent / "data" / "divisions.csv"

# GB/T 2261.1
SEX = {"0": "未知的性别", "1": "男", "2": "女", "9": "未说明的性别"}

# GB/T 3304, 01-56 in code order, then 97 and 98.
_NATION_NAMES = (
    "汉族 蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族 满族 侗族 瑶族 白族 土家族 哈尼族 "
    "哈萨克族 傣族 黎族 傈僳族 佤族 畲族 高山族 拉祜族 水族 东乡族 纳西族 景颇族 柯尔克孜族 土族 达斡尔族 "
    "仫佬族 羌族 布朗族 撒拉族 毛南族 仡佬族 锡伯族 阿昌族 普米族 塔吉克族 怒族 乌孜别克族 俄罗斯族 鄂温克族 "
    "德昂族 保安族 裕固族 京族 塔塔尔族 独龙族 鄂伦春族 赫哲族 门巴族 珞巴族 基诺族"
).split()
NATIONS: dict[str, str] = {f"{i:02d}": name for i, name in enumerate(_NATION_NAMES, start=1)}
NATIONS["97"] = "其他"
NATIONS["98"] = "外国血统中国籍人士"

# WS 364.3 CV02.01.101
ID_CARD_TYPES = {
    "01": "居民身份证",
    "02": "居民户口簿",
    "03": "护照",
    "04": "军官证",
    "05": "驾驶证",
    "06": "港澳居民来往内地通行证",
    "07": "台湾居民来往内地通行证",
    "99": "其他法定有效证件",
}


class AuthMethod(StrEnum):
    """The real-name methods: the 5.2.2 ``authentication_method`` codes (several joined by ``^``)."""

    TWO_FACTOR = "1"
    THREE_FACTOR = "2"
    FACE = "3"
    ONSITE = "4"


def joined_methods(*methods: AuthMethod) -> str:
    """The field's value for methods used together: (FACE, ONSITE) -> '3^4'."""
    return "^".join(methods)


def has_method(methods: str | None, method: AuthMethod) -> bool:
    """Whether a field value ('3^4') includes ``method``."""
    return method in (methods or "").split("^")


# A face check passed, then the document inspected on-site.
FACE_THEN_ONSITE = joined_methods(AuthMethod.FACE, AuthMethod.ONSITE)
AUTH_METHODS = {AuthMethod.TWO_FACTOR: "二要素认证", AuthMethod.THREE_FACTOR: "三要素认证",
                AuthMethod.FACE: "面部识别", AuthMethod.ONSITE: "现场认证"}

CD_OPERATIONS = {"i": "新增", "u": "更新", "d": "删除"}

RECOGNIZE_FLAGS = {1: "已实名认证", 0: "尚未实名认证"}


@lru_cache(maxsize=1)
def nationalities() -> dict[str, str]:
    """GB/T 2659 (ISO 3166-1): alpha-3 codes and 3-digit numeric codes, each to the alpha-3 code."""
    import pycountry

    table: dict[str, str] = {}
    for country in pycountry.countries:
        table[country.alpha_3] = country.alpha_3
        table[country.numeric] = country.alpha_3
    return table


def is_nationality(code: str) -> bool:
    return code.upper() in nationalities()


def to_alpha3(code: str) -> str:
    """GB/T 2659 alpha-3 for an alpha-3 or numeric code ('156' -> 'CHN'); unknown codes unchanged."""
    code = (code or "").strip().upper()
    return nationalities().get(code, code)


@lru_cache(maxsize=1)
def current_divisions() -> dict[str, tuple[str, str]]:
    """The current divisions: 6-digit code -> (name, level: province | city | county)."""
    with open(DIVISIONS_FILE, encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(line for line in fh if not line.startswith("#"))
        return {row["code"]: (row["name"], row["level"]) for row in rows}


def divisions_source() -> str:
    """The header lines of the division table: where it comes from and the date it is valid at."""
    with open(DIVISIONS_FILE, encoding="utf-8") as fh:
        return " ".join(line[1:].strip() for line in fh if line.startswith("#"))


def current_county(code: str) -> str | None:
    """The full name (province, city, county) of a current county-level division, or None."""
    table = current_divisions()
    entry = table.get(code[:6]) if len(code) >= 6 else None
    if entry is None or entry[1] != "county":
        return None
    parts = [table.get(code[:2] + "0000", ("", ""))[0], table.get(code[:4] + "00", ("", ""))[0], entry[0]]
    return "".join(dict.fromkeys(p for p in parts if p and p not in ("市辖区", "县", "省直辖县级行政区划")))


def counties_of(prefix: str) -> list[tuple[str, str]]:
    """(code, name) of the current counties whose code starts with ``prefix`` (a city's 4 digits)."""
    return [(code, name) for code, (name, level) in sorted(current_divisions().items())
            if level == "county" and code.startswith(prefix)]


@lru_cache(maxsize=4096)
def division_name(code: str) -> str | None:
    """The name of a 6-digit division, current or historical (python-stdnum's table), or None."""
    from stdnum import numdb

    if len(code) < 6 or not ascii_digits(code[:6]):
        return None
    if (current := current_county(code[:6])) is not None:
        return current
    parts = numdb.get("cn/loc").info(code[:6])
    names = [props.get("province") or props.get("county") for _, props in parts]
    if len(parts) < 2 or not all(names):
        return None
    return "".join(n.split("]")[-1] for n in names)


def method_label(methods: str) -> str:
    """'2^3' -> '三要素认证+面部识别'."""
    if not methods:
        return ""
    return "+".join(AUTH_METHODS.get(m, m) for m in methods.split("^"))

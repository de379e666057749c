"""Staff password rules: length, never the username, and not guessable.

Guessability is zxcvbn's estimate (dictionaries of leaked passwords, names and words; keyboard walks,
repeats, sequences, dates), with the username, display name and a few stems common in Chinese
passwords as extra dictionary words. A password needs score 3 (about 10^8 guesses) or more.
"""
from __future__ import annotations

from zxcvbn import zxcvbn

from erhc_h5.errors import DomainError

MIN_LENGTH, MAX_LENGTH, MIN_SCORE = 10, 128, 3
# Stems of the most common Chinese passwords (public leaked-password top lists), and this service's
# own words; zxcvbn's dictionaries are English.
LOCAL_WORDS = ("woaini", "5201314", "1314520", "520520", "woaini1314", "aini", "qq", "wangyi", "zhang", "wang",
               "liu", "chen", "huang", "zhao", "abc123", "a123456", "erhc", "jiankang", "jiankangma", "jkm",
               "yimiao", "jiezhong", "weijian", "admin", "staff")
_PATTERNS = {  # zxcvbn match pattern -> what a person is told (Chinese)
    "dictionary": "常见密码或常用词、姓名",
    "spatial": "键盘上相邻的按键",
    "repeat": "重复的字符",
    "sequence": "连续的字母或数字",
    "date": "日期",
    "regex": "年份",
}


class WeakPassword(DomainError, ValueError):
    """A password the rules refuse: ``reason`` stable, the message in Chinese."""

    status = 422


def check_strength(password: str, *, username: str, display_name: str = "") -> None:
    """Raise WeakPassword unless ``password`` is long enough, free of the username and hard to guess."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword("password_too_short", f"密码至少{MIN_LENGTH}位")
    if len(password) > MAX_LENGTH:
        raise WeakPassword("password_too_long", f"密码不能超过{MAX_LENGTH}位")
    name = (username or "").strip().lower()
    if len(name) >= 3 and name in password.lower():
        raise WeakPassword("password_has_username", "密码不能包含用户名")
    result = zxcvbn(password[:72], user_inputs=[name, display_name, *LOCAL_WORDS])
    if result["score"] < MIN_SCORE:
        found = dict.fromkeys(_PATTERNS[m["pattern"]] for m in result["sequence"] if m["pattern"] in _PATTERNS)
        hint = f"(含{'、'.join(found)})" if found else ""
        raise WeakPassword("password_guessable", f"密码太容易被猜到{hint},请使用更长、更无规律的密码,"
                                                 "例如几个不相关的词加数字和符号")

"""Small checks on text from outside."""
from __future__ import annotations


def ascii_digits(value: str) -> bool:
    """Only the digits 0-9, at least one. ``str.isdigit`` also takes ², ³ and other scripts' digits,
    which ``int()`` refuses or reads as another number, and no standard field allows."""
    return value.isascii() and value.isdigit()

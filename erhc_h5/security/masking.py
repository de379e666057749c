"""Masking of personal values for people to read: 张*三, 3301**********1234, 138****5678."""
from __future__ import annotations

from erhc_h5.text import ascii_digits


def mask_name(name: str | None) -> str:
    """Keep the first and last character of a name."""
    if not name:
        return ""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_idcode(idcode: str | None) -> str:
    """Keep the first four and last four characters of a document number."""
    if not idcode:
        return ""
    if len(idcode) <= 8:
        return idcode[:1] + "*" * (len(idcode) - 2) + idcode[-1:] if len(idcode) > 2 else "*" * len(idcode)
    return idcode[:4] + "*" * (len(idcode) - 8) + idcode[-4:]


def mask_phone(phone: str | None) -> str:
    """Keep the first three and last four digits of a phone number."""
    if not phone:
        return ""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_address(address: str | None) -> str:
    """Keep the first six characters of an address."""
    if not address:
        return ""
    return address[:6] + "****" if len(address) > 6 else "****"


def mask_account(account: str | None) -> str:
    """An app's account id as a hint: the first two and last two characters (an 11-digit phone as a phone)."""
    if not account:
        return ""
    if len(account) == 11 and ascii_digits(account):
        return mask_phone(account)
    if len(account) <= 4:
        return account[:1] + "*" * (len(account) - 1)
    return account[:2] + "*" * min(6, len(account) - 4) + account[-2:]

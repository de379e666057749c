"""Access to the identity, SMS and face providers from the journey (tests may inject their own)."""
from __future__ import annotations

from flask import current_app

KEY = "erhc_resident_providers"


def providers():
    """The providers bundle (``.identity``, ``.sms``, ``.face``) of the current app."""
    injected = current_app.extensions.get(KEY)
    if injected is not None:
        return injected
    from erhc_h5.identity import get_providers

    return get_providers()


def sandbox_code(phone: str) -> str | None:
    """In sandbox mode, the code the sandbox SMS gateway last 'sent' to this phone (shown on the page)."""
    if not current_app.config["SANDBOX"]:
        return None
    reader = getattr(providers().sms, "sandbox_last_code", None)
    return reader(phone) if callable(reader) else None

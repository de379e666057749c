"""Last line of defence for logs: mask anything shaped like a resident ID number or a mobile number."""
from __future__ import annotations

import logging
import re

from erhc_h5.security.masking import mask_idcode, mask_phone

# 18-character resident ID (GB 11643) standing alone, and a mainland mobile number standing alone.
RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")


def redact(text: str) -> str:
    """Mask ID-number-shaped and mobile-shaped runs in a string."""
    if not text or not any(ch.isdigit() for ch in text):
        return text
    text = RESIDENT_ID.sub(lambda m: mask_idcode(m.group(0)), text)
    return MOBILE.sub(lambda m: mask_phone(m.group(0)), text)


def redact_value(value):
    """Redact strings inside a structured value (dicts, lists, tuples) without touching other types."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(v) for v in value)
    return value


class PiiRedactingFilter(logging.Filter):
    """Rewrite a record in place so every handler after this one sees masked text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the event or leak its args
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        event = getattr(record, "event", None)
        if isinstance(event, dict):
            record.event = redact_value(event)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(logger: logging.Logger, handler: logging.Handler | None = None) -> PiiRedactingFilter:
    """Attach the filter (once) to a logger and, optionally, one of its handlers."""
    targets = [logger] + ([handler] if handler is not None else [])
    found = next((f for t in targets for f in t.filters if isinstance(f, PiiRedactingFilter)), None)
    filt = found or PiiRedactingFilter()
    for target in targets:
        if filt not in target.filters:
            target.addFilter(filt)
    return filt

"""Where a ``next=`` parameter may send the browser: a path on this site, nothing else."""
from __future__ import annotations

from urllib.parse import unquote, urlsplit

MAX_LENGTH = 2000


def _plain_path(text: str) -> bool:
    """A single leading slash, no second one at any point, no backslash (browsers read it as a
    slash), no control character or whitespace (browsers drop tabs and newlines, so ``/\\t/x`` is
    ``//x``; a CR/LF would split the Location header), no scheme or host."""
    if not text.startswith("/") or "//" in text or "\\" in text:
        return False
    if any(c.isspace() or ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in text):
        return False
    parts = urlsplit(text)
    return not (parts.scheme or parts.netloc)


def safe_next(value: object, default: str) -> str:
    """``value`` when it is a same-site path, also once percent-decoded (twice, as some proxies do),
    else ``default``."""
    if not isinstance(value, str) or not value or len(value) > MAX_LENGTH:
        return default
    text = value
    for _ in range(3):
        if not _plain_path(text):
            return default
        decoded = unquote(text)
        if decoded == text:
            return value
        text = decoded
    return default

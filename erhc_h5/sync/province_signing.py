"""The sandbox province's own reading of the signed-request scheme (SPEC "Provincial upload" and
"Province verification"), written apart from the city's client so that a mistake on one side is
not copied to the other: both directions sign

    "POST\\n" + path + "\\n" + unix seconds + "\\n" + nonce + "\\n" + lowercase hex SHA-256 of the body

with HMAC-SHA256 and send it as lowercase hex in ``X-Erhc-Signature``.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time


def sign(secret: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the signed text."""
    text = f"POST\n{path}\n{timestamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}"
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def matches(secret: str, path: str, timestamp: str, nonce: str, body: bytes, presented: str) -> bool:
    """Whether ``presented`` is the signature (compared in constant time)."""
    return hmac.compare_digest(sign(secret, path, timestamp, nonce, body).encode(),
                               presented.encode("utf-8", "replace"))


def signed_headers(app_id: str, secret: str, path: str, body: bytes, *, now: float | None = None,
                   nonce: str | None = None) -> dict:
    """The four X-Erhc-* headers (and the JSON content type) of one POST; a fresh nonce unless given."""
    stamp = str(int(time.time() if now is None else now))
    nonce = nonce or secrets.token_hex(16)
    return {"X-Erhc-App-Id": app_id, "X-Erhc-Timestamp": stamp, "X-Erhc-Nonce": nonce,
            "X-Erhc-Signature": sign(secret, path, stamp, nonce, body), "Content-Type": "application/json"}

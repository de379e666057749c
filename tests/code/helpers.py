"""Test helpers shared by the code and scan tests: residents bound to a browser session, scans, code texts."""
from __future__ import annotations

import json
import time

from tests.factories import make_card, resident_id


def idcode(seq: int, birth: str = "19900307", county: str = "330106") -> str:
    """A well-formed resident ID number (valid check character)."""
    return resident_id(county, birth, seq)


def login_resident(client, user) -> None:
    """Bind the test client's cookie session to this app user (what a verified launch does)."""
    with client.session_transaction() as sess:
        sess["resident"] = resident_cookie(user.id, user.app_id, user.session_version)


def resident_cookie(app_user_id: int, app_id: int, version: int | None = 1) -> dict:
    """The resident part of the cookie a launch writes: the user, its app, its session version, when."""
    return {"app_user": app_user_id, "app": app_id, "consent": None, "v": int(version or 1), "iat": int(time.time())}


def post_scan(client, token: str, code: str):
    """POST a code to the scan API as a device would (bearer token, JSON body)."""
    return client.post("/api/v1/scan", data=json.dumps({"code": code}),
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})


def seed_with_card(app, codes: int = 1):
    """On a database with real commits: the demo seed, one authenticated card and ``codes`` fresh
    codes for it; returns (seed JSON, card, the card's identity, codes)."""
    from erhc_h5.sandbox import demo
    from erhc_h5.code import tokens
    from erhc_h5.db import session_scope

    with app.app_context(), session_scope() as session:
        seeded = demo.seed(app, session)
        session.commit()
        card, _, identity = make_card(session, seeded, methods="2")
        return seeded, card, identity, [tokens.issue(session, card.id).text for _ in range(codes)]


def b36(n: int) -> str:
    """Base 36, lowercase (the code text's times), written here apart from the code under test."""
    digits, out = "0123456789abcdefghijklmnopqrstuvwxyz", ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def signed(secret: str, body: str) -> str:
    """``body`` with its signature as the code text documents it: base64url without padding of
    HMAC-SHA256 under the key HMAC-SHA256(secret, "erhc-code-v1") (standard library only)."""
    import base64
    import hashlib
    import hmac

    key = hmac.new(secret.encode(), b"erhc-code-v1", hashlib.sha256).digest()
    sig = base64.urlsafe_b64encode(hmac.new(key, body.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    return f"{body}.{sig}"


def code_text(secret: str, kid: str, ref: str, iat: int, exp: int, *, issuer: str | None, nonce: str = "testNonc") -> str:
    """A code built from its documented text: ``EHC2.<issuer>.…``, or the older ``EHC1.…`` when
    ``issuer`` is None."""
    head = "EHC1" if issuer is None else f"EHC2.{issuer}"
    return signed(secret, f"{head}.{kid}.{ref}.{b36(iat)}.{b36(exp)}.{nonce}")

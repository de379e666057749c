"""Column encryption at rest: keyring checks, no clear personal data in the raw database."""
from __future__ import annotations

import base64
import os

import pytest
from sqlalchemy import select

from erhc_h5.cards.service import find_card, issue_or_update_card, update_profile
from erhc_h5.resident.models import VerificationSession
from erhc_h5.security.pii import Keyring, PIIError
from tests.factories import verification_session
from tests.security.helpers import clear_forms, raw_dump, residents
from tests.support import demo_app


def _ring(cipher="sm4-gcm", **keys):
    return Keyring(keys=keys or {"k1": os.urandom(32)}, active=next(iter(keys or {"k1": 0})), cipher=cipher)


@pytest.mark.parametrize("cipher", ["sm4-gcm", "aes-256-gcm"])
def test_round_trip_random_nonce_and_key_id(cipher):
    ring = _ring(cipher)
    a, b = ring.encrypt("张三丰"), ring.encrypt("张三丰")
    assert a != b, "the same value must encrypt differently each time (random nonce)"
    assert a.startswith(("s" if cipher == "sm4-gcm" else "a") + "k1$")
    assert ring.decrypt(a) == ring.decrypt(b) == "张三丰"
    assert "张三丰" not in a


def test_tampering_and_foreign_values_are_refused():
    ring = _ring()
    stored = ring.encrypt("330106199003071236")
    head, _, blob = stored.partition("$")
    flipped = blob[:20] + ("A" if blob[20] != "A" else "B") + blob[21:]
    for bad in (f"{head}${flipped}", "", "plain text", "s$abc", "xk1$" + blob, "sk1$", "sk1$@@@", "sk9$" + blob):
        with pytest.raises(PIIError):
            ring.decrypt(bad)
    other = Keyring(keys={"k1": os.urandom(32)}, active="k1")
    with pytest.raises(PIIError):
        other.decrypt(stored)
    # A value moved under another key id fails: the key id is authenticated data.
    both = Keyring(keys={"k1": ring.keys["k1"], "k2": ring.keys["k1"]}, active="k1")
    with pytest.raises(PIIError):
        both.decrypt("sk2$" + blob)


@pytest.mark.parametrize("keys, active, cipher", [
    ({"k1": b"fifteen-bytes!!"}, "k1", "sm4-gcm"),
    ({"k1": os.urandom(31)}, "k1", "aes-256-gcm"),  # AES-256 is never zero-padded
    ({"k1": os.urandom(32)}, "k2", "sm4-gcm"),
    ({"k$1": os.urandom(32)}, "k$1", "sm4-gcm"),
    ({}, "k1", "sm4-gcm"),
    ({"k1": os.urandom(32)}, "k1", "des"),
])
def test_bad_keyrings_are_refused(keys, active, cipher):
    with pytest.raises(PIIError):
        Keyring(keys=keys, active=active, cipher=cipher)


def test_config_keys_are_parsed_and_checked():
    key = base64.b64encode(os.urandom(32)).decode()
    ring = Keyring.from_config({"PII_KEYS": f'{{"p1": "{key}"}}', "PII_ACTIVE_KEY_ID": "p1", "PII_CIPHER": "aes-256-gcm"})
    assert ring.active_prefix == "ap1$"
    for raw in ("not json", '["a"]', '{"p1": "!!!"}'):
        with pytest.raises(PIIError):
            Keyring.from_config({"PII_KEYS": raw, "PII_ACTIVE_KEY_ID": "p1", "PII_CIPHER": "sm4-gcm"})


def test_raw_database_holds_no_clear_personal_data(db_session, seeded):
    app_row = demo_app(db_session)
    people = residents(6)
    for i, person in enumerate(people):
        card = issue_or_update_card(db_session, dict(person), app_row, methods=None if i == 0 else "2")
        if i % 2:
            update_profile(db_session, card, {"current_address": person["current_address"] + "1幢"})
        verification_session(db_session, f"vs{i}", payload=dict(person))
    db_session.commit()
    assert find_card(db_session, "01", people[3]["idcode"]).name == people[3]["name"]
    dump = raw_dump(db_session.connection())
    assert dump["ehealth_cards"] and dump["auth_records"] and dump["verification_sessions"]
    leaks = [(table, value) for table, blob in dump.items() for p in people for value in clear_forms(p) if value in blob]
    assert leaks == [], f"clear personal data in {sorted({t for t, _ in leaks})}"


def test_raw_search_would_catch_a_leak(db_session, seeded):
    """The search itself works: a value written in clear into a plain column is found."""
    person = residents(1)[0]
    verification_session(db_session, "leak", state="failed", failure_reason=person["phone"])
    dump = raw_dump(db_session.connection())
    assert person["phone"] in dump["verification_sessions"]
    assert db_session.scalar(select(VerificationSession.id).where(VerificationSession.id == "leak" + "0" * 28))

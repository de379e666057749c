"""A code's lifetime is bounded, retired keys verify only what they signed before, and `flask keys
revoke` ends a key's codes at once; every revocation raises the counter workers check."""
from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest
from sqlalchemy import select

from erhc_h5.audit import AuditEntry
from erhc_h5.code import keys, tokens
from erhc_h5.code.models import CodeSigningKey
from erhc_h5.scan.devices import enrol_device, revoke_device
from erhc_h5.security import revocation
from tests.code.helpers import code_text, post_scan
from tests.factories import make_card

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def card(db_session, seeded):
    return make_card(db_session, seeded, methods="2")[0]


def _key_and_ref(db_session, card):
    text = tokens.issue(db_session, card.id).text
    db_session.commit()
    return db_session.get(CodeSigningKey, text.split(".")[2]), text.split(".")[3], text


def test_a_code_lives_at_most_its_lifetime_plus_the_clock_allowance(app, db_session, card):
    key, ref, _ = _key_and_ref(db_session, card)
    limit = app.config["CODE_TTL_SECONDS"] + app.config["CODE_CLOCK_SKEW_SECONDS"]
    now = int(time.time())
    issuer = app.config["CD_SOURCE"]
    tokens.verify(db_session, code_text(key.secret, key.kid, ref, now, now + limit, issuer=issuer), now + 1)
    for too_long in (limit + 1, 10 * 365 * 24 * 3600):
        for head in (issuer, None):
            with pytest.raises(tokens.CodeError) as exc:
                tokens.verify(db_session, code_text(key.secret, key.kid, ref, now, now + too_long, issuer=head), now + 1)
            assert exc.value.reason == "bad_lifetime" and CJK.search(str(exc.value))


def test_a_retired_key_verifies_only_what_it_signed_before_its_retirement(app, db_session, card):
    key, ref, _ = _key_and_ref(db_session, card)
    keys.rotate(db_session)
    db_session.commit()
    retired = int(db_session.get(CodeSigningKey, key.kid).retired_at.replace(tzinfo=dt.UTC).timestamp())
    ttl, skew = app.config["CODE_TTL_SECONDS"], app.config["CODE_CLOCK_SKEW_SECONDS"]
    issuer = app.config["CD_SOURCE"]
    before = code_text(key.secret, key.kid, ref, retired - 5, retired - 5 + ttl, issuer=issuer)
    tokens.verify(db_session, before, retired)
    with pytest.raises(tokens.CodeError) as exc:
        tokens.verify(db_session, before, retired - 5 + ttl + skew)
    assert exc.value.reason == "expired"
    after = code_text(key.secret, key.kid, ref, retired + skew + 1, retired + skew + 1 + ttl, issuer=issuer)
    with pytest.raises(tokens.CodeError) as exc:
        tokens.verify(db_session, after, retired + skew + 2)
    assert exc.value.reason == "bad_signature"


def test_revoking_the_active_key_refuses_its_codes_and_signs_with_a_new_key(app, client, db_session, seeded, card):
    key, _, code = _key_and_ref(db_session, card)
    assert post_scan(client, seeded["device_token"], code).json["result"] == "authenticated"
    runner = app.test_cli_runner()
    out = runner.invoke(args=["keys", "revoke", key.kid])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output.strip().splitlines()[-1])
    assert result["kid"] == key.kid and result["revoked_at"] and result["new_kid"] not in (None, key.kid)
    r = post_scan(client, seeded["device_token"], code)
    assert r.status_code == 422 and r.json["error"] == "key_revoked" and CJK.search(r.json["message"])
    fresh = tokens.issue(db_session, card.id).text
    db_session.commit()
    assert fresh.split(".")[2] == result["new_kid"]
    assert post_scan(client, seeded["device_token"], fresh).json["result"] == "authenticated"
    again = runner.invoke(args=["keys", "revoke", key.kid])  # idempotent: no second new key
    assert again.exit_code == 0 and json.loads(again.output.strip().splitlines()[-1])["new_kid"] is None
    assert db_session.scalar(select(AuditEntry).where(AuditEntry.action == "code_key_revoked")) is not None
    listed = [json.loads(line) for line in runner.invoke(args=["keys", "list"]).output.splitlines()]
    assert {k["kid"]: k["revoked_at"] is not None for k in listed} == {key.kid: True, result["new_kid"]: False}
    assert "secret" not in runner.invoke(args=["keys", "list"]).output


def test_revoking_a_retired_key_makes_no_new_key_and_an_unknown_key_is_refused(app, db_session, card):
    key, _, code = _key_and_ref(db_session, card)
    new = keys.rotate(db_session)
    db_session.commit()
    out = app.test_cli_runner().invoke(args=["keys", "revoke", key.kid])
    assert out.exit_code == 0 and json.loads(out.output.strip().splitlines()[-1])["new_kid"] is None
    assert tokens.issue(db_session, card.id).text.split(".")[2] == new.kid
    with pytest.raises(tokens.CodeError) as exc:
        tokens.verify(db_session, code)
    assert exc.value.reason == "key_revoked"
    unknown = app.test_cli_runner().invoke(args=["keys", "revoke", "zzzz" if key.kid != "zzzz" else "yyyy"])
    assert unknown.exit_code != 0 and "找不到签名密钥" in unknown.output


def test_every_revocation_raises_the_counter_once(app, db_session, card):
    def counter() -> int:
        return revocation.read(db_session)

    start = counter()
    key, _, _ = _key_and_ref(db_session, card)
    assert counter() == start  # issuing (even the first key) revokes nothing
    keys.rotate(db_session)
    assert counter() == start + 1
    keys.revoke(db_session, key.kid)  # retired already: still revoked now
    assert counter() == start + 2
    keys.revoke(db_session, key.kid)  # revoked already: nothing changes
    assert counter() == start + 2
    device, _ = enrol_device(db_session, "计数测试枪", "")
    assert counter() == start + 2
    revoke_device(db_session, device.id)
    assert counter() == start + 3
    revoke_device(db_session, device.id)
    assert counter() == start + 3

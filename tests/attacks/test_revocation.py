"""Ending what leaked: a code-signing key and a scan device, refused at once in every worker.

A retired key must not mint long-lived codes; a revoked key (``flask keys revoke``) and a revoked
device must be refused on the very next request by every gunicorn worker, whatever each worker had
cached a moment before.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from erhc_h5.code import tokens
from erhc_h5.code.models import CodeSigningKey
from erhc_h5.scan.devices import enrol_device, revoke_device
from tests.attacks.harness import race
from tests.code.helpers import code_text, post_scan
from tests.factories import make_card

TEN_YEARS = 10 * 365 * 24 * 3600
PARALLEL = 30


def test_a_leaked_retired_key_cannot_mint_a_code_that_lives_ten_years(app, client, db_session, seeded):
    """The attack as seen: a key read from the database, `flask keys rotate`, then a code forged with
    iat = the retirement time and exp ten years later. Neither text of the code may scan."""
    card, _, _ = make_card(db_session, seeded, methods="2")
    tokens.issue(db_session, card.id)  # the first key, now in use
    db_session.commit()
    leaked = db_session.query(CodeSigningKey).one()
    kid, secret = leaked.kid, leaked.secret
    rotated = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    db_session.expire_all()
    retired_at = int(db_session.get(CodeSigningKey, kid).retired_at.replace(tzinfo=dt.UTC).timestamp())
    ref = tokens.card_ref(db_session, card.id)
    db_session.commit()
    cd_source = app.config["CD_SOURCE"]
    for forged in (code_text(secret, kid, ref, retired_at, retired_at + TEN_YEARS, issuer=None),
                   code_text(secret, kid, ref, retired_at, retired_at + TEN_YEARS, issuer=cd_source)):
        r = post_scan(client, seeded["device_token"], forged)
        assert r.status_code == 422, r.json.get("error") or r.json.get("result")
        assert r.json["error"] == "bad_lifetime" and r.json["message"]


def _warm(server, code: str, token: str) -> Counter:
    """Scan one code from one device in parallel, three times, so every worker has cached the
    device and the key; returns the statuses."""
    seen: Counter = Counter()
    for _ in range(3):
        answers = race(PARALLEL, lambda i, s: s.post(server.url("/api/v1/scan"), json={"code": code},
                                                     headers={"Authorization": f"Bearer {token}"}, timeout=60))
        seen.update(a.status_code for a in answers)
    return seen


def test_a_revoked_key_is_refused_by_every_worker_at_once(server):
    with server.db() as session:
        card, _, _ = make_card(session, server.seed, seq=905, name="密钥吊")
        _, token = enrol_device(session, "吊销密钥测试枪", "城西接种点")
    with server.db() as session:
        code = tokens.issue(session, card.id).text
    kid = code.split(".")[2]
    assert _warm(server, code, token) == {200: 3 * PARALLEL}
    with server.app.app_context():
        out = server.app.test_cli_runner().invoke(args=["keys", "revoke", kid])
    assert out.exit_code == 0, out.output
    answers = race(PARALLEL, lambda i, s: s.post(server.url("/api/v1/scan"), json={"code": code},
                                                 headers={"Authorization": f"Bearer {token}"}, timeout=60))
    assert Counter(a.status_code for a in answers) == {422: PARALLEL}
    assert {a.json()["error"] for a in answers} == {"key_revoked"}
    assert all(a.json()["message"] for a in answers)
    with server.db() as session:  # the revoked key signs nothing any more
        fresh = tokens.issue(session, card.id).text
    assert fresh.split(".")[2] != kid
    listed = [json.loads(line) for line in server.app.test_cli_runner().invoke(args=["keys", "list"]).output.splitlines()]
    assert [k["revoked_at"] is not None for k in listed if k["kid"] == kid] == [True]


def test_a_revoked_device_is_refused_by_every_worker_at_once(server):
    with server.db() as session:
        card, _, _ = make_card(session, server.seed, seq=906, name="设备吊")
        device, token = enrol_device(session, "将被吊销的扫码枪", "城北接种点")
        device_id = device.id
    with server.db() as session:
        code = tokens.issue(session, card.id).text
    assert _warm(server, code, token) == {200: 3 * PARALLEL}
    with server.db() as session:
        revoke_device(session, device_id)
    answers = race(PARALLEL, lambda i, s: s.post(server.url("/api/v1/scan"), json={"code": code},
                                                 headers={"Authorization": f"Bearer {token}"}, timeout=60))
    assert Counter(a.status_code for a in answers) == {401: PARALLEL}
    assert {a.json()["error"] for a in answers} == {"device_revoked"}
    assert all("resident" not in a.json() for a in answers)

"""The province's verification under real parallelism: a nonce is used once, a code is claimed by
one terminal, whatever the timing."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from erhc_h5.code import tokens
from erhc_h5.scan.models import ScanEvent
from erhc_h5.sync.province_verify import from_config
from tests.attacks.harness import race
from tests.factories import make_card

PARALLEL = 30


def _client(server):
    return from_config(server.app.config, server.base_url, timeout=(5.0, 60.0))


def test_thirty_replays_of_one_nonce_get_one_answer(server):
    with server.db() as session:
        card, _, _ = make_card(session, server.seed, seq=821, name="验码竞")
        code = tokens.issue(session, card.id).text
    client = _client(server)
    signed = client.prepare(code, "PROV-T-1")

    def replay(i, s):
        return s.post(server.url(signed.path), data=signed.body, headers=signed.headers, timeout=60)

    answers = race(PARALLEL, replay)
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 1, 401: PARALLEL - 1}, statuses
    assert {a.json()["error"] for a in answers if a.status_code == 401} == {"replayed_nonce"}
    with server.db() as session:
        scans = session.scalar(select(func.count()).select_from(ScanEvent)
                               .where(ScanEvent.token_fingerprint == tokens.fingerprint(code)))
    assert scans == 1


def test_one_code_at_thirty_terminals_is_accepted_at_one(server):
    with server.db() as session:
        card, _, _ = make_card(session, server.seed, seq=823, name="终端竞")
        code = tokens.issue(session, card.id).text
    client = _client(server)
    prepared = [client.prepare(code, f"PROV-T-{i}") for i in range(PARALLEL)]

    def verify(i, s):
        p = prepared[i]
        return s.post(server.url(p.path), data=p.body, headers=p.headers, timeout=60)

    answers = race(PARALLEL, verify)
    results = Counter(a.json().get("result") or a.json().get("error") for a in answers)
    assert results == {"authenticated": 1, "replayed": PARALLEL - 1}, results

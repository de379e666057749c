"""One code shown to two scanners at once: exactly one of them may accept it, under real parallelism."""
from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from erhc_h5.code import tokens
from erhc_h5.scan.models import ScanEvent, ScanTokenClaim
from tests.attacks.harness import race
from tests.factories import make_card, scan_device

ROUNDS, SCANS = 20, 40


def test_one_code_from_two_devices_is_accepted_by_one_device_only(server):
    with server.db() as session:
        card, _, _ = make_card(session, server.seed, seq=811, name="扫码竞")
        card_id = card.id
    with server.db() as session:
        second = scan_device(session)
    devices = [server.seed["device_token"], second]
    winners_per_round = []
    for _ in range(ROUNDS):
        with server.db() as session:
            code = tokens.issue(session, card_id).text

        def scan(i, s):
            return s.post(server.url("/api/v1/scan"), json={"code": code},
                          headers={"Authorization": f"Bearer {devices[i % 2]}"}, timeout=60)

        answers = race(SCANS, scan)
        statuses = Counter(a.status_code for a in answers)
        assert all(code_ < 500 for code_ in statuses), statuses
        accepted = {i % 2 for i, a in enumerate(answers) if a.status_code == 200
                    and a.json()["result"] == "authenticated"}
        refused = [a.json() for a in answers if a.status_code != 200]
        assert all(r["error"] == "replayed" and r["message"] for r in refused), refused[:3]
        winners_per_round.append(len(accepted))
        with server.db() as session:  # every scan audited once; the losers wrote no acceptance
            fp = tokens.fingerprint(code)
            events = session.execute(select(ScanEvent.device_id, ScanEvent.result)
                                     .where(ScanEvent.token_fingerprint == fp)).all()
            claims = session.scalar(select(func.count()).select_from(ScanTokenClaim)
                                    .where(ScanTokenClaim.token_fingerprint == fp))
        assert len(events) == SCANS and claims == 1
        assert len({device for device, result in events if result == "authenticated"}) == 1
        assert Counter(result for _, result in events) == {"authenticated": statuses[200], "replayed": SCANS - statuses[200]}
    assert winners_per_round == [1] * ROUNDS

"""End to end: cards → outbox → batches → the real sandbox receiver, without faults."""
from __future__ import annotations


def test_happy_path(chain):
    chain.cards(7)
    out = chain.once(SYNC_BATCH_SIZE=3)
    assert out["sent"] == 7 and out["accepted"] == 7 and out["rejected"] == 0 and out["retrying"] == 0
    assert out["pending"] == 0 and out["batches"] == 3
    books = chain.books()
    assert books["held"] == 7 and books["states"] == {"accepted": 7}
    again = chain.once()
    assert again["sent"] == 0 and again["pending"] == 0

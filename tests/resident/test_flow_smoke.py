"""End-to-end with the test client: two-factor pass."""
from __future__ import annotations


def test_two_factor_pass(journey, db_session):
    journey.ready()
    r = journey.client.post("/h5/verify/two-factor")
    assert r.status_code == 302 and r.headers["Location"] == "/h5/code", r.get_data(as_text=True)
    vs = journey.vs()
    assert vs.state == "passed" and vs.card_id

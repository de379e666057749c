"""The sandbox province on a staging host: who may change it. Signed in with the wrong role, a staff
member may read its pages but neither set its faults nor decide a filing; ops may."""
from __future__ import annotations

import pytest

from erhc_h5.sandbox.receiver import current_faults


@pytest.fixture
def staging(app):
    app.config["STAGING"] = True  # the guard reads the mode per request; the rest of the test app stays as it is
    yield app
    app.config["STAGING"] = False


@pytest.mark.parametrize("role", ["operator", "nurse", "reviewer"])
def test_a_staff_member_without_ops_reads_but_cannot_set_faults(staging, client, auth, role):
    auth.login(role)
    assert client.get("/sandbox-province/").status_code == 200
    assert client.post("/sandbox-province/faults", data={"latency_ms": "20000"}).status_code == 403
    assert client.post("/sandbox-province/filings/1/decide", data={"outcome": "approved"}).status_code == 403
    assert current_faults(staging) == {}


def test_ops_sets_faults_and_signing_out_takes_the_right_away(staging, client, auth):
    auth.login("ops")
    assert client.post("/sandbox-province/faults", data={"latency_ms": "5"}).status_code == 302
    assert current_faults(staging) == {"latency_ms": 5}
    client.post("/sandbox-province/faults", data={})  # clear them again
    auth.logout()
    answer = client.post("/sandbox-province/faults", data={"latency_ms": "20000"})
    assert answer.status_code == 302 and "/staff/login" in answer.headers["Location"]
    assert current_faults(staging) == {}

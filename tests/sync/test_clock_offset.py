"""This server's clock against the province's: measured from each reply's Date header, shown on /ops
with an alert and a gauge; a stale-timestamp refusal waits for the clock instead of killing the batch."""
from __future__ import annotations

import calendar
import re
import time

import pytest
import responses
from sqlalchemy import select

from erhc_h5.db import session_scope
from erhc_h5.ops import metrics
from erhc_h5.ops.status import get_status
from erhc_h5.sync.client import ProvinceClient, clock_offset
from erhc_h5.sync.models import SyncAttempt, SyncBatch
from erhc_h5.sync.worker import Worker

# RFC 7231 §7.1.1.1's own example, and its unix time computed apart from the code under test.
RFC_DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
RFC_UNIX = calendar.timegm((1994, 11, 6, 8, 49, 37))
AHEAD = 600  # the fault-injection run: the worker's clock ten minutes ahead


@pytest.mark.parametrize("sent, received, expected", [
    (RFC_UNIX, RFC_UNIX + 1, 0.0),  # the header truncates: the province's time is in [Date, Date + 1)
    (RFC_UNIX + AHEAD, RFC_UNIX + AHEAD + 1, -AHEAD),  # ours ahead: the province is behind us
    (RFC_UNIX - 45, RFC_UNIX - 45, 45.5),  # ours behind
])
def test_offset_from_the_date_header_against_the_midpoint(sent, received, expected):
    assert clock_offset(RFC_DATE, sent, received) == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize("header", [None, "", "yesterday", "Sun, 06 Nov 1994 08:49:37"])  # last: no zone
def test_unreadable_date_measures_nothing(header):
    assert clock_offset(header, RFC_UNIX, RFC_UNIX) is None


@responses.activate
@pytest.mark.parametrize("error, outcome", [("stale_timestamp", "clock_skew"), ("bad_signature", "refused"),
                                            ("bad_app_id", "refused"), ("replayed_nonce", "refused")])
def test_only_the_stale_timestamp_401_is_a_clock_problem(error, outcome):
    url = "http://province.test/erhc/v1/auth-records"
    responses.add(responses.POST, url, json={"error": error}, status=401, headers={"Date": RFC_DATE})
    client = ProvinceClient("http://province.test", "city-3301", "s3cret", clock=lambda: RFC_UNIX + AHEAD)
    reply = client.send(b"{}", "B", ["a" * 32])
    assert reply.outcome == outcome
    assert reply.clock_offset == pytest.approx(-AHEAD + 0.5, abs=0.05)


def _pass(chain, ahead: float) -> dict:
    client = ProvinceClient.from_config(chain.app.config)
    client.clock = lambda: time.time() + ahead
    return Worker(chain.app, client=client).once()


def _status(chain) -> tuple[dict, str]:
    with chain.app.test_request_context(), session_scope(chain.app) as session:
        status = get_status(session)
        return status, metrics.render(chain.app, status).decode()


def test_skewed_worker_keeps_its_batch_pending_then_sends_it_once_the_clock_is_right(chain):
    chain.cards(8)
    chain.app.config["SYNC_MAX_ATTEMPTS"] = 2
    for _ in range(4):  # more passes than the attempt budget allows
        figures = _pass(chain, AHEAD)
        assert figures["dead"] == 0 and figures["refused"] == 0 and figures["retrying"] == 8, figures
    with chain.app.app_context(), session_scope(chain.app) as session:
        batch = session.scalars(select(SyncBatch)).one()
        assert (batch.state, batch.attempts, batch.last_error) == ("ready", 0, "clock_skew")
        offsets = session.scalars(select(SyncAttempt.clock_offset_seconds)).all()
    assert len(offsets) == 4 and all(-AHEAD - 3 < o < -AHEAD + 3 for o in offsets)
    assert chain.books()["states"] == {"batched": 8}

    status, text = _status(chain)
    assert status["province"]["clock"]["state"] == "skewed"
    assert [a["code"] for a in status["alerts"]] == ["clock_offset"]
    assert "快约10分钟" in status["alerts"][0]["message"]
    gauge = re.search(r"^erhc_province_clock_offset_seconds (\S+)$", text, re.M)
    assert gauge and -AHEAD - 3 < float(gauge.group(1)) < -AHEAD + 3
    assert 'erhc_ops_alert{code="clock_offset"} 1.0' in text
    assert 'erhc_sync_failures_24h{reason="clock_skew"} 4.0' in text

    figures = _pass(chain, 0)
    assert figures["accepted"] == 8 and figures["dead"] == 0
    books = chain.books()  # every version held once, under the batch it was always sent in
    assert books["held"] == 8 and books["states"] == {"accepted": 8}
    assert len({body for body in chain.bodies}) == 1  # the same batch, resent unchanged
    status, text = _status(chain)
    assert status["alerts"] == [] and status["province"]["clock"]["state"] == "ok"
    assert "erhc_ops_alert{" not in text


def test_other_401s_stay_final(chain):
    chain.cards(2)
    figures = chain.once(secret="not-the-province-secret")
    assert figures["refused"] == 2
    with chain.app.app_context(), session_scope(chain.app) as session:
        assert session.scalars(select(SyncBatch.state)).one() == "refused"


def test_alert_threshold_is_configurable(chain):
    chain.cards(1)
    _pass(chain, 30)
    status, _ = _status(chain)
    assert status["province"]["clock"]["state"] == "ok" and status["alerts"] == []
    chain.app.config["CLOCK_OFFSET_ALERT_SECONDS"] = 10
    status, _ = _status(chain)
    assert status["province"]["clock"]["state"] == "skewed" and status["alerts"][0]["code"] == "clock_offset"
    assert "快约30秒" in status["alerts"][0]["message"]

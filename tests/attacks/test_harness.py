"""The race harness itself: a real multi-process server, sessions launched as residents and staff."""
from __future__ import annotations

import time

from tests.attacks.harness import race


def test_race_releases_threads_together(server):
    started = race(12, lambda i, s: time.monotonic())
    assert max(started) - min(started) < 0.5


def test_resident_session_reaches_identity_page(server):
    s = server.resident_session("race-harness-user")
    page = s.get(server.url("/h5/identity"), allow_redirects=False, timeout=30)
    assert page.status_code == 200
    assert 'name="idcode"' in page.text


def test_staff_session_opens_console(server):
    s = server.staff_session("admin")
    assert s.get(server.url("/staff/"), allow_redirects=False, timeout=30).status_code == 200


def test_parallel_requests_spread_over_workers(server):
    responses = race(16, lambda i, s: s.get(server.url("/healthz"), timeout=30))
    assert [r.status_code for r in responses] == [200] * 16

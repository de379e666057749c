"""PostgreSQL's disk really full under a warm app: /readyz says so within 5 s, nothing answers 500, the
503 page names the full disk rather than a lost connection, /ops raises it, and all comes back once
space is freed.

The private cluster's data folder is a tmpfs of a fixed size, filled by a file until the kernel
answers ENOSPC. Reads keep working (the pages are in memory), and a write that fits in free space of
existing pages still works too: which is why a probe that only updates a row said "ready".
"""
from __future__ import annotations

import errno
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from erhc_h5.db import get_session
from erhc_h5.errors import database_unavailable, is_database_outage
from tests.faults.clusters import private_cluster, warmed
from tests.support import qr_texts

pytestmark = pytest.mark.slow
DISK_MB = 160  # a fresh cluster takes about 40 MB, its WAL 16 MB segments


@pytest.fixture
def small_disk():
    yield from private_cluster(disk_mb=DISK_MB)


@pytest.fixture
def warm_app(small_disk):
    yield from warmed(small_disk)


def _fill(folder) -> object:
    """Write a file in ``folder`` until the disk refuses another byte; its path."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as out:
        for chunk in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    out.write(b"\xa5" * chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    return filler


def test_a_full_disk_is_not_ready_within_five_seconds_and_no_request_fails_with_500(warm_app, small_disk):
    app, client, resident, auth, _code = warm_app
    app.config["OPS_TOKEN"] = "o" * 40
    ops = {"Authorization": "Bearer " + "o" * 40}
    assert client.get("/readyz").status_code == 200
    codes = [qr_texts(resident.get("/h5/code/token.json").get_json()["src"])[0] for _ in range(3)]

    filler = _fill(small_disk["home"])
    began = time.monotonic()
    ready = client.get("/readyz")
    took = time.monotonic() - began
    assert ready.status_code == 503 and took < 5, (ready.status_code, took)
    assert ready.get_json()["checks"]["database"] == "disk_full"
    assert ready.headers["Retry-After"] == "11"

    scans, pages, reasons = [], [], set()
    for i in range(100):
        scan = client.post("/api/v1/scan", json={"code": codes[i % 3]}, headers=auth)
        scans.append(scan.status_code)
        if scan.status_code == 503:
            reasons.add(scan.get_json()["error"])
        pages.append(resident.get(("/h5/service", "/h5/code", "/h5/methods")[i % 3]).status_code)
    # A scan writes its event (refused: no space) unless it fits in a page's free space; the resident's
    # pages read (the methods page sends a resident who holds a card on to the code: 302).
    assert set(scans) <= {200, 503} and 503 in scans, sorted(set(scans))
    assert set(pages) <= {200, 302}, sorted(set(pages))
    assert reasons == {"database_disk_full"}, reasons

    status = client.get("/ops/status.json", headers=ops).get_json()
    assert status["database"] == {"write": "disk_full"}
    assert status["alerts"][0]["code"] == "database_disk_full"
    assert "数据库磁盘已满" in status["alerts"][0]["message"]
    metrics = client.get("/metrics", headers=ops).get_data(as_text=True)
    assert "erhc_database_writable 0.0" in metrics

    filler.unlink()
    assert client.get("/readyz").status_code == 200
    assert client.get("/ops/status.json", headers=ops).get_json()["database"] == {"write": "ok"}
    fresh = qr_texts(resident.get("/h5/code/token.json").get_json()["src"])[0]
    assert client.post("/api/v1/scan", json={"code": fresh}, headers=auth).status_code == 200


def test_a_write_refused_for_lack_of_space_shows_the_full_disk_page(warm_app, small_disk):
    """The error PostgreSQL gives a write that must extend a table (as a new card or scan event does
    once its pages are full) is answered with a 503 page that says the storage is full."""
    app = warm_app[0]
    _fill(small_disk["home"])
    with app.test_request_context("/h5/service"):
        with pytest.raises(SQLAlchemyError) as caught:
            get_session().execute(text("CREATE TABLE grow_probe AS SELECT g AS n, repeat('x', 500) AS pad "
                                       "FROM generate_series(1, 2000) AS g"))
        get_session().rollback()
        assert is_database_outage(caught.value)
        page = database_unavailable(caught.value)
    assert page.status_code == 503 and page.headers["Retry-After"] == "11"
    body = page.get_data(as_text=True)
    assert "系统存储空间已满" in body and 'data-reason="database_disk_full"' in body
    assert "无法连接" not in body

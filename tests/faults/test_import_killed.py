"""An import of 20,000 residents killed mid-file (SIGKILL, or SIGTERM) and run again: exactly one
record version per person, the right summary, and on SIGTERM a summary and an audit row at once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from erhc_h5.sandbox import demo
from erhc_h5.audit import AuditEntry
from erhc_h5.db import get_db
from erhc_h5.records.models import AuthRecord
from erhc_h5.cards.models import EHealthCard
from erhc_h5.sync.models import OutboxEntry
from tests import processes
from tests.factories import people, write_csv

ROOT = Path(__file__).resolve().parents[2]
ROWS = 20_000
HEADER = ["name", "id_card_type_code", "idcode", "phone", "nation", "county_code"]

pytestmark = pytest.mark.slow


@pytest.fixture
def world(fresh_app, tmp_path):
    with fresh_app.app_context(), get_db(fresh_app).factory() as session:
        seeded = demo.seed(fresh_app, session)
        session.commit()
    return fresh_app, seeded["app_record_no"], write_csv(tmp_path / "residents.csv", people(ROWS), HEADER)


def _command(app, path, access_code):
    env = {**os.environ, "ERHC_DATABASE_URL": app.config["DATABASE_URL"], "ERHC_SECRET_KEY": app.config["SECRET_KEY"],
           "ERHC_PROVINCE_URL": "http://province.test"}
    args = [sys.executable, "-m", "flask", "--app", "app", "residents", "import", path, "--app-record-no", access_code,
            "--chunk-size", "500"]
    return args, env


def _counts(app) -> dict:
    with get_db(app).factory() as session:
        per_card = select(AuthRecord.card_id, func.count().label("n")).group_by(AuthRecord.card_id).subquery()
        return {
            "cards": session.scalar(select(func.count()).select_from(EHealthCard)),
            "versions": session.scalar(select(func.count()).select_from(AuthRecord)),
            "outbox": session.scalar(select(func.count()).select_from(OutboxEntry)),
            "most_versions": session.scalar(select(func.max(per_card.c.n))) or 0,
        }


def _start_and_stop(app, path, access_code, sig) -> tuple[int, str, str]:
    args, env = _command(app, path, access_code)
    proc = processes.start(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _counts(app)["cards"] < 3000:  # well into the file, well before its end
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the import made no progress"
            time.sleep(0.2)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        processes.kill_group(proc)
    return proc.returncode, out, err


def _run_to_end(app, path, access_code) -> dict:
    args, env = _command(app, path, access_code)
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_killed_import_rerun_has_one_version_per_person(world):
    app, access_code, path = world
    _start_and_stop(app, path, access_code, signal.SIGKILL)
    before = _counts(app)
    assert 3000 <= before["cards"] < ROWS and before["cards"] % 500 == 0, before  # whole chunks only
    assert before["versions"] == before["cards"] == before["outbox"]

    summary = _run_to_end(app, path, access_code)
    assert summary == {"imported": ROWS, "rejected": 0, "unchanged": before["cards"]}
    after = _counts(app)
    assert after == {"cards": ROWS, "versions": ROWS, "outbox": ROWS, "most_versions": 1}


def test_terminated_import_prints_its_summary_and_audits_it(world):
    app, access_code, path = world
    returncode, out, err = _start_and_stop(app, path, access_code, signal.SIGTERM)
    assert returncode == 3, err[-2000:]
    summary = json.loads(out.strip().splitlines()[-1])
    committed = _counts(app)["cards"]
    assert summary == {"imported": committed, "rejected": 0, "error": "interrupted"}
    with app.app_context(), get_db(app).factory() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "residents.import"))
        assert entry is not None and entry.detail["error"] == "interrupted" and entry.detail["imported"] == committed

    assert _run_to_end(app, path, access_code) == {"imported": ROWS, "rejected": 0, "unchanged": committed}
    assert _counts(app)["most_versions"] == 1

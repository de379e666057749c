"""`flask filing` for a production bootstrap: create + send to the province, record its decision,
issue the launch secret, list. Bad input: one Chinese line, exit status 2, nothing written."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from erhc_h5.audit import AuditEntry
from erhc_h5.filing.models import FiledApp, FilingDecision
from tests.filing.helpers import PDF, beijing_today

FORM = {"app_name": "某区健康服务App", "org_name": "某区卫生健康局", "org_filing_no": "ORG-CLI-01",
        "builder_unit": "某区卫生健康局", "builder_contact": "孙建设 0571-33333333",
        "developer_unit": "某信息技术有限公司", "developer_contact": "周开发 0571-44444444",
        "auth_methods": "1^2^3^4", "allowed_origins": "https://app.example.cn"}
CHINESE = re.compile("[\u4e00-\u9fff]")


@pytest.fixture
def form_file(tmp_path):
    def write(data) -> str:
        path = tmp_path / "app.json"
        path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
        return str(path)

    return write


def _counts(db_session):
    db_session.expire_all()
    return (db_session.scalar(select(func.count()).select_from(FiledApp)),
            db_session.scalar(select(func.count()).select_from(FilingDecision)),
            db_session.scalar(select(func.count()).select_from(AuditEntry)))


def _refused(result):
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and CHINESE.search(lines[0]) and "Traceback" not in result.output, result.output


def _create(runner, form_file, **changes) -> int:
    result = runner.invoke(args=["filing", "create", "--file", form_file({**FORM, **changes})])
    assert result.exit_code == 0, result.output
    return int(result.output.strip().splitlines()[-1])


def test_bootstrap_create_decide_secret_list(runner, form_file, db_session, tmp_path, app):
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    app_id = _create(runner, form_file)
    filed = db_session.get(FiledApp, app_id)
    assert filed.status == "province_pending" and filed.app_filing_no is None and not filed.can_launch
    stamped = tmp_path / "stamped.pdf"
    stamped.write_bytes(PDF)
    result = runner.invoke(args=["filing", "decide", str(app_id), "--app-filing-no", "ZJ-3301-2026-0101",
                                 "--access-code", "330100000101", "--opinion", "同意备案",
                                 "--date", beijing_today(), "--form", str(stamped)])
    assert result.exit_code == 0, result.output
    db_session.expire_all()
    filed = db_session.get(FiledApp, app_id)
    assert filed.status == "approved" and filed.access_code == "330100000101" and filed.launch_secret is None
    assert not filed.can_launch  # no secret yet: `filing secret` issues it
    result = runner.invoke(args=["filing", "secret", str(app_id)])
    secret = result.output.strip().splitlines()[-1]
    assert result.exit_code == 0 and re.fullmatch(r"[0-9a-f]{64}", secret)
    db_session.expire_all()
    filed = db_session.get(FiledApp, app_id)
    assert filed.launch_secret == secret and filed.can_launch
    listing = runner.invoke(args=["filing", "list"]).output
    assert f"{app_id}\tapproved\tZJ-3301-2026-0101\t330100000101\t某区健康服务App" in listing
    actors = db_session.execute(select(AuditEntry.action, AuditEntry.actor_type).where(
        AuditEntry.target_id == str(app_id)).order_by(AuditEntry.id)).all()
    assert actors == [("filing.create", "cli"), ("filing.send_to_province", "cli"),
                      ("filing.province_approve", "cli"), ("filing.rotate_secret", "cli")]
    assert secret not in json.dumps([e.detail for e in db_session.scalars(select(AuditEntry))])


def test_reject_records_the_opinion(runner, form_file, db_session):
    app_id = _create(runner, form_file)
    result = runner.invoke(args=["filing", "decide", str(app_id), "--reject", "--opinion", "材料不全",
                                 "--date", beijing_today()])
    assert result.exit_code == 0, result.output
    db_session.expire_all()
    filed = db_session.get(FiledApp, app_id)
    assert filed.status == "rejected" and filed.review_opinion == "材料不全" and filed.access_code is None


def test_bad_create_input_writes_nothing(runner, form_file, db_session, tmp_path):
    before = _counts(db_session)
    cases = [[], ["--file", str(tmp_path / "missing.json")], ["--file", form_file("{not json")],
             ["--file", form_file("[1, 2]")], ["--file", form_file({**FORM, "app_name": ""})],
             ["--file", form_file({**FORM, "auth_methods": "5"})],
             ["--file", form_file({**FORM, "surprise": "x"})]]
    for args in cases:
        _refused(runner.invoke(args=["filing", "create", *args]))
    assert _counts(db_session) == before


def test_bad_decide_input_writes_nothing(runner, form_file, db_session, tmp_path, seeded):
    app_id = _create(runner, form_file)
    before = _counts(db_session)
    tomorrow = (dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date() + dt.timedelta(days=1)).isoformat()
    good = ["--app-filing-no", "ZJ-3301-2026-0102", "--access-code", "330100000102", "--opinion", "同意",
            "--date", beijing_today()]
    gif = tmp_path / "form.gif"
    gif.write_bytes(b"GIF89a")

    def swap(option, value):
        args = list(good)
        args[args.index(option) + 1] = value
        return [str(app_id), *args]

    cases = [[*good], ["abc", *good], ["999999", *good], swap("--access-code", "3301-00"),
             swap("--access-code", ""), swap("--app-filing-no", "浙备001"), swap("--date", tomorrow),
             swap("--date", "2026/12/01"), swap("--opinion", ""), swap("--access-code", "330100900001"),
             [str(app_id), *good, "--form", str(tmp_path / "nope.pdf")], [str(app_id), *good, "--form", str(gif)],
             [str(app_id), "--reject", "--date", beijing_today()]]
    for args in cases:
        _refused(runner.invoke(args=["filing", "decide", *args]))
    assert _counts(db_session) == before


def test_secret_refused_before_approval(runner, form_file, db_session):
    app_id = _create(runner, form_file)
    before = _counts(db_session)
    _refused(runner.invoke(args=["filing", "secret", str(app_id)]))
    _refused(runner.invoke(args=["filing", "secret"]))
    assert _counts(db_session) == before


SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "app.json"  # the form the README points a city at


def test_the_sample_form_is_refused_until_filled_in_and_then_files(runner, form_file, db_session):
    """deploy/app.json as shipped names every field `filing create` reads and nothing else; left as
    it is, it is refused (naming the fields still to fill), never sent to the province."""
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    before = _counts(db_session)
    result = runner.invoke(args=["filing", "create", "--file", str(SAMPLE)])
    _refused(result)
    assert "CHANGE-ME" in result.output and "app_name" in result.output and "allowed_origins" in result.output
    assert _counts(db_session) == before
    filled = {k: (FORM[k] if "CHANGE-ME" in json.dumps(v, ensure_ascii=False) else v) for k, v in sample.items()}
    assert set(filled) == set(FORM)  # FORM above is every field of the documented form (docs/contracts.md)
    app_id = int(runner.invoke(args=["filing", "create", "--file", form_file(filled)]).output.strip().splitlines()[-1])
    assert db_session.get(FiledApp, app_id).status == "province_pending"


def test_a_stamped_form_the_upload_folder_cannot_take_is_one_line_and_nothing_recorded(runner, form_file, db_session,
                                                                                         tmp_path, app):
    """A fresh server before its services first started: the upload folder's parent does not exist yet
    or is not writable. The decision is refused in one Chinese line (it was a PermissionError traceback)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the upload folder's parent should be")
    app.config["UPLOAD_DIR"] = str(blocker / "uploads")
    app_id = _create(runner, form_file)
    stamped = tmp_path / "stamped.pdf"
    stamped.write_bytes(PDF)
    before = _counts(db_session)
    result = runner.invoke(args=["filing", "decide", str(app_id), "--app-filing-no", "ZJ-3301-2026-0102",
                                 "--access-code", "330100000102", "--opinion", "同意备案",
                                 "--date", beijing_today(), "--form", str(stamped)])
    _refused(result)
    assert "上传文件夹无法写入" in result.output and "ERHC_UPLOAD_DIR" in result.output
    assert _counts(db_session) == before
    assert db_session.get(FiledApp, app_id).status == "province_pending"

"""`residents import`: streaming CSV registration, per-row errors, whole-file refusals."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from erhc_h5.records.models import AuthRecord
from erhc_h5.cards.service import find_card
from erhc_h5.cards.models import EHealthCard
from erhc_h5.sync.models import OutboxEntry
from tests.support import demo_app
from tests.factories import count, person, write_csv

HEADER = ["name", "id_card_type_code", "idcode", "phone", "nation", "county_code", "authentication_method"]


def _write(path, rows, header=HEADER, encoding="utf-8"):
    return write_csv(path, rows, header, encoding)


def _row(i, **changes):
    p = {**person(i), "authentication_method": "", **changes}
    return [p.get(h, "") for h in HEADER]


def test_import_valid_and_bad_rows(runner, seeded, db_session, tmp_path):
    rows = [_row(0), _row(1, authentication_method="2^3"), _row(2, phone="12345"), _row(3, nation="77"),
            _row(4, idcode=person(4)["idcode"][:-1] + ("0" if person(4)["idcode"][-1] != "0" else "1"))]
    path = _write(tmp_path / "r.csv", rows)
    result = runner.invoke(args=["residents", "import", path, "--app-record-no", seeded["app_record_no"]])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1
    assert json.loads(lines[-1]) == {"imported": 2, "rejected": 3}
    assert any(line.startswith("line 4: phone: bad_length") for line in lines)
    assert any(line.startswith("line 5: nation: bad_code") for line in lines)
    assert any(line.startswith("line 6: idcode: bad_checksum") for line in lines)
    assert person(2)["name"] not in result.output and person(2)["idcode"] not in result.output
    card = find_card(db_session, "01", person(1)["idcode"])
    assert card.recognize_flag == 1 and card.authentication_method == "2^3"
    assert find_card(db_session, "01", person(0)["idcode"]).authentication_method == "4"
    assert find_card(db_session, "01", person(2)["idcode"]) is None
    assert count(db_session, AuthRecord) == 2 and count(db_session, OutboxEntry, OutboxEntry.state == "pending") == 2


def test_known_person_is_updated_not_duplicated(runner, seeded, db_session, tmp_path):
    path = _write(tmp_path / "r.csv", [_row(20, authentication_method="1"), _row(20, authentication_method="3")])
    result = runner.invoke(args=["residents", "import", path, "--app-record-no", seeded["app_record_no"]])
    assert result.exit_code == 0, result.output
    assert db_session.scalar(select(func.count()).select_from(EHealthCard)) == 1
    card = find_card(db_session, "01", person(20)["idcode"])
    assert card.authentication_method == "1^3"
    ops = db_session.scalars(select(AuthRecord.cd_operation).where(AuthRecord.card_id == card.id)
                             .order_by(AuthRecord.version)).all()
    assert list(ops) == ["i", "u"]


def test_whole_file_refusals_write_nothing(runner, seeded, db_session, tmp_path):
    good = _write(tmp_path / "good.csv", [_row(30)])
    cases = [
        (["residents", "import", good, "--app-record-no", "NOPE"], "unknown_app"),
        (["residents", "import", _write(tmp_path / "h.csv", [_row(31)], header=HEADER[:-1] + ["shoe_size"]),
          "--app-record-no", seeded["app_record_no"]], "bad_header"),
        (["residents", "import", _write(tmp_path / "m.csv", [["x"]], header=["name"]),
          "--app-record-no", seeded["app_record_no"]], "bad_header"),
        (["residents", "import", _write(tmp_path / "g.csv", [_row(32)], encoding="gb18030"),
          "--app-record-no", seeded["app_record_no"]], "not_utf8"),
    ]
    for args, reason in cases:
        result = runner.invoke(args=args)
        assert result.exit_code not in (0, 1), (reason, result.output)
        assert json.loads(result.output.strip().splitlines()[-1])["error"] == reason
    assert count(db_session, EHealthCard) == 0


def test_unapproved_app_refused(runner, seeded, db_session, tmp_path):
    app = demo_app(db_session)
    app.status = "suspended"
    db_session.commit()
    result = runner.invoke(args=["residents", "import", _write(tmp_path / "r.csv", [_row(40)]),
                                 "--app-record-no", seeded["app_record_no"]])
    assert result.exit_code == 2 and "app_not_approved" in result.output
    assert count(db_session, EHealthCard) == 0


def _summary(result) -> dict:
    return json.loads(result.output.strip().splitlines()[-1])


def _import(runner, path, seeded, *more):
    return runner.invoke(args=["residents", "import", path, "--app-record-no", seeded["app_record_no"], *more])


def _audit_details(db_session) -> list[dict]:
    from erhc_h5.audit import AuditEntry

    db_session.expire_all()
    return [e.detail for e in db_session.scalars(select(AuditEntry).where(AuditEntry.action == "residents.import")
                                                 .order_by(AuditEntry.id))]


def test_rerun_writes_no_version_for_unchanged_people(runner, seeded, db_session, tmp_path):
    path = _write(tmp_path / "r.csv", [_row(i) for i in range(50, 60)] + [_row(50)])  # 50 twice, same data
    first = _import(runner, path, seeded, "--chunk-size", "4")
    assert first.exit_code == 0 and _summary(first) == {"imported": 11, "rejected": 0, "unchanged": 1}
    assert count(db_session, AuthRecord) == 10
    again = _import(runner, path, seeded, "--chunk-size", "4")
    assert again.exit_code == 0, again.output
    assert _summary(again) == {"imported": 11, "rejected": 0, "unchanged": 11}
    assert count(db_session, AuthRecord) == 10 and count(db_session, OutboxEntry) == 10


def test_rerun_with_one_change_writes_one_version(runner, seeded, db_session, tmp_path):
    _import(runner, _write(tmp_path / "a.csv", [_row(i) for i in range(70, 75)]), seeded)
    changed = [_row(i) for i in range(70, 75)]
    changed[2] = _row(72, phone="13900000072")
    changed[3] = _row(73, authentication_method="2")
    result = _import(runner, _write(tmp_path / "b.csv", changed), seeded)
    assert _summary(result) == {"imported": 5, "rejected": 0, "unchanged": 3}
    ops = db_session.execute(select(AuthRecord.card_id, AuthRecord.cd_operation).order_by(AuthRecord.id)).all()
    assert [op for _, op in ops] == ["i"] * 5 + ["u", "u"]
    assert find_card(db_session, "01", person(72)["idcode"]).phone == "13900000072"
    assert find_card(db_session, "01", person(73)["idcode"]).authentication_method == "2^4"


def test_oversize_field_is_a_line_error_and_the_rest_is_imported(runner, seeded, db_session, tmp_path):
    rows = [_row(80), _row(81, name="长" * (10 * 1024 * 1024)), _row(82)]
    result = _import(runner, _write(tmp_path / "big.csv", rows), seeded)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1
    assert any(line.startswith("line 3: -: field_too_large") for line in lines), lines[:5]
    assert _summary(result) == {"imported": 2, "rejected": 1}
    assert "Traceback" not in result.output and len(result.output) < 10_000
    assert _audit_details(db_session)[-1]["rejected"] == 1
    assert find_card(db_session, "01", person(82)["idcode"]) is not None


def test_summary_and_audit_are_written_when_the_database_fails(runner, seeded, db_session, tmp_path, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from erhc_h5.cards import importer

    real, calls = importer._insert_new, []

    def fail_second_chunk(session, fresh):
        calls.append(len(fresh))
        if len(calls) == 2:
            raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))
        return real(session, fresh)

    monkeypatch.setattr(importer, "_insert_new", fail_second_chunk)
    result = _import(runner, _write(tmp_path / "r.csv", [_row(i) for i in range(90, 96)]), seeded,
                     "--chunk-size", "3")
    assert result.exit_code == 3 and "Traceback" not in result.output
    assert _summary(result) == {"imported": 3, "rejected": 0, "error": "import_failed"}
    assert _audit_details(db_session)[-1]["error"] == "import_failed"
    assert count(db_session, EHealthCard) == 3


def test_a_wrong_resident_id_is_the_one_error_of_its_line(runner, seeded, tmp_path):
    """Sex and birthday come from a resident ID: a wrong number is not also 'sex/birthday missing'."""
    path = write_csv(tmp_path / "r.csv", [person(5, idcode="110105194912310021")])
    result = runner.invoke(args=["residents", "import", path, "--app-record-no", seeded["app_record_no"]])
    errors = [line for line in result.output.splitlines() if line.startswith("line ")]
    assert errors == ["line 2: idcode: bad_checksum 身份证号码校验位不正确,请核对后重新输入"]

"""One writer for a card and its first record version: the same person, imported in bulk or passing the
same methods in the H5, gives the same card row, the same version-1 record and the same outbox entry.

The two paths are compared with each other column by column (the identity and profile included, read
back through the encrypted columns), and both are held against the person as written in the CSV."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from erhc_h5.cards.models import EHealthCard
from erhc_h5.cards.service import find_card, issue_or_update_card
from erhc_h5.records.models import AuthRecord
from erhc_h5.sync.models import OutboxEntry
from tests.factories import full_person, write_csv
from tests.support import demo_app

# Values that differ between any two writes by design: row ids, the random card number, the random
# record id and the clock.
PER_WRITE = {"id", "erhc_card_no", "created_at", "updated_at", "authenticated_at"}
PER_RECORD = {"id", "erhc_card_no", "cd_time"}
HEADER = ["name", "id_card_type_code", "idcode", "nation", "nationality", "address", "phone", "linkman",
          "telephone", "birthplace", "county_code", "current_address", "authentication_method"]


def _rows(session, card: EHealthCard) -> tuple[dict, dict, str]:
    record = session.scalar(select(AuthRecord).where(AuthRecord.card_id == card.id))
    entry = session.scalar(select(OutboxEntry).where(OutboxEntry.auth_record_id == record.id))
    columns = {c: getattr(card, c) for c in EHealthCard.__table__.columns.keys() if c not in PER_WRITE}
    payload = {k: v for k, v in record.payload.items() if k not in PER_RECORD}
    return columns, {**payload, "version": record.version}, entry.state


@pytest.mark.parametrize("methods", ["4", "2^3", "1^4", "3"])
def test_imported_and_passed_in_the_h5_the_person_gets_the_same_rows(runner, seeded, db_session, tmp_path,
                                                                      methods):
    person = full_person(4242, current_address="测试路8号", address="测试户籍地址1号")
    with db_session.begin_nested() as journey:
        card = issue_or_update_card(db_session, dict(person), demo_app(db_session), methods=methods)
        db_session.flush()
        by_journey = _rows(db_session, card)
        journey.rollback()
    db_session.expunge_all()  # the import's rows may reuse the rolled-back ids: read them afresh
    assert find_card(db_session, person["id_card_type_code"], person["idcode"]) is None

    path = write_csv(tmp_path / "one.csv", [[{**person, "authentication_method": methods}.get(h, "")
                                             for h in HEADER]], HEADER, "utf-8")
    result = runner.invoke(args=["residents", "import", path, "--app-record-no", seeded["app_record_no"]])
    assert result.exit_code == 0, result.output
    imported = find_card(db_session, person["id_card_type_code"], person["idcode"])
    by_import = _rows(db_session, imported)

    assert by_import == by_journey
    columns, payload, state = by_import
    # Held against the person as written in the file (not against either writer's code).
    assert (columns["name"], columns["idcode"], columns["phone"]) == (person["name"], person["idcode"], person["phone"])
    assert (payload["name"], payload["idcode"], payload["cd_operation"], payload["recognize_flag"],
            payload["version"]) == (person["name"], person["idcode"], "i", 1, 1)
    assert payload["authentication_method"] == methods and state == "pending"

"""`flask keys rotate-pii`: everything re-encrypted under the active key, in resumable batches."""
from __future__ import annotations

import base64
import json
import os

import pytest
from sqlalchemy import Text, select, text, type_coerce

from erhc_h5.db import get_session
from erhc_h5.cards.service import issue_or_update_card
from erhc_h5.cards.models import EHealthCard
from erhc_h5.records.models import AuthRecord
from erhc_h5.security.pii import Keyring, keyring, make_empi
from erhc_h5.ops.rotation import encrypted_columns, rotate_pii
from tests.factories import verification_session
from tests.security.helpers import residents
from tests.support import demo_app

NEW_KEY = base64.b64encode(os.urandom(32)).decode()


def _stored_values(session) -> list[tuple[str, str]]:
    """(table.column, raw stored text) of every non-null encrypted value."""
    out = []
    for table, columns in encrypted_columns().items():
        for name in columns:
            col = type_coerce(table.c[name], Text())
            for (value,) in session.execute(select(col).where(col.is_not(None))):
                out.append((f"{table.name}.{name}", value))
    return out


def _write_under_k1(db_session, seeded, n=5):
    people = residents(n)
    app_row = demo_app(db_session)
    for i, person in enumerate(people):
        issue_or_update_card(db_session, dict(person), app_row, methods="2")
        verification_session(db_session, f"rot{i}", payload=dict(person))
    db_session.commit()
    return people


def _activate(app, kid, cipher="sm4-gcm"):
    old = app.config["PII_KEYS"]
    keys = json.loads(old) if isinstance(old, str) else dict(old)
    keys[kid] = NEW_KEY
    app.config.update(PII_KEYS=keys, PII_ACTIVE_KEY_ID=kid, PII_CIPHER=cipher)
    app.extensions.pop("erhc_pii", None)


def _assert_all_readable(db_session, people):
    db_session.expire_all()
    for person in people:
        card = db_session.scalar(select(EHealthCard).where(EHealthCard.empi == make_empi("01", person["idcode"])))
        assert card.name == person["name"] and card.idcode == person["idcode"] and card.phone == person["phone"]
        versions = db_session.scalars(select(AuthRecord).where(AuthRecord.card_id == card.id)).all()
        assert versions and all(v.payload["idcode"] == person["idcode"] for v in versions)


@pytest.mark.parametrize("cipher", ["sm4-gcm", "aes-256-gcm"])
def test_rotate_cli_moves_every_value_to_the_new_key(app, db_session, seeded, runner, cipher):
    people = _write_under_k1(db_session, seeded)
    before = _stored_values(db_session)
    assert before and all(Keyring.key_id_of(v) == "k1" for _, v in before)
    tables = {where.split(".")[0] for where, _ in before}
    assert {"ehealth_cards", "auth_records", "verification_sessions", "filed_apps"} <= tables

    _activate(app, "k2", cipher)
    result = runner.invoke(args=["keys", "rotate-pii", "--batch", "2"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["rotated"] == len(before) and summary["failed"] == 0 and summary["active_key"] == "k2"
    assert summary["batches"] >= 3

    after = _stored_values(get_session())
    prefix = keyring().active_prefix
    assert len(after) == len(before)
    assert [w for w, v in after if not v.startswith(prefix)] == []
    _assert_all_readable(db_session, people)

    again = runner.invoke(args=["keys", "rotate-pii"])
    assert json.loads(again.output.strip().splitlines()[-1])["rotated"] == 0


def test_rotation_resumes_after_an_interruption(app, db_session, seeded):
    people = _write_under_k1(db_session, seeded, n=4)
    total = len(_stored_values(db_session))
    _activate(app, "k2")

    class Stop(Exception):
        pass

    def stop_after_first_batch(table, counts):
        raise Stop

    with pytest.raises(Stop):
        rotate_pii(get_session(), keyring(), batch_size=2, on_batch=stop_after_first_batch)
    db_session.expire_all()
    done = [v for _, v in _stored_values(db_session) if v.startswith("sk2$")]
    assert 0 < len(done) < total, "the first batch was committed before the interruption"

    report = rotate_pii(get_session(), keyring(), batch_size=2)
    assert report.rotated == total - len(done) and report.failed == 0
    assert all(v.startswith("sk2$") for _, v in _stored_values(db_session))
    _assert_all_readable(db_session, people)


def test_unreadable_values_are_counted_not_fatal(app, db_session, seeded, runner):
    _write_under_k1(db_session, seeded, n=2)
    db_session.execute(text("UPDATE verification_sessions SET payload = 'sk1$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' "
                            "WHERE id = :id"), {"id": f"rot{0:029d}"})
    db_session.commit()
    _activate(app, "k2")
    result = runner.invoke(args=["keys", "rotate-pii"])
    assert result.exit_code == 1
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["failed"] == 1 and summary["rotated"] > 0
    assert "AAAAAAAA" not in result.output

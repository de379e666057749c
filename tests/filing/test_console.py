"""The filing console's actions own their transactions: committed on success, rolled back when
refused, and a four-eyes refusal audited in a transaction of its own."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from erhc_h5.audit import AuditEntry
from erhc_h5.filing import console
from erhc_h5.filing.models import FiledApp
from erhc_h5.filing.services import FilingError
from tests.factories import image_bytes
from tests.filing.helpers import FIELDS


def _audits(db_session, action: str, app_id: int) -> int:
    return db_session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == action, AuditEntry.target_id == str(app_id)))


def _submitted(db_session, reviewer) -> int:
    filed = console.create(db_session, dict(FIELDS), actor_id=reviewer.id)
    console.add_screen(db_session, filed, image_bytes(), actor_id=reviewer.id)
    console.transition(db_session, filed, "submit", actor_id=reviewer.id)
    return filed.id


def test_each_action_is_committed(db_session, reviewer, upload_dir):
    app_id = _submitted(db_session, reviewer)
    db_session.rollback()  # commits survive it
    filed = db_session.get(FiledApp, app_id)
    assert filed.status == "submitted" and len(filed.ui_design_files) == 1
    assert _audits(db_session, "filing.create", app_id) == _audits(db_session, "filing.submit", app_id) == 1


def test_the_author_approving_is_rolled_back_and_the_refusal_committed(db_session, reviewer, upload_dir):
    app_id = _submitted(db_session, reviewer)
    filed = db_session.get(FiledApp, app_id)
    with pytest.raises(FilingError) as info:
        console.transition(db_session, filed, "approve", actor_id=reviewer.id, opinion="同意")
    assert info.value.reason == "four_eyes"
    db_session.rollback()
    assert db_session.get(FiledApp, app_id).status == "submitted"
    assert _audits(db_session, "filing.four_eyes_refused", app_id) == 1
    assert _audits(db_session, "filing.approve", app_id) == 0


def test_a_refusal_that_is_no_four_eyes_leaves_nothing(db_session, reviewer, upload_dir):
    app_id = _submitted(db_session, reviewer)
    filed = db_session.get(FiledApp, app_id)
    with pytest.raises(FilingError) as info:
        console.rotate_secret(db_session, filed, actor_id=reviewer.id)
    assert info.value.reason == "invalid_transition"
    db_session.rollback()
    assert _audits(db_session, "filing.four_eyes_refused", app_id) == 0
    assert db_session.get(FiledApp, app_id).secret_version in (None, 0)


def test_a_refused_edit_writes_nothing(db_session, reviewer, upload_dir):
    filed = console.create(db_session, dict(FIELDS), actor_id=reviewer.id)
    with pytest.raises(FilingError):
        console.update(db_session, filed, {**FIELDS, "app_name": ""}, actor_id=reviewer.id)
    assert db_session.get(FiledApp, filed.id).app_name == FIELDS["app_name"]
    assert _audits(db_session, "filing.update", filed.id) == 0

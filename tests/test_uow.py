"""The unit of work: commit on success, rollback on error, nested units join the outer one."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from erhc_h5.audit import AuditEntry
from erhc_h5.db import get_db, session_scope
from erhc_h5.uow import unit_of_work
from tests.factories import audit_entry

MARK = "test.unit_of_work"


class Boom(Exception):
    pass


def _row(session, target: str) -> None:
    audit_entry(session, MARK, target_id=target)


def _count(session, target: str) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)
                          .where(AuditEntry.action == MARK, AuditEntry.target_id == target))


def test_a_unit_that_ends_commits(db_session):
    with unit_of_work(db_session):
        _row(db_session, "kept")
    db_session.rollback()  # a commit survives the next rollback; an open transaction would not
    assert _count(db_session, "kept") == 1


def test_a_row_written_then_an_exception_leaves_no_row(db_session):
    with pytest.raises(Boom):
        with unit_of_work(db_session):
            _row(db_session, "lost")
            raise Boom()
    assert _count(db_session, "lost") == 0


def test_the_request_session_is_the_default(app, db_session):
    with app.test_request_context("/"):
        with pytest.raises(Boom):
            with unit_of_work() as session:
                assert session is db_session
                _row(session, "default")
                raise Boom()
        assert _count(db_session, "default") == 0


def test_a_nested_unit_joins_the_outer_one(db_session):
    with pytest.raises(Boom):
        with unit_of_work(db_session):
            _row(db_session, "outer")
            with unit_of_work(db_session):
                _row(db_session, "inner")
            assert db_session.in_transaction()  # the inner unit did not end the transaction
            raise Boom()
    assert _count(db_session, "outer") == 0
    assert _count(db_session, "inner") == 0  # had the inner unit committed, its row would remain


def test_an_exception_out_of_a_nested_unit_rolls_back_at_the_outermost(db_session):
    with pytest.raises(Boom):
        with unit_of_work(db_session):
            _row(db_session, "outer-2")
            with unit_of_work(db_session):
                raise Boom()
    assert _count(db_session, "outer-2") == 0


def test_units_one_after_another_each_commit(db_session):
    with unit_of_work(db_session):
        _row(db_session, "first")
    with pytest.raises(Boom):
        with unit_of_work(db_session):
            _row(db_session, "second")
            raise Boom()
    assert (_count(db_session, "first"), _count(db_session, "second")) == (1, 0)


@pytest.mark.slow
def test_parallel_callers_see_the_unit_only_once_it_ends(fresh_app):
    """Another connection sees nothing of the block while it runs, and all of it after."""
    with fresh_app.app_context():
        session = get_db(fresh_app).factory()
        try:
            with unit_of_work(session):
                _row(session, "a")
                _row(session, "b")
                with session_scope(fresh_app) as other:
                    assert _count(other, "a") + _count(other, "b") == 0
            with session_scope(fresh_app) as other:
                assert (_count(other, "a"), _count(other, "b")) == (1, 1)
        finally:
            session.close()

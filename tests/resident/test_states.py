"""Verification session states as a type: the strings stored and shown are the ones stored before."""
from __future__ import annotations

from sqlalchemy import inspect, text

from erhc_h5.db import get_db
from erhc_h5.resident.models import VERIFICATION_STATES, VerificationSession
from erhc_h5.cards.models import NoticeState
from erhc_h5.resident.states import ENDED_WITHOUT_PASS, FINISHED, VerificationState
from erhc_h5.resident.verification import State, TERMINAL, TRANSITIONS

# The values rows already hold and pages and logs show (the machine's docstring): they must not change.
STORED = ("created", "in_progress", "pending_provider", "pending_onsite", "passed", "failed", "expired", "locked")


def test_the_states_are_the_stored_strings():
    assert [s.value for s in VerificationState] == list(STORED)
    assert VERIFICATION_STATES == STORED
    assert State is VerificationState
    assert {str(s) for s in VerificationState} == set(STORED)


def test_finished_states_are_the_machines_terminal_ones():
    assert set(FINISHED) == TERMINAL == {"passed", "failed", "expired", "locked"}
    assert set(ENDED_WITHOUT_PASS) == {"failed", "locked", "expired"}
    assert not TERMINAL & set(TRANSITIONS)


def test_each_state_fits_the_migrated_column_and_reads_back_as_plain_text(app, db_session):
    length = next(c["type"].length for c in inspect(get_db(app).engine).get_columns("verification_sessions")
                  if c["name"] == "state")
    assert max(len(s) for s in STORED) <= length
    for i, state in enumerate(VerificationState):
        db_session.add(VerificationSession(id=f"{i:032d}", method="", state=state, payload={}))
    db_session.flush()
    stored = db_session.execute(text("SELECT state FROM verification_sessions WHERE id LIKE '0000000000%' "
                                     "ORDER BY id")).scalars().all()
    assert stored == list(STORED) and all(type(s) is str for s in stored)


def test_notice_states_are_the_stored_strings():
    assert [s.value for s in NoticeState] == ["pending", "sending", "sent", "failed"]


def test_outcome_kinds_keep_their_reason_codes():
    """The refusals before a check are reason codes too (logged, audited): their strings stay."""
    from erhc_h5.resident.verification import METHOD_REFUSALS, OutcomeKind

    assert {str(k) for k in METHOD_REFUSALS} == {"app_suspended", "method_not_filed", "busy", "person_busy",
                                                 "attempts_used"}
    assert {"passed", "retry", "failed", "locked", "pending_onsite", "step_up", "unavailable", "invalid",
            "bad_image", "phone_unproven", "slowed", "onsite_taken"} <= {k.value for k in OutcomeKind}

"""A card's record versions are numbered 1, 2, … with none twice and none skipped, however many
transactions write one at once (a pass, a profile edit, a repair): the counter is read and advanced
under the card's row lock (PostgreSQL) or inside the write transaction (SQLite)."""
from __future__ import annotations

from sqlalchemy import select

from erhc_h5.sandbox import demo
from erhc_h5.db import session_scope, write_transaction
from erhc_h5.records.models import AuthRecord
from erhc_h5.records.versions import record_card_version
from erhc_h5.cards.service import issue_or_update_card
from erhc_h5.cards.models import EHealthCard
from tests.factories import person
from tests.support import demo_app, in_parallel_sessions

WRITERS = 30


def _card(app) -> int:
    with app.app_context(), session_scope(app) as session:
        demo.seed(app, session)
        return issue_or_update_card(session, person(8802), demo_app(session), methods="1").id


def test_thirty_versions_written_at_once_are_numbered_in_turn(fresh_app):
    card_id = _card(fresh_app)

    def writer(session) -> None:
        write_transaction(session)
        record_card_version(session, session.get(EHealthCard, card_id), "u")
        session.commit()

    errors = in_parallel_sessions(fresh_app, WRITERS, writer)
    assert not errors, [type(e).__name__ for e in errors]
    with fresh_app.app_context(), session_scope(fresh_app) as session:
        versions = session.scalars(select(AuthRecord.version).where(AuthRecord.card_id == card_id)
                                   .order_by(AuthRecord.version)).all()
    assert versions == list(range(1, WRITERS + 2)), versions

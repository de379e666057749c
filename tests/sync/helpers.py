"""Helpers for sync tests: cards for synthetic residents (from the one factory) and the demo app."""
from __future__ import annotations

from sqlalchemy import select

from erhc_h5.filing.models import FiledApp
from erhc_h5.resident.cards import issue_or_update_card
from tests.factories import count, person  # noqa: F401  (re-exported for the sync tests)


def demo_app(session, seeded) -> FiledApp:
    return session.scalar(select(FiledApp).where(FiledApp.access_code == seeded["app_record_no"]))


def make_cards(session, app, n: int, start: int = 0, methods: str = "2"):
    cards = [issue_or_update_card(session, person(start + i), app, methods=methods) for i in range(n)]
    session.commit()
    return cards

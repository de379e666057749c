"""Test helpers shared by the code and scan tests: cards, residents bound to a browser session."""
from __future__ import annotations

import json

from erhc_h5.resident.cards import ensure_app_user, issue_or_update_card
from tests.support import demo_app
from tests.factories import resident_id


def idcode(seq: int, birth: str = "19900307", county: str = "330106") -> str:
    """A well-formed resident ID number (valid check character)."""
    return resident_id(county, birth, seq)


def make_card(session, seeded, *, seq: int = 123, name: str = "张三丰", methods: str | None = "1", bind: str | None = None):
    """Issue a card (authenticated by ``methods``, or not when None); optionally tie an app user to it."""
    app = demo_app(session)
    identity = {"name": name, "id_card_type_code": "01", "idcode": idcode(seq), "nation": "01",
                "phone": "13812345678", "county_code": "330106"}
    user = ensure_app_user(session, app, bind) if bind else None
    card = issue_or_update_card(session, identity, app, methods=methods, app_user=user)
    session.flush()
    if user is not None:
        user.card_id = card.id
    session.commit()
    return card, user, identity


def login_resident(client, user) -> None:
    """Bind the test client's cookie session to this app user (what a verified launch does)."""
    with client.session_transaction() as sess:
        sess["resident"] = {"app_user": user.id, "app": user.app_id, "consent": None}


def post_scan(client, token: str, code: str):
    """POST a code to the scan API as a device would (bearer token, JSON body)."""
    return client.post("/api/v1/scan", data=json.dumps({"code": code}),
                       headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})


def seed_with_card(app, codes: int = 1):
    """On a database with real commits: the demo seed, one authenticated card and ``codes`` fresh
    codes for it; returns (seed JSON, card, the card's identity, codes)."""
    from erhc_h5 import demo
    from erhc_h5.code import tokens
    from erhc_h5.db import session_scope

    with app.app_context(), session_scope() as session:
        seeded = demo.seed(app, session)
        session.commit()
        card, _, identity = make_card(session, seeded, methods="2")
        return seeded, card, identity, [tokens.issue(session, card.id).text for _ in range(codes)]

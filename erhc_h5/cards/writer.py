"""The one writer of a card's columns: what the resident journey and the bulk import store for a person.

``passed_card`` gives a new card every column a pass by ``methods`` leaves on it; the journey applies it
to the ORM card it inserts (``service._claim_new_card``), the import to each row of a chunk before its
multi-row INSERT (``importer._prepare_new``). Both then write version 1 of the record with
``records.versions`` (``build_payload``, ``record_columns``) and its outbox entry (``pending_entry``), so a
person imported and the same person passing in the H5 give the same rows
(``tests/cards/test_one_writer.py``).
"""
from __future__ import annotations

import datetime as dt
import secrets

from erhc_h5.cards.assurance import PHONE_PROVEN_LEVEL, level_of, proves_phone
from erhc_h5.db import utcnow
from erhc_h5.records.idnumbers import check_idcode, normalize_idcode
from erhc_h5.records.standard import canonical_methods, normalize_record
from erhc_h5.security.pii import blind_index, make_empi, person_index

# Card columns a resident or an import supplies (identity columns are set by apply_identity).
PROFILE_COLUMNS = (
    "name", "sex", "nation", "nationality", "birthday", "address", "phone", "linkman", "telephone",
    "birthplace", "county_code", "current_address",
)


def new_card_no() -> str:
    """A random 64-character uppercase hex e-health card number."""
    return secrets.token_hex(32).upper()


def empi_of(identity: dict) -> str:
    return make_empi(identity["id_card_type_code"], normalize_idcode(identity["idcode"]), identity.get("nationality"))


def apply_identity(card, identity: dict, *, replace: bool = False, normalized: bool = False) -> None:
    """Copy identity and profile values onto the card; sex and birthday come from a resident ID.

    ``replace``: the values are a verified person's and replace unverified ones, blanks included.
    Values are normalised here too (idempotent), so every path stores the same form;
    ``normalized``: the caller passes ``normalize_record``'s output already (the bulk import)."""
    if not normalized:
        identity = normalize_record(identity)
    type_code = identity["id_card_type_code"]
    idcode = normalize_idcode(identity["idcode"])
    card.id_card_type_code = type_code
    card.idcode = idcode
    card.idcode_bidx = person_index(type_code, idcode, identity.get("nationality"))
    for column in PROFILE_COLUMNS:
        value = identity.get(column)
        if value not in (None, ""):
            setattr(card, column, value)
        elif replace and column not in ("sex", "birthday", "name"):
            setattr(card, column, None)
    parsed = check_idcode(type_code, idcode)
    if parsed is not None:
        card.sex = parsed.sex
        card.birthday = parsed.birthday.isoformat()
    card.phone_bidx = blind_index("phone", card.phone) if card.phone else None


def passed_card(card, identity: dict, app, methods: str, *, normalized: bool = False,
                now: dt.datetime | None = None, canonical: str | None = None) -> None:
    """Set on a new ``card`` (an ORM card or a plain namespace) what a pass by ``methods`` gives it:
    the verified identity and profile, recognize_flag 1, the methods in canonical order and the
    levels they prove. ``canonical``: the caller has already put ``methods`` in canonical order."""
    apply_identity(card, identity, replace=True, normalized=normalized)
    method = canonical or canonical_methods("", methods)
    card.recognize_flag = 1
    card.authentication_method = method
    card.authenticated_at = now or utcnow()
    card.assurance_level = card.profile_level = level_of(method)
    card.phone_level = PHONE_PROVEN_LEVEL if proves_phone(method) else 0
    card.status = "active"
    card.app_id = app.id

"""The verification draft: what a resident has entered so far, and the proofs gathered for it.

Stored encrypted in ``VerificationSession.payload`` and discarded when the session ends. Every
proof (an SMS code sent, a phone proven, a face check begun) records the identity it was begun
for — a fingerprint of name, document and phone — and counts only while the draft still names
that identity: a proof gathered as one person is never credited to another.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

IDENTITY_FIELDS = ("name", "id_card_type_code", "idcode", "nationality")
PROFILE_FIELDS = ("nation", "phone", "county_code", "current_address", "address", "birthplace",
                  "linkman", "telephone")
ASKED_WITHOUT_RESIDENT_ID = ("sex", "birthday")
PERSON_FIELDS = IDENTITY_FIELDS + PROFILE_FIELDS + ASKED_WITHOUT_RESIDENT_ID


@dataclass
class Proof:
    """A step done for one identity: ``value`` (an OTP, a proven phone, a face token) and whom it was for."""

    value: str
    identity: str


@dataclass
class Draft:
    name: str | None = None
    id_card_type_code: str | None = None
    idcode: str | None = None
    nationality: str | None = None
    sex: str | None = None
    birthday: str | None = None
    nation: str | None = None
    phone: str | None = None
    county_code: str | None = None
    current_address: str | None = None
    address: str | None = None
    birthplace: str | None = None
    linkman: str | None = None
    telephone: str | None = None
    identity_done: bool = False
    profile_done: bool = False
    otp: Proof | None = None
    phone_proof: Proof | None = None
    face: Proof | None = None

    @classmethod
    def load(cls, payload: dict | None) -> "Draft":
        """The draft of a stored payload (unknown keys are ignored: an old page's leftovers)."""
        payload = dict(payload or {})
        values = {k: payload.get(k) for k in PERSON_FIELDS if isinstance(payload.get(k), str)}
        proofs = {}
        for key in ("otp", "phone_proof", "face"):
            raw = payload.get(key)
            if isinstance(raw, dict) and isinstance(raw.get("value"), str) and isinstance(raw.get("identity"), str):
                proofs[key] = Proof(raw["value"], raw["identity"])
        return cls(**values, **proofs, identity_done=payload.get("identity_done") is True,
                   profile_done=payload.get("profile_done") is True)

    def dump(self) -> dict:
        return dataclasses.asdict(self)

    def person(self) -> dict:
        """Identity and profile values entered (blank ones left out)."""
        return {k: getattr(self, k) for k in PERSON_FIELDS if getattr(self, k) not in (None, "")}

    def fingerprint(self) -> str:
        """Who this draft is about now: name, document, nationality and phone."""
        parts = [self.name, self.id_card_type_code, self.idcode, self.nationality, self.phone]
        return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:32]

    def proof(self, kind: str) -> str | None:
        """The value of a proof if it was gathered for the identity the draft names now."""
        found: Proof | None = getattr(self, kind)
        if found is None or found.identity != self.fingerprint():
            return None
        return found.value

    def prove(self, kind: str, value: str) -> None:
        setattr(self, kind, Proof(value, self.fingerprint()))

    def drop(self, *kinds: str) -> None:
        for kind in kinds or ("otp", "phone_proof", "face"):
            setattr(self, kind, None)

"""A person as the card knows them: normalised once where they enter the card's code, the person key
computed once, and every later step (finding the card, inserting it, applying a pass) taking both as
they are.

``values`` is the output of ``records.standard.normalize_record`` (full-width digits, spaces and a
lower-case ``x`` already folded; nationality ``CHN`` for Chinese documents), with the document number
in its stored form. ``person_key`` is the card's ``empi``: the keyed hash of document type, number and,
where the number alone does not name one person, nationality (``security.pii.make_empi``)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from erhc_h5.records.idnumbers import normalize_idcode
from erhc_h5.records.standard import normalize_record
from erhc_h5.security.pii import make_empi


@dataclass(frozen=True)
class Identity:
    values: Mapping[str, object]
    person_key: str

    @classmethod
    def of(cls, typed: Mapping | Identity) -> Identity:
        """The identity of ``typed`` (a form's, a provider's or a CSV row's values); an Identity as it is."""
        if isinstance(typed, Identity):
            return typed
        values = normalize_record(dict(typed))
        values["idcode"] = normalize_idcode(values["idcode"])
        key = make_empi(values["id_card_type_code"], values["idcode"], values.get("nationality"))
        return cls(MappingProxyType(values), key)

    @property
    def id_card_type_code(self) -> str:
        return str(self.values["id_card_type_code"])

    @property
    def idcode(self) -> str:
        return str(self.values["idcode"])

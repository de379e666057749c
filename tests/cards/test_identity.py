"""The card's Identity: a number typed in any of the ways people type it names one person, and the card
code computes the person key once per pass (finding, inserting and applying take it as it is)."""
from __future__ import annotations

from erhc_h5.cards import identity as identity_module
from erhc_h5.cards.identity import Identity
from erhc_h5.cards.service import issue_or_update_card
from tests.support import demo_app

# A GB 11643 number whose check digit is X (weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 over
# 11010519491231002: sum 167, 167 mod 11 = 2, check character "X").
CLEAN = {"name": "测试乙", "id_card_type_code": "01", "idcode": "11010519491231002X"}
TYPED = [
    {**CLEAN, "idcode": "11010519491231002x"},
    {**CLEAN, "idcode": " 11010519491231002X "},
    {**CLEAN, "idcode": "１１０１０５１９４９１２３１００２Ｘ"},
    {**CLEAN, "name": " 测试乙 "},
]


def test_a_number_typed_any_way_names_one_person(app):
    clean = Identity.of(CLEAN)
    assert clean.idcode == "11010519491231002X"
    for typed in TYPED:
        assert Identity.of(typed).person_key == clean.person_key, typed
        assert Identity.of(typed).idcode == "11010519491231002X"


def test_another_number_or_document_type_is_another_person(app):
    clean = Identity.of(CLEAN)
    assert Identity.of({**CLEAN, "idcode": "110105194912310029"}).person_key != clean.person_key
    assert Identity.of({**CLEAN, "id_card_type_code": "03", "idcode": "E12345678",
                        "nationality": "CHN"}).person_key != clean.person_key


def test_an_identity_is_taken_as_it_is(app):
    person = Identity.of(CLEAN)
    assert Identity.of(person) is person


def test_one_pass_computes_the_person_key_once(db_session, seeded, monkeypatch):
    calls = []
    real = identity_module.make_empi

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(identity_module, "make_empi", counting)
    card = issue_or_update_card(db_session, {**TYPED[2], "phone": "13800000042", "nation": "01"},
                                demo_app(db_session), methods="2")
    assert len(calls) == 1
    assert card.idcode == "11010519491231002X" and card.empi == Identity.of(CLEAN).person_key

"""Property: whatever is typed into the identity and profile steps, the session stays consistent."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from erhc_h5.records.standard import validate_record
from erhc_h5.resident import verification
from erhc_h5.cards.service import ensure_app_user
from tests.support import demo_app

typed = st.one_of(st.text(max_size=40), st.sampled_from(["", "01", "03", "330106199003071236", "测试甲", "13800000001"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=typed, type_code=typed, idcode=typed, phone=typed, nation=typed)
def test_typed_input_is_either_refused_with_messages_or_valid(app, db_session, seeded, name, type_code, idcode,
                                                             phone, nation):
    user = ensure_app_user(db_session, demo_app(db_session), "prop")
    vs = verification.start(db_session, user, "v", None)
    violations, lock = verification.set_identity(db_session, vs, {"name": name, "id_card_type_code": type_code,
                                                                  "idcode": idcode})
    assert lock is None
    if violations:
        assert vs.state == "created" and all(v.message for v in violations)
        return
    assert validate_record(verification.data(vs), fields=verification.IDENTITY_FIELDS) == []
    problems = verification.set_profile(db_session, vs, {"phone": phone, "nation": nation, "sex": "1",
                                                         "birthday": "1990-01-01"})
    if not problems:
        assert verification.ready_for_check(vs)
    else:
        assert not verification.ready_for_check(vs)
    db_session.rollback()

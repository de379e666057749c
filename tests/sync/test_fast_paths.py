"""The import's fast paths behave exactly like the slow ones: sealed values, memoised ID parsing."""
from __future__ import annotations

import datetime as dt
import json
import os

import pytest
from sqlalchemy import text

from erhc_h5.records import idnumbers
from erhc_h5.records.idnumbers import IdNumberError, normalize_idcode, parse_resident_id
from erhc_h5.security.pii import EncryptedJSON, EncryptedText, Keyring, Sealed, keyring, seal, seal_json


def test_sealed_values_are_stored_as_sealed_and_read_back(app):
    ring = keyring()
    text_type, json_type = EncryptedText(), EncryptedJSON()
    sealed = seal("张三")
    assert type(sealed) is Sealed and sealed.startswith(ring.active_prefix)
    assert text_type.process_bind_param(sealed, None) == str(sealed)  # not encrypted twice
    assert ring.decrypt(sealed) == "张三"
    assert text_type.process_result_value(text_type.process_bind_param(sealed, None), None) == "张三"
    doc = {"b": "示范路1号", "a": 1, "c": None}
    stored = json_type.process_bind_param(seal_json(doc), None)
    assert json_type.process_result_value(stored, None) == doc
    assert ring.decrypt(stored) == json.dumps(doc, ensure_ascii=False, sort_keys=True)
    plain = text_type.process_bind_param("张三", None)  # an ordinary str is still encrypted
    assert plain != "张三" and ring.decrypt(plain) == "张三"
    assert seal(None) is None and seal_json(None) is None


def test_cached_cipher_objects_keep_keys_apart():
    ring = Keyring(keys={"k1": os.urandom(32), "k2": os.urandom(32)}, active="k1")
    old = ring.encrypt("13800000000")
    ring.active = "k2"
    new = ring.encrypt("13800000000")
    assert Keyring.key_id_of(old) == "k1" and Keyring.key_id_of(new) == "k2"
    assert ring.decrypt(old) == ring.decrypt(new) == "13800000000"
    other = Keyring(keys={"k1": os.urandom(32)}, active="k1")
    with pytest.raises(Exception):
        other.decrypt(old)


@pytest.mark.parametrize("raw", ["110101199003074519", "11010119900307451x", "1101011990030745１9", " 1101 0119 9003 0745 14 ",
                                 "１１０１０１１９９００３０７４５１４", "", "abc", "ÄÖ1"])
def test_normalize_fast_path_equals_full_rule(raw):
    import re
    import unicodedata

    assert normalize_idcode(raw) == re.sub(r"\s+", "", unicodedata.normalize("NFKC", raw)).upper()


def test_memoised_parsing_hands_out_fresh_results_and_same_errors():
    first = parse_resident_id("110101199003074514")
    first.warnings.append("mutated")
    second = parse_resident_id("110101199003074514")
    assert second is not first and second.warnings == [] and second.sex == "1"
    assert second.birthday == dt.date(1990, 3, 7)
    for _ in range(2):
        with pytest.raises(IdNumberError) as info:
            parse_resident_id("110101199003074519")
        assert info.value.reason == "bad_checksum"
    # The day is part of the key: a birth date in the future is refused on the day before it.
    with pytest.raises(IdNumberError) as info:
        parse_resident_id("110101199003074514", today=dt.date(1990, 3, 6))
    assert info.value.reason == "bad_birth_date"
    assert idnumbers._parse_cached.cache_info().currsize <= 2048


def test_sqlite_bulk_ids_follow_existing_rows(runner, seeded, db_session, tmp_path):
    """Pre-allocated ids on SQLite continue after the highest id, so earlier rows keep theirs."""
    from tests.factories import people, write_csv

    path = write_csv(tmp_path / "a.csv", people(3))
    assert runner.invoke(args=["residents", "import", path, "--app-record-no", seeded["app_record_no"]]).exit_code == 0
    path = write_csv(tmp_path / "b.csv", people(3, start=3))
    assert runner.invoke(args=["residents", "import", path, "--app-record-no", seeded["app_record_no"]]).exit_code == 0
    ids = [r[0] for r in db_session.execute(text("SELECT id FROM ehealth_cards ORDER BY id")).all()]
    assert len(ids) == len(set(ids)) and len(ids) >= 6
    joined = db_session.execute(text(
        "SELECT count(*) FROM auth_records r JOIN ehealth_cards c ON c.id = r.card_id "
        "JOIN outbox_entries o ON o.auth_record_id = r.id")).scalar()
    assert joined == len(ids)

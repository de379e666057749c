"""The one test-data factory: synthetic people with valid document numbers, images, row counts, and
the builders of database rows (cards, codes, filings, staff, devices, scans, sync batches, verification
sessions, audit entries).

Shared by the whole suite and by ``bench/``. The GB 11643 check character is computed here with the
standard's own weight table (ISO 7064 MOD 11-2 written out), never with the code under test or the
library it uses; ``tests/test_factories.py`` checks this factory against published specimens and reads
each builder's rows back. Row builders add to the session they are given and flush; only
``make_card``, ``card_with_code`` and ``make_cards`` commit, as their callers expect.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import secrets

from sqlalchemy import func, select

from erhc_h5.sandbox import demo
from erhc_h5.audit import AuditEntry
from erhc_h5.code import tokens
from erhc_h5.filing import services as filing_services
from erhc_h5.filing import uploads
from erhc_h5.filing.models import FiledApp
from erhc_h5.cards.service import ensure_app_user, issue_or_update_card
from erhc_h5.resident.models import VerificationSession
from erhc_h5.sandbox.models import SandboxProvinceFiling
from erhc_h5.scan.devices import token_hash
from erhc_h5.scan.models import ScanDevice, ScanEvent
from erhc_h5.staff.models import StaffUser
from erhc_h5.sandbox.models import ProvinceRecord
from erhc_h5.sync.models import SyncAttempt, SyncBatch

# GB 11643-1999 §8.2: weights W_i = 2^(i-1) mod 11 for positions 18..2, and the check character
# for each value of (Σ a_i·W_i) mod 11.
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"

SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"
DEFAULT_DIVISION = "330106"  # 杭州市西湖区


def check_character(body17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    if len(body17) != 17 or not body17.isdigit():
        raise ValueError("17 digits expected")
    return CHECK_CHARACTERS[sum(int(d) * w for d, w in zip(body17, WEIGHTS)) % 11]


def resident_id(division: str = DEFAULT_DIVISION, born: dt.date | str = dt.date(1990, 3, 7), seq: int = 123) -> str:
    """A GB 11643 number: division + birth date + 3-digit sequence (odd = male) + check character."""
    birth = born if isinstance(born, str) else born.strftime("%Y%m%d")
    body = f"{division}{birth}{seq % 1000:03d}"
    return body + check_character(body)


def wrong_check(number: str) -> str:
    """The same number with a check character that is not the right one."""
    right = check_character(number[:17])
    return number[:17] + ("0" if right != "0" else "1")


def person(i: int = 0, *, division: str = DEFAULT_DIVISION, **changes) -> dict:
    """The i-th synthetic resident: distinct ID numbers (and phones) for distinct i below ~3.6 million."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=i % 20000)
    seq = (i // 20000) % 1000
    values = {
        "name": "测" + SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 7) % len(GIVEN)],
        "id_card_type_code": "01",
        "idcode": resident_id(division, born, seq),
        "nation": "01",
        "phone": f"138{i % 100000000:08d}",
        "county_code": "330106",
    }
    values.update(changes)
    return values


def full_person(i: int = 0, **changes) -> dict:
    """A resident with every optional profile field filled in."""
    values = person(i)
    values.update({
        "nationality": "CHN",
        "address": f"浙江省杭州市西湖区文三路{100 + i}号",
        "current_address": f"杭州市滨江区江南大道{200 + i}号",
        "linkman": "钱多多",
        "telephone": f"1370000{1000 + i % 9000}",
        "birthplace": "浙江省杭州市",
    })
    values.update(changes)
    return values


def people(n: int, start: int = 0, **changes) -> list[dict]:
    return [person(start + i, **changes) for i in range(n)]


CSV_HEADER = ("name", "id_card_type_code", "idcode", "phone", "nation", "county_code", "authentication_method")


def write_csv(path, rows, header=CSV_HEADER, encoding: str = "utf-8") -> str:
    """A residents CSV: ``rows`` are dicts (missing columns left empty) or lists in ``header`` order."""
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(h) or "" for h in header] if isinstance(row, dict) else row)
    return str(path)


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (60, 100), color=(10, 110, 60)) -> bytes:
    """A real image file of the given format and size."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def count(session, model, *where) -> int:
    """Rows of ``model`` matching ``where``."""
    return session.scalar(select(func.count()).select_from(model).where(*where))


# -- Rows ------------------------------------------------------------------------------------------

FILING_FIELDS = {
    "app_name": "测试健康服务App",
    "app_filing_no": "APPTEST0001",
    "org_name": "测试市卫生健康委员会",
    "org_filing_no": "ORG-TEST-01",
    "builder_unit": "测试市卫生健康委员会",
    "builder_contact": "赵建设 0571-11111111",
    "developer_unit": "测试信息技术有限公司",
    "developer_contact": "钱开发 0571-22222222",
    "auth_methods": ["2", "3"],
    "allowed_origins": "https://app.example.cn",
}


def demo_app(session) -> FiledApp:
    """The seeded demo app (``demo.seed`` has run)."""
    return session.scalar(select(FiledApp).where(FiledApp.app_filing_no == demo.DEMO_APP_FILING_NO))


def make_card(session, seeded=None, *, seq: int = 123, name: str = "张三丰", methods: str | None = "1",
              bind: str | None = None):
    """A card issued through the demo app (authenticated by ``methods``, or not when None), optionally
    tied to app user ``bind``; committed. Returns (card, app user or None, identity)."""
    app = demo_app(session)
    identity = {"name": name, "id_card_type_code": "01", "idcode": resident_id(DEFAULT_DIVISION, "19900307", seq),
                "nation": "01", "phone": "13812345678", "county_code": "330106"}
    user = ensure_app_user(session, app, bind) if bind else None
    card = issue_or_update_card(session, identity, app, methods=methods, app_user=user)
    session.flush()
    if user is not None:
        user.card_id = card.id
    session.commit()
    return card, user, identity


def card_with_code(session, seeded=None, *, now: float | None = None, **card):
    """A card (``make_card``'s keywords), the text of one code issued for it at ``now`` and the card's
    identity; committed."""
    made, _, identity = make_card(session, seeded, **card)
    text = tokens.issue(session, made.id, now).text
    session.commit()
    return made, text, identity


def make_cards(session, app: FiledApp, n: int, start: int = 0, methods: str = "2"):
    """Authenticated cards for the factory's people ``start`` .. ``start + n - 1``, committed."""
    cards = [issue_or_update_card(session, person(start + i), app, methods=methods) for i in range(n)]
    session.commit()
    return cards


def pending_filing(session, reviewer: StaffUser, checker: StaffUser, **fields) -> FiledApp:
    """A filing the reviewer drafted and submitted and ``checker`` sent to the province (the app's
    UPLOAD_DIR receives its screenshot)."""
    filed = filing_services.create_application(session, {**FILING_FIELDS, "auth_methods": "1^2^3^4", **fields},
                                               actor_id=reviewer.id)
    uploads.add_screen(session, filed, image_bytes("PNG"), actor_id=reviewer.id)
    filing_services.transition(session, filed, "submit", actor_id=reviewer.id)
    filing_services.transition(session, filed, "approve", actor_id=checker.id, opinion="同意报省")
    return filed


def staff_user(session, username: str, role: str, password: str, **fields) -> StaffUser:
    """A staff account with ``password`` set (its display name defaults to the username)."""
    user = StaffUser(username=username, role=role, **{"display_name": username, **fields})
    user.set_password(password)
    session.add(user)
    session.flush()
    return user


def scan_device(session, name: str = "第二台扫码枪", site_name: str = "另一接种点") -> str:
    """An enrolled scan device; returns its bearer token (only its hash is stored)."""
    token = "dev_" + secrets.token_hex(20)
    session.add(ScanDevice(name=name, site_name=site_name, token_hash=token_hash(token), token_hint=token[:8]))
    session.flush()
    return token


def scan_event(session, site_name: str, result: str = "authenticated", **fields) -> ScanEvent:
    """One scan as the audit keeps it."""
    event = ScanEvent(site_name=site_name, result=result, **fields)
    session.add(event)
    session.flush()
    return event


def sync_batch(session, cd_batch: str, state: str = "done", record_count: int = 1, attempt_rows=(),
               **fields) -> SyncBatch:
    """A batch and its upload attempts (``attempt_rows``: each a dict of ``SyncAttempt`` columns)."""
    batch = SyncBatch(cd_batch=cd_batch, state=state, record_count=record_count, **fields)
    session.add(batch)
    session.flush()
    session.add_all([SyncAttempt(batch_id=batch.id, **attempt) for attempt in attempt_rows])
    session.flush()
    return batch


def province_record(session, record: dict, cd_batch: str = "3301202612031000001", **changes) -> ProvinceRecord:
    """A version the province received earlier, stored as its receiver stores it."""
    held = {**record, **changes, "cd_batch": cd_batch}
    row = ProvinceRecord(record_id=held["id"], cd_time=held["cd_time"], cd_operation=held["cd_operation"],
                         cd_batch=cd_batch, cd_source="3301", payload=held)
    session.add(row)
    session.flush()
    return row


def verification_session(session, key: str, method: str = "2", state: str = "passed", **fields) -> VerificationSession:
    """A verification session whose id is ``key`` padded with zeros to the column's 32 characters."""
    row = VerificationSession(id=key.ljust(32, "0"), method=method, state=state, **fields)
    session.add(row)
    session.flush()
    return row


def audit_entry(session, action: str, actor_type: str = "system", **fields) -> AuditEntry:
    """One audit log row."""
    row = AuditEntry(actor_type=actor_type, action=action, **{"detail": {}, **fields})
    session.add(row)
    session.flush()
    return row


def sandbox_filing(session, city_filing_id: int, form: dict | None = None, **fields) -> SandboxProvinceFiling:
    """A filing as the sandbox province holds it, received from city 3301 unless ``fields`` say otherwise."""
    row = SandboxProvinceFiling(**{"cd_source": "3301", "city_filing_id": city_filing_id, "form": form or {}, **fields})
    session.add(row)
    session.flush()
    return row

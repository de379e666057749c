"""Helpers for sync tests: synthetic residents with valid ID numbers, and outbox inspection."""
from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import func, select
from stdnum.cn.ric import calc_check_digit

from erhc_h5.filing.models import FiledApp
from erhc_h5.resident.cards import issue_or_update_card

SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚"


def ric(division: str, born: dt.date, seq: int) -> str:
    """A GB 11643 resident ID number with a correct check character."""
    body = f"{division}{born:%Y%m%d}{seq % 1000:03d}"
    return body + calc_check_digit(body)


def person(i: int, rng: random.Random | None = None) -> dict:
    """The i-th synthetic resident (distinct ID numbers for distinct i below ~3.6 million)."""
    rng = rng or random.Random(i)
    born = dt.date(1950, 1, 1) + dt.timedelta(days=i % 20000)
    seq = (i // 20000) % 1000
    return {
        "name": SURNAMES[i % len(SURNAMES)] + GIVEN[(i // 7) % len(GIVEN)] + GIVEN[(i // 3) % len(GIVEN)],
        "id_card_type_code": "01",
        "idcode": ric("330106", born, seq),
        "nation": "01",
        "phone": f"138{i % 100000000:08d}",
        "county_code": "330106",
    }


def demo_app(session, seeded) -> FiledApp:
    return session.scalar(select(FiledApp).where(FiledApp.access_code == seeded["app_record_no"]))


def make_cards(session, app, n: int, start: int = 0, methods: str = "2"):
    cards = [issue_or_update_card(session, person(start + i), app, methods=methods) for i in range(n)]
    session.commit()
    return cards


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))

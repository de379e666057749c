"""The one test-data factory: synthetic people with valid document numbers, images, row counts.

Shared by the whole suite and by ``bench/``. The GB 11643 check character is computed here with
the standard's own weight table (ISO 7064 MOD 11-2 written out), never with the code under test
or the library it uses; ``tests/test_factories.py`` checks this factory against published specimens.
"""
from __future__ import annotations

import csv
import datetime as dt
import io

from sqlalchemy import func, select

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

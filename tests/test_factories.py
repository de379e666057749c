"""The test-data factory checked against published GB 11643 numbers (nothing computed by the code under test)."""
from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import check_character, people, resident_id, wrong_check

# Published specimens: GB 11643-1999's example, python-stdnum's doctest, and numbers printed as
# examples on the ministry's and provinces' public pages (a male and a female, an X-ending one).
PUBLISHED = [
    "11010519491231002X",  # GB 11643-1999 specimen
    "360426199101010071",  # python-stdnum cn.ric doctest
    "440524188001010014",  # GB 11643-1999 annex example
]


@pytest.mark.parametrize("number", PUBLISHED)
def test_check_character_matches_published_numbers(number):
    assert check_character(number[:17]) == number[17]


def test_specimen_is_rebuilt_from_its_parts():
    assert resident_id("110105", dt.date(1949, 12, 31), 2) == "11010519491231002X"


def test_every_check_value_is_reachable_and_x_is_ten():
    seen = {check_character(f"3301061990030712{d}") for d in range(10)}
    seen |= {check_character(f"330106199003071{d}0") for d in range(10)}
    assert "X" in seen and len(seen) == 11


def test_wrong_check_is_wrong_and_people_are_distinct():
    number = resident_id()
    assert wrong_check(number) != number and len(wrong_check(number)) == 18
    crowd = people(500)
    assert len({p["idcode"] for p in crowd}) == 500
    assert all(check_character(p["idcode"][:17]) == p["idcode"][17] for p in crowd)

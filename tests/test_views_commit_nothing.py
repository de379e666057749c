"""Views turn an outcome into a response; the services they call own the transaction. No module
that defines routes commits or rolls back a session itself (`erhc_h5/uow.py`)."""
from __future__ import annotations

import re
from pathlib import Path

import erhc_h5

PACKAGE = Path(erhc_h5.__file__).parent
ROUTE = re.compile(r"@(?:\w+)\.(?:route|get|post)\(")


def view_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*views*.py") if ROUTE.search(p.read_text(encoding="utf-8")))


def test_the_view_modules_are_found():
    names = {p.relative_to(PACKAGE).as_posix() for p in view_modules()}
    assert {"resident/views.py", "resident/verify_views.py", "scan/views.py", "filing/views.py",
            "code/views.py", "ops/views.py", "staff/views.py", "staff/onsite_views.py"} <= names


def test_no_view_module_commits_or_rolls_back():
    offenders = [f"{p.relative_to(PACKAGE)}:{n}" for p in view_modules()
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if ".commit(" in line or ".rollback(" in line]
    assert offenders == []

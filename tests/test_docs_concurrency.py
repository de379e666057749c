"""docs/concurrency.md: every test it names exists, every module it names exists, and every row
names a test (a mechanism without an attacker is not listed as kept)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "concurrency.md").read_text(encoding="utf-8")
TEST_REF = re.compile(r"`(tests/[a-z_/0-9]+\.py)::([a-z_0-9]+)`")


def _rows() -> list[list[str]]:
    lines = [line for line in DOC.splitlines() if line.startswith("|")]
    header, rule, *rows = lines
    assert header.count("|") == 6 and set(rule) <= {"|", "-"}, header
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_every_named_test_exists():
    named = TEST_REF.findall(DOC)
    assert len(named) >= 20, "the pattern no longer matches the document"
    missing = [f"{path}::{name}" for path, name in named
               if not (ROOT / path).exists() or f"def {name}(" not in (ROOT / path).read_text(encoding="utf-8")]
    assert not missing, missing


def test_every_row_names_a_test_and_the_modules_it_names_exist():
    rows = _rows()
    assert len(rows) >= 15, len(rows)
    assert all(len(row) == 5 for row in rows), [row[0] for row in rows if len(row) != 5]
    assert not [row[0] for row in rows if not TEST_REF.search(row[4])]
    modules = set(re.findall(r"`((?:[a-z_]+/)+[a-z_0-9]+\.py)`", DOC)) - {p for p, _ in TEST_REF.findall(DOC)}
    assert not [m for m in sorted(modules) if not (ROOT / "erhc_h5" / m).exists() and not (ROOT / m).exists()]


def test_the_readme_points_to_it():
    assert "docs/concurrency.md" in (ROOT / "README.md").read_text(encoding="utf-8")

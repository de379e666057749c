"""The card lives in its own package: it does not reach into the resident journey, and the journey
does not hold the card's tables (a module that needs the card never has to import the journey)."""
from __future__ import annotations

import ast
from pathlib import Path

import erhc_h5

PACKAGE = Path(erhc_h5.__file__).parent
CARD_TABLES = {"ehealth_cards", "app_users", "link_notices"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    found |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return found


def test_the_card_package_imports_nothing_of_the_journey():
    offending = {path.name: sorted(m for m in _imports(path) if m.startswith("erhc_h5.resident"))
                 for path in (PACKAGE / "cards").glob("*.py")}
    assert not {name: mods for name, mods in offending.items() if mods}


def test_the_cards_tables_are_defined_in_the_card_package_only():
    defined = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__tablename__" for t in node.targets):
                if isinstance(node.value, ast.Constant) and node.value.value in CARD_TABLES:
                    defined[node.value.value] = path.relative_to(PACKAGE).as_posix()
    assert defined == {table: "cards/models.py" for table in CARD_TABLES}

"""Every module path and every function the README names exists: a reader who follows it finds the code."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_file_path_the_readme_names_exists():
    named = set(re.findall(r"`((?:[a-z_]+/)+[a-z_0-9]+\.(?:py|conf|md|sh))`", README))
    assert named, "the README names no paths: the pattern is wrong"
    missing = [p for p in sorted(named)
               if not any((base / p).exists() for base in (ROOT, ROOT / "erhc_h5", ROOT / "docs"))]
    assert not missing, missing


def _resolve(dotted: str):
    """``module.attr`` or ``package.module.attr`` inside erhc_h5, wherever the module lives."""
    *modules, attr = dotted.split(".")
    candidates = [p for p in (ROOT / "erhc_h5").rglob(f"{modules[-1]}.py")
                  if p.with_suffix("").parts[-len(modules):] == tuple(modules)]
    for path in candidates:
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        module = importlib.import_module(name)
        if hasattr(module, attr):
            return getattr(module, attr)
    return None


def test_the_records_path_walks_through_functions_that_exist():
    walk = README.split("The record's path, one function per step:")[1].split("\n\n")[0]
    numbered = re.findall(r"^(\d+)\. ", walk, re.M)
    assert numbered == [str(i) for i in range(1, len(numbered) + 1)] and len(numbered) >= 8, numbered
    steps = re.findall(r"`([a-z_]+(?:\.[a-z_A-Z]+)+)`", walk)
    assert len(steps) >= 12, steps
    missing = [step for step in steps if _resolve(step) is None]
    assert not missing, missing

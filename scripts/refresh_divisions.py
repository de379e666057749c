#!/usr/bin/env python3
"""Rebuild erhc_h5/records/data/divisions.csv from a published list of division codes.

Usage:
    python scripts/refresh_divisions.py SOURCE.txt --source "民政部 2024年县以上行政区划代码" --as-of 2024-12-31

SOURCE is any text in which each division is one line holding a 6-digit code and its name, in
either order, separated by commas, tabs or spaces — the Ministry of Civil Affairs' yearly table
pasted as text, or a CSV export such as the statistics bureau's county list. Province and city
lines (``330000 浙江省``, ``330100 杭州市``) give the names of the levels above a county.
Codes whose third pair starts with 7 (the statistics bureau's functional zones, 71–79) are not
civil-affairs divisions and are left out. The output is sorted, one division a line, with the
source and date in its header so that a reviewer sees what changed in a diff.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "erhc_h5" / "records" / "data" / "divisions.csv"
LINE = re.compile(r"(?P<code>\d{6})[\s,\t\"]+(?P<name>[^\s,\t\"]+)|(?P<name2>[^\s,\t\"\d]+)[\s,\t\"]+(?P<code2>\d{6})")


def parse(text: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for raw in text.splitlines():
        match = LINE.search(raw)
        if not match:
            continue
        code = match.group("code") or match.group("code2")
        name = (match.group("name") or match.group("name2")).strip()
        if code[4] == "7" or code.endswith("0000") and code[:2] in ("71", "81", "82"):
            continue  # functional zones; HK/MO/TW are handled as residence-permit divisions
        table.setdefault(code, name)
    return table


def level(code: str) -> str:
    if code.endswith("0000"):
        return "province"
    if code.endswith("00") and code[:4] + "00" == code and code[2:4] != "00":
        return "city"
    return "county"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source_file")
    parser.add_argument("--source", required=True, help="who published the list, and its title")
    parser.add_argument("--as-of", required=True, help="the date the list is valid at (yyyy-mm-dd)")
    args = parser.parse_args(argv)
    table = parse(Path(args.source_file).read_text(encoding="utf-8"))
    counties = [c for c in table if level(c) == "county"]
    if len(counties) < 2500:
        print(f"only {len(counties)} counties found: is this the whole list?", file=sys.stderr)
        return 1
    lines = [
        f"# Administrative divisions (GB/T 2260 codes), county level and above. Source: {args.source}.",
        f"# Valid as of {args.as_of}. Rebuilt by scripts/refresh_divisions.py; do not edit by hand.",
        "code,name,level",
    ]
    for code in sorted(table):
        # A prefecture-level city without districts (东莞, 中山, 儋州) is listed as both; it is a county here.
        kind = "county" if code in counties or (level(code) == "city" and not any(
            c.startswith(code[:4]) and c != code for c in counties)) else level(code)
        lines.append(f"{code},{table[code]},{kind}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(table)} divisions ({len(counties)} counties) written to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where one resident journey's time goes, in process: SQL statements per step and a cProfile.

    flock /tmp/bench.lock .venv/bin/python bench/journey_profile.py [--sqlite] [--journeys 40] [--top 30]

Same journey as bench/journey_load.py (same steps, CSRF on, rate limits off) through Flask's test
client in one thread, on a fresh migrated database (PostgreSQL by default). Prints statements per
request (counted with SQLAlchemy's ``before_cursor_execute``), milliseconds per journey, and the
top entries of a cProfile by cumulative and by own time.
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.journey_load import CSRF, identity, prepare  # noqa: E402
from bench.scan_load import clean_up, new_database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--journeys", type=int, default=40)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--filter", default="", help="regex on file:function for the cumulative list")
    parser.add_argument("--sql", action="store_true", help="print the statements of one journey")
    parser.add_argument("--no-pre-ping", action="store_true",
                        help="measure without the pool's ping on checkout (erhc_h5/db.py sets pool_pre_ping)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="erhc-jprof-"))
    db_url = new_database(tmp, not args.sqlite)
    env = {"ERHC_DATABASE_URL": db_url, "ERHC_SECRET_KEY": "bench-" + secrets.token_hex(8),
           "ERHC_LOG_LEVEL": "WARNING", "ERHC_RATELIMIT_ENABLED": "false"}
    try:
        filing_no, secret = prepare(env)
        os.environ.update(env)
        from sqlalchemy import event

        from erhc_h5 import create_app
        from erhc_h5.db import get_db
        from erhc_h5.resident.launch import make_launch_url

        app = create_app()
        step = {"name": "?"}
        counts: collections.Counter = collections.Counter()
        took: collections.Counter = collections.Counter()
        cpu: collections.Counter = collections.Counter()
        statements: list[str] = []

        def count(conn, cursor, statement, *_):
            counts[step["name"]] += 1
            statements.append(f"{step['name']}: {' '.join(statement.split())[:160]}")

        event.listen(get_db(app).engine, "before_cursor_execute", count)
        if args.no_pre_ping:
            get_db(app).engine.pool._pre_ping = False

        def token(page) -> str:
            match = CSRF.search(page.get_data(as_text=True))
            assert page.status_code == 200 and match, page.status_code
            return match.group(1) or match.group(2)

        def call(name, method, path, **kw):
            step["name"] = name
            began, cpu_began = time.perf_counter(), time.thread_time()
            reply = getattr(client, method)(path, **kw)
            took[name] += time.perf_counter() - began
            cpu[name] += time.thread_time() - cpu_began
            assert reply.status_code in (200, 302, 303), (name, reply.status_code)
            return reply

        def journey(n: int) -> None:
            global client
            client = app.test_client()
            url = make_launch_url(filing_no, f"prof-{n}", secret)
            call("GET launch", "get", url)
            call("GET service", "get", "/h5/service")
            for path, data in (("/h5/consent", {"agree": "y"}), ("/h5/identity", identity(n)),
                               ("/h5/profile", {"nation": "01", "phone": f"139{n:08d}", "county_code": "330106",
                                                "current_address": "测试路1号"})):
                page = call("GET " + path, "get", path)
                call("POST " + path, "post", path, data={**data, "csrf_token": token(page)})
            page = call("GET /h5/methods", "get", "/h5/methods")
            done = call("POST two-factor", "post", "/h5/verify/two-factor", data={"csrf_token": token(page)})
            assert done.headers["Location"].endswith("/h5/code"), done.headers.get("Location")
            face = call("GET /h5/code", "get", "/h5/code")
            assert 'alt="电子健康码"' in face.get_data(as_text=True)

        for n in range(5):  # warm-up
            journey(10_000 + n)
        took.clear()
        cpu.clear()
        cpu_began = time.process_time()
        began = time.perf_counter()
        for n in range(args.journeys):  # unprofiled: wall time per step
            journey(20_000 + n)
        plain = time.perf_counter() - began
        plain_cpu = time.process_time() - cpu_began
        plain_steps, plain_cpu_steps = dict(took), dict(cpu)
        bare_client = app.test_client()
        cpu_began = time.thread_time()
        for _ in range(500):
            bare_client.get("/healthz")
        bare_cpu = (time.thread_time() - cpu_began) / 500
        counts.clear()
        statements.clear()
        profiler = cProfile.Profile()
        began = time.perf_counter()
        profiler.enable()
        for n in range(args.journeys):
            journey(n)
        profiler.disable()
        wall = time.perf_counter() - began
        get_db(app).engine.dispose()
        db = "sqlite" if args.sqlite else "postgresql"
        print(f"database {db}: {args.journeys} journeys, {plain / args.journeys * 1000:.1f} ms a journey in process "
              f"({wall / args.journeys * 1000:.1f} under cProfile), {sum(counts.values()) / args.journeys:.1f} "
              f"statements a journey (BEGIN, COMMIT and pool pings not counted); "
              f"{plain_cpu / args.journeys * 1000:.1f} ms of it this process's CPU")
        print("  statements  ms (unprofiled)  CPU ms  step")
        for name, n in counts.items():
            print(f"  {n / args.journeys:10.1f}  {plain_steps[name] / args.journeys * 1000:15.1f}  "
                  f"{plain_cpu_steps[name] / args.journeys * 1000:6.2f}  {name}")
        print(f"  {0:10.1f}  {'':15}  {bare_cpu * 1000:6.2f}  GET /healthz (bare, for comparison)")
        if args.sql:
            per = len(statements) // args.journeys
            print("\n".join(statements[:per]))
        stats = pstats.Stats(profiler)
        by_package: collections.Counter = collections.Counter()
        for (filename, _, _), (_, _, own, _, _) in stats.stats.items():
            part = filename.split("site-packages/")[-1] if "site-packages/" in filename else filename
            key = part.split("/")[0] if "site-packages/" in filename else (
                "erhc_h5/" + part.split("erhc_h5/")[1].split("/")[0] if "erhc_h5/" in part else
                "stdlib" if "python3.11" in part else part if part.startswith("<") else part.split("/")[-1] if part != "~" else "builtins")
            by_package[key] += own
        total = sum(by_package.values())
        print("own time by package (cProfile):")
        for key, own in by_package.most_common(18):
            print(f"  {own / args.journeys * 1000:7.1f} ms a journey  {own / total:5.1%}  {key}")
        stats.sort_stats("cumulative").print_stats(args.filter or "", args.top)
        stats.sort_stats("tottime").print_stats(args.top)
    finally:
        clean_up(None, db_url, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())

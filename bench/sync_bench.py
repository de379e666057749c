"""Import + upload benchmark: N synthetic residents from CSV to the sandbox provincial receiver.

    .venv/bin/python bench/sync_bench.py                 # SQLite, 10,000 then 100,000 rows
    .venv/bin/python bench/sync_bench.py --postgres      # PostgreSQL (ERHC_BENCH_PG or local test server)
    .venv/bin/python bench/sync_bench.py --sizes 2000    # a quick run

For each size: a fresh database, a CSV of valid synthetic people, the sandbox receiver on its own
port and its own database, then `flask residents import` and `flask sync run` as real processes
(the worker uploads while the import is still writing). Prints records/s end to end (import start
to the last version accepted by the receiver) and the peak RSS of the importer and the worker.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.factories import check_character  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
COUNTIES = ("330102", "330105", "330106", "330108", "330109", "330110")


def write_csv(path: Path, n: int) -> None:
    """N distinct, valid residents (GB 11643 numbers with correct check characters)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["name", "id_card_type_code", "idcode", "phone", "nation", "county_code",
                      "current_address", "authentication_method"])
        start = dt.date(1940, 1, 1)
        for i in range(n):
            county = COUNTIES[i % len(COUNTIES)]
            body = f"{county}{start + dt.timedelta(days=(i // 1000) % 25000):%Y%m%d}{i % 1000:03d}"
            out.writerow([SURNAMES[i % 23] + GIVEN[(i // 23) % 23] + GIVEN[(i // 529) % 23], "01",
                          body + check_character(body), f"13{i % 1000000000:09d}", f"{1 + i % 56:02d}",
                          county, f"示范路{i % 997}号", "" if i % 3 else "2^3"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_db(tmp: Path, name: str, pg: str | None) -> str:
    if not pg:
        return f"sqlite:///{tmp / (name + '.sqlite3')}"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    db = f"erhc_bench_{name}_{secrets.token_hex(4)}"
    engine = create_engine(make_url(pg), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    engine.dispose()
    return make_url(pg).set(database=db).render_as_string(hide_password=False)


def drop_db(url: str, pg: str | None) -> None:
    if not pg:
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(make_url(pg), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


def flask(env: dict, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env, **kw)


CPU_SECONDS: dict[int, float] = {}
PROFILE_DIR: Path | None = None
WORKERS = 1


def profile_processes(n: int, procs: dict[str, subprocess.Popen]) -> list[subprocess.Popen]:
    """With --profile DIR: attach py-spy to each process (collapsed stacks, DIR/<name>-<n>.txt);
    summarise with bench/sync_profile_top.py. Profiling costs CPU: its figures are not the bench's."""
    if PROFILE_DIR is None:
        return []
    spy = str(Path(sys.executable).with_name("py-spy"))
    return [subprocess.Popen([spy, "record", "--pid", str(p.pid), "--rate", "250", "--format", "raw",
                              "--output", str(PROFILE_DIR / f"{name}-{n}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for name, p in procs.items()]


def reap(proc: subprocess.Popen) -> tuple[int, float]:
    """Wait for a child; its exit status and peak RSS in MB (from wait4, so only that process).
    Its CPU seconds (user + system) are kept in CPU_SECONDS by pid."""
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    CPU_SECONDS[proc.pid] = usage.ru_utime + usage.ru_stime
    return proc.returncode, usage.ru_maxrss / 1024.0


def outbox(city_url: str) -> dict:
    from sqlalchemy import create_engine, text

    engine = create_engine(city_url)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT state, count(*) FROM outbox_entries GROUP BY state")).all())
    engine.dispose()
    return rows


def run_size(n: int, pg: str | None, tmp: Path) -> dict:
    city, province = new_db(tmp, f"city{n}", pg), new_db(tmp, f"prov{n}", pg)
    port = free_port()
    base = {**os.environ, "ERHC_LOG_LEVEL": "WARNING", "ERHC_SYNC_RETRY_BASE_SECONDS": "0",
            "ERHC_SYNC_POLL_SECONDS": "0.2", "ERHC_PROVINCE_READ_TIMEOUT": "60"}
    city_env = {**base, "ERHC_DATABASE_URL": city, "ERHC_PROVINCE_URL": f"http://127.0.0.1:{port}/sandbox-province"}
    prov_env = {**base, "ERHC_DATABASE_URL": province}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    try:
        for env in (city_env, prov_env):
            subprocess.run([sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT, env=env,
                           check=True, capture_output=True)
        seed = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "demo", "seed"], cwd=ROOT,
                              env=city_env, check=True, capture_output=True, text=True)
        app_record_no = json.loads(seed.stdout.strip().splitlines()[-1])["app_record_no"]
        csv_path = tmp / f"residents-{n}.csv"
        write_csv(csv_path, n)
        receiver = flask(prov_env, "sync", "receiver", "--port", str(port), **quiet)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        started = time.monotonic()
        importer = flask(city_env, "residents", "import", str(csv_path), "--app-record-no", app_record_no,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        workers = [flask(city_env, "sync", "run", **quiet) for _ in range(WORKERS)]
        worker = workers[0]
        spies = profile_processes(n, {"importer": importer, "worker": worker, "receiver": receiver})
        last = importer.stdout.read().strip().splitlines()[-1]
        import_rc, import_rss = reap(importer)
        imported_at = time.monotonic()
        counts: dict = {}
        while time.monotonic() - imported_at < 600:
            counts = outbox(city)
            if counts.get("accepted", 0) >= n or (counts.get("pending", 0) + counts.get("batched", 0)) == 0:
                break
            time.sleep(0.25)
        finished = time.monotonic()
        for w in workers:
            w.send_signal(signal.SIGTERM)
        worker_rc, worker_rss = reap(worker)
        for w in workers[1:]:
            worker_rc = worker_rc or reap(w)[0]
        receiver.send_signal(signal.SIGTERM)
        reap(receiver)
        for spy in spies:
            spy.wait(timeout=60)
        elapsed = finished - started
        return {
            "rows": n, "import": json.loads(last), "import_exit": import_rc, "worker_exit": worker_rc,
            "accepted": counts.get("accepted", 0), "seconds": round(elapsed, 1),
            "import_seconds": round(imported_at - started, 1),
            "records_per_second": round(counts.get("accepted", 0) / elapsed, 0),
            "import_peak_rss_mb": round(import_rss, 1), "worker_peak_rss_mb": round(worker_rss, 1),
            "cpu_seconds": {name: round(CPU_SECONDS.get(proc.pid, 0.0), 1)
                            for name, proc in (("importer", importer), *((f"worker{i + 1}" if i else "worker", w)
                                                                          for i, w in enumerate(workers)),
                                               ("receiver", receiver))},
            "load_average": round(os.getloadavg()[0], 1),
        }
    finally:
        drop_db(city, pg)
        drop_db(province, pg)


TARGET_RECORDS_PER_S = 2000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", nargs="?", const=os.environ.get("ERHC_BENCH_PG", PG_DEFAULT), default=None,
                        help="run on PostgreSQL (optional URL of a server database to create bench databases from)")
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated row counts")
    parser.add_argument("--profile", type=Path, default=None,
                        help="directory for py-spy profiles of the three processes (figures then include its cost)")
    parser.add_argument("--workers", type=int, default=1, help="sync worker processes (scaling runs)")
    args = parser.parse_args()
    global PROFILE_DIR, WORKERS
    WORKERS = max(1, args.workers)
    if args.profile:
        PROFILE_DIR = args.profile
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="erhc-sync-bench-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            result = run_size(n, args.postgres, Path(tmp))
            result["database"] = "postgresql" if args.postgres else "sqlite"
            results.append(result)
            print(f"{result['database']:>10} {n:>7} rows: {result['records_per_second']:>6.0f} records/s end to end "
                  f"({result['seconds']} s, import {result['import_seconds']} s), peak RSS importer "
                  f"{result['import_peak_rss_mb']} MB, worker {result['worker_peak_rss_mb']} MB; CPU s {result['cpu_seconds']}, "
                  f"load {result['load_average']}", flush=True)
    missed = [r for r in results if r["records_per_second"] < TARGET_RECORDS_PER_S]
    print(f"target >= {TARGET_RECORDS_PER_S} records/s: {'MISSED' if missed else 'met'}")
    print(json.dumps(results, ensure_ascii=False))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

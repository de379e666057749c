"""Scan API load benchmark: gunicorn (2 workers) on a fresh migrated DB, wrk at 32 connections.

    flock /tmp/bench.lock .venv/bin/python bench/scan_load.py [--postgres] [--duration 8] [--rounds 3] [--workers 2]

Workers: 2 sync workers on SQLite (writers serialise on the database's writer lock), 2 gthread
workers x 4 threads on PostgreSQL, each holding at most its even share of wrk's connections (else
one worker may keep them all for a whole round); --worker-class/--threads/--worker-connections
override. Each round prints every worker's share of the workers' CPU.

One run: migrate a new database (SQLite file, or a new PostgreSQL database with --postgres; server
from ERHC_BENCH_PG_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres), seed the
demo data and 200 authenticated residents, issue one fresh code each, start gunicorn, then wrk
POSTs those codes round-robin to /api/v1/scan with the demo device's token, and afterwards hits
/bench/bare (same app, same hooks, no work) as the ceiling. Every scan request does the real work:
device lookup, signature and expiry check, card lookup with decryption, the replay query and the
ScanEvent insert + commit. All codes are scanned by one device, so a repeat is a legitimate rescan
(not ``replayed``) and every response must be 200 — the script fails if any is not.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.factories import person  # noqa: E402
from tests.support import drop_database, new_database_url  # noqa: E402
RESIDENTS = 200

LUA = """
local codes = {%s}
local token = "%s"
local i = 0
request = function()
  i = i %% #codes + 1
  return wrk.format("POST", "/api/v1/scan",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"},
    '{"code": "' .. codes[i] .. '"}')
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TARGET_RATIO = 0.40  # scan API throughput against a bare Flask endpoint under the same gunicorn


def new_database(tmp: Path, postgres: bool) -> str:
    server = os.environ.get("ERHC_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    return new_database_url(tmp, server if postgres else "", prefix="erhc_bench")


@contextmanager
def seeded(env: dict):
    """Migrate and seed the database ``env`` names; yields (seed JSON, session, the demo FiledApp)."""
    os.environ.update(env)
    from erhc_h5 import create_app, migrate
    from erhc_h5.sandbox import demo
    from erhc_h5.db import get_db, session_scope
    from erhc_h5.filing.models import FiledApp

    app = create_app()
    migrate.upgrade(app)
    with app.app_context(), session_scope(app) as session:
        seed = demo.seed(app, session)
        yield seed, session, session.query(FiledApp).filter_by(access_code=seed["app_record_no"]).one()
    get_db(app).engine.dispose()


def prepare(env: dict) -> tuple[str, list[str]]:
    """Migrate, seed, create residents and issue one code each; returns (device token, codes)."""
    from erhc_h5.code import tokens
    from erhc_h5.cards.service import issue_or_update_card

    with seeded(env) as (seed, session, filed):
        card_ids = []
        for i in range(RESIDENTS):
            card = issue_or_update_card(session, person(i), filed, methods="2")
            session.flush()
            card_ids.append(card.id)
        session.commit()
        codes = [tokens.issue(session, cid).text for cid in card_ids]
    return seed["device_token"], codes


def clean_up(server: subprocess.Popen | None, db_url: str, tmp: Path) -> None:
    """Stop the bench's gunicorn, drop its database and remove its files."""
    if server is not None:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    drop_database(db_url)
    shutil.rmtree(tmp, ignore_errors=True)


TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, reaped_children: bool = False) -> float:
    """CPU seconds (user + system) a live process has used, from /proc; with ``reaped_children``,
    plus what its children that have ended used (they are added to the parent when it reaps them)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    own = int(fields[11]) + int(fields[12])
    return (own + (int(fields[13]) + int(fields[14]) if reaped_children else 0)) / TICK


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def cpu_snapshot(server_pid: int) -> dict[str, float]:
    """CPU seconds so far of the gunicorn workers, of every PostgreSQL process and of this
    script's finished children (wrk)."""
    import resource

    return {"workers": sum(_proc_cpu(p) for p in [server_pid, *_children(server_pid)]),
            # Backends come and go (the pool's overflow connections): one that ends between two
            # snapshots moves its CPU to the postmaster's reaped-children time, so counting that
            # keeps the sum whole. Without it (before 2026-11-28) the bench read 0.1 core where the
            # processes' own counters said 0.2-0.3.
            "postgres": sum(_proc_cpu(p, reaped_children=True) for p in _postgres_pids()),
            "wrk": resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime}


def measured(run, server_pid: int) -> dict:
    """Run one wrk phase and add the CPU milliseconds per request each party spent on it, and each
    worker's share of the workers' CPU (``worker_shares``: an even split means both served)."""
    workers = _children(server_pid)
    before, per_worker = cpu_snapshot(server_pid), [_proc_cpu(p) for p in workers]
    result = run()
    after = cpu_snapshot(server_pid)
    spent = [_proc_cpu(p) - b for p, b in zip(workers, per_worker)]
    requests_done = max(1.0, result["rps"] * result["duration"])
    result["cpu_ms_per_request"] = {k: round((after[k] - before[k]) * 1000 / requests_done, 3) for k in before}
    result["worker_shares"] = [round(x / max(sum(spent), 1e-9), 2) for x in spent]
    return result


def wait_until_up(base: str, tries: int = 100) -> None:
    """Wait (up to ``tries`` × 0.1 s) until the bench server answers its bare endpoint."""
    for _ in range(tries):
        try:
            urllib.request.urlopen(base + "/bench/bare", timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)


def wrk(url: str, duration: int, connections: int, threads: int, script: Path | None) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "p99_ms": p99_ms, "duration": duration, "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(0) if errors else "", "raw": out}


def median_round(rounds: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    """The round whose scan/bare ratio is the median one."""
    ordered = sorted(rounds, key=lambda r: r[0]["rps"] / r[1]["rps"])
    scan, bare = ordered[len(ordered) // 2]
    return {**scan, "non_2xx": sum(r[0]["non_2xx"] for r in rounds)}, bare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", default=bool(os.environ.get("ERHC_BENCH_POSTGRES")))
    parser.add_argument("--duration", type=int, default=8, help="seconds per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating scan/bare rounds; the median ratio counts")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default=None, help="default: sync on SQLite, gthread on PostgreSQL")
    parser.add_argument("--threads", type=int, default=None, help="threads per gthread worker (default 4)")
    parser.add_argument("--worker-connections", type=int, default=None,
                        help="gthread: connections a worker holds at once (default: gunicorn.conf.py's)")
    args = parser.parse_args()
    if args.worker_class is None:
        args.worker_class = "gthread" if args.postgres else "sync"
    if args.threads is None:
        args.threads = 4 if args.worker_class == "gthread" else 1
    if args.worker_connections is None and args.worker_class == "gthread" and args.workers > 1:
        # A gthread worker keeps the keep-alive connections it accepted; wrk opens all of them at
        # once, and one worker often accepts most (measured: one worker at a full core, the other
        # idle, for whole rounds), so a round measured gunicorn's accept lottery, not the
        # endpoint. Capping each worker at its even share makes every round use both workers.
        args.worker_connections = -(-args.connections // args.workers)
    if not shutil.which("wrk"):
        sys.exit("wrk not found (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="erhc-bench-"))
    db_url = new_database(tmp, args.postgres)
    env = {"ERHC_DATABASE_URL": db_url, "ERHC_SECRET_KEY": "bench-" + secrets.token_hex(8),
           "ERHC_LOG_LEVEL": "WARNING", "ERHC_RATELIMIT_ENABLED": "false"}
    port = free_port()
    server = None
    try:
        token, codes = prepare(env)
        script = tmp / "scan.lua"
        script.write_text(LUA % (",".join(json.dumps(c) for c in codes), token))
        server = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "-w", str(args.workers), "-k", args.worker_class, "--threads", str(args.threads),
             "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--backlog", "2048",
             # gunicorn.conf.py (read from the working directory) recycles a worker every ~20,000
             # requests; in a bench that would restart workers mid-round and lose their CPU figures.
             "--max-requests", "0",
             *(["--worker-connections", str(args.worker_connections)] if args.worker_connections else []),
             "bench.scan_wsgi:app"],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base)
        wrk(base + "/api/v1/scan", 2, args.connections, args.wrk_threads, script)  # warm-up
        wrk(base + "/bench/bare", 2, args.connections, args.wrk_threads, None)
        rounds = []
        for _ in range(args.rounds):  # alternate, so a change in the machine's other load hits both
            scan = measured(lambda: wrk(base + "/api/v1/scan", args.duration, args.connections, args.wrk_threads, script),
                            server.pid)
            bare = measured(lambda: wrk(base + "/bench/bare", args.duration, args.connections, args.wrk_threads, None),
                            server.pid)
            rounds.append((scan, bare))
            print(f"round {len(rounds)}: scan {scan['rps']:.0f} req/s, bare {bare['rps']:.0f} req/s, "
                  f"ratio {scan['rps'] / bare['rps']:.0%}, load average {os.getloadavg()[0]:.1f}; CPU ms per request "
                  f"scan {scan['cpu_ms_per_request']}, bare {bare['cpu_ms_per_request']}; workers' CPU shares "
                  f"scan {scan['worker_shares']}, bare {bare['worker_shares']}", flush=True)
    finally:
        clean_up(server, db_url, tmp)
    db = "postgresql" if args.postgres else "sqlite"
    scan, bare = median_round(rounds)
    ratio = scan["rps"] / bare["rps"]
    print(f"database {db}, gunicorn {args.workers} {args.worker_class} workers x {args.threads} threads"
          f"{f' (at most {args.worker_connections} connections each)' if args.worker_connections else ''}, wrk {args.connections} connections, "
          f"{args.duration}s each")
    print(f"median of {args.rounds} alternating rounds (by ratio):")
    print(f"scan API  : {scan['rps']:8.0f} req/s  p99 {scan['p99_ms']:6.1f} ms  non-2xx {scan['non_2xx']} {scan['socket_errors']}")
    print(f"bare Flask: {bare['rps']:8.0f} req/s  p99 {bare['p99_ms']:6.1f} ms  non-2xx {bare['non_2xx']} {bare['socket_errors']}")
    print(f"ratio scan/bare: {ratio:.0%} (target >= {TARGET_RATIO:.0%}: {'met' if ratio >= TARGET_RATIO else 'MISSED'}), "
          f"load average {os.getloadavg()[0]:.1f}")
    print(json.dumps({"database": db, "workers": args.workers, "worker_connections": args.worker_connections,
                      "rounds": args.rounds, "worker_shares": {"scan": scan["worker_shares"], "bare": bare["worker_shares"]},
                      "scan_cpu_ms_per_request": scan["cpu_ms_per_request"], "bare_cpu_ms_per_request": bare["cpu_ms_per_request"], "scan_rps": round(scan["rps"]), "scan_p99_ms": scan["p99_ms"],
                      "bare_rps": round(bare["rps"]), "bare_p99_ms": bare["p99_ms"], "ratio": round(ratio, 3),
                      "scan_non_2xx": scan["non_2xx"], "target_met": ratio >= TARGET_RATIO}))
    return 1 if scan["non_2xx"] or ratio < TARGET_RATIO else 0


if __name__ == "__main__":
    sys.exit(main())

"""Province verification (验码) throughput beside the scan API's, on one gunicorn and one database.

    flock /tmp/bench.lock .venv/bin/python bench/verify_load.py [--postgres] [--duration 8] [--rounds 3]

Same set-up as ``bench/scan_load.py`` (its helpers are used): a fresh migrated database, the demo
seed, 200 authenticated residents with one fresh code each, gunicorn (2 sync workers on SQLite, 2
gthread x 4 on PostgreSQL), wrk at 32 connections. Each round runs the scan API (device token), then
the verification API, then the bare endpoint. Every verification request is signed beforehand with
its own nonce (a nonce is single use) by the sandbox province's signer, all at one terminal, so a
repeat of a code is a legitimate second look; wrk's threads take disjoint slices of the requests.
A verification does what a scan does plus the signature check, the nonce insert and the read of the
card's current record. Prints both rates, their ratio, and exits 1 if any reply was not 2xx.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import scan_load as sl  # noqa: E402
from erhc_h5.sync.province_signing import sign  # noqa: E402

VERIFY_PATH = "/api/v1/province/verify"
VERIFY_ID, VERIFY_SECRET = "bench-province", "bench-verify-" + secrets.token_hex(12)

VERIFY_LUA = """
local bodies = {%s}
local signed = {}
for k, nonce, sig in string.gmatch([[%s]], "(%%d+),(%%x+),(%%x+);") do
  signed[#signed + 1] = {tonumber(k), nonce, sig}
end
local app_id, stamp, nthreads = "%s", "%s", %d
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end
local i = nil
request = function()
  if i == nil then i = tid end
  local s = signed[i %% #signed + 1]
  i = i + nthreads
  return wrk.format("POST", "%s",
    {["Content-Type"] = "application/json", ["X-Erhc-App-Id"] = app_id, ["X-Erhc-Timestamp"] = stamp,
     ["X-Erhc-Nonce"] = s[2], ["X-Erhc-Signature"] = s[3]}, bodies[s[1]])
end
"""


def verify_script(codes: list[str], count: int, wrk_threads: int) -> tuple[str, float]:
    """The Lua script with ``count`` pre-signed requests (one nonce each, wrapping round would
    replay them: then the run reports non-2xx); returns (script, signed at)."""
    stamp = str(int(time.time()))
    bodies = [json.dumps({"code": c, "terminal": "BENCH-T-1"}) for c in codes]
    signed = []
    for n in range(count):
        k, nonce = n % len(bodies), secrets.token_hex(16)
        signed.append(f"{k + 1},{nonce},{sign(VERIFY_SECRET, VERIFY_PATH, stamp, nonce, bodies[k].encode())};")
    lua = VERIFY_LUA % (",".join("[[" + b + "]]" for b in bodies), "".join(signed), VERIFY_ID, stamp, wrk_threads,
                        VERIFY_PATH)
    return lua, float(stamp)


def prepare(env: dict) -> tuple[str, list[str], list[str]]:
    """Migrate, seed, create the residents; two codes each: one for the scan device, one for the
    province's terminal (a code claimed by one scanner is ``replayed`` at another)."""
    from erhc_h5.code import tokens
    from erhc_h5.cards.service import issue_or_update_card

    with sl.seeded(env) as (seed, session, filed):
        cards = [issue_or_update_card(session, sl.person(i), filed, methods="2") for i in range(sl.RESIDENTS)]
        session.flush()
        session.commit()
        scan_codes = [tokens.issue(session, card.id).text for card in cards]
        verify_codes = [tokens.issue(session, card.id).text for card in cards]
    return seed["device_token"], scan_codes, verify_codes


def run_rounds(args, base: str, scan_script: Path, verify_script_path: Path, verify_codes: list[str],
               pid: int) -> list[dict]:
    rounds = []
    for _ in range(args.rounds):  # alternate, so a change in the machine's other load hits all three
        # Each wrk run starts its script afresh: new nonces (and a new timestamp) for every run.
        verify_script_path.write_text(verify_script(verify_codes, args.signed, args.wrk_threads)[0])
        row = {}
        for name, path, script in (("scan", "/api/v1/scan", scan_script), ("verify", VERIFY_PATH, verify_script_path),
                                   ("bare", "/bench/bare", None)):
            row[name] = sl.measured(lambda: sl.wrk(base + path, args.duration, args.connections, args.wrk_threads, script),
                                    pid)
        rounds.append(row)
        print(f"round {len(rounds)}: scan {row['scan']['rps']:.0f} req/s, verify {row['verify']['rps']:.0f} req/s, "
              f"bare {row['bare']['rps']:.0f} req/s, verify/scan {row['verify']['rps'] / row['scan']['rps']:.0%}, "
              f"load average {os.getloadavg()[0]:.1f}; CPU ms per request scan {row['scan']['cpu_ms_per_request']}, "
              f"verify {row['verify']['cpu_ms_per_request']}", flush=True)
    return rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--signed", type=int, default=30000,
                        help="pre-signed verification requests (one nonce each) per round")
    args = parser.parse_args()
    worker_class, threads = ("gthread", 4) if args.postgres else ("sync", 1)
    if not shutil.which("wrk"):
        sys.exit("wrk not found (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="erhc-bench-"))
    db_url = sl.new_database(tmp, args.postgres)
    env = {"ERHC_DATABASE_URL": db_url, "ERHC_SECRET_KEY": "bench-" + secrets.token_hex(8), "ERHC_LOG_LEVEL": "WARNING",
           "ERHC_RATELIMIT_ENABLED": "false", "ERHC_PROVINCE_VERIFY_ID": VERIFY_ID,
           "ERHC_PROVINCE_VERIFY_SECRET": VERIFY_SECRET}
    port, server = sl.free_port(), None
    try:
        token, codes, verify_codes = prepare(env)
        scan_script, verify_path = tmp / "scan.lua", tmp / "verify.lua"
        scan_script.write_text(sl.LUA % (",".join(json.dumps(c) for c in codes), token))
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-w", str(args.workers), "-k", worker_class, "--threads", str(threads),
             "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--backlog", "2048", "--max-requests", "0",
             *(["--worker-connections", str(-(-args.connections // args.workers))] if worker_class == "gthread" else []),
             "bench.scan_wsgi:app"],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        sl.wait_until_up(base)
        sl.wrk(base + "/api/v1/scan", 2, args.connections, args.wrk_threads, scan_script)  # warm-up
        rounds = run_rounds(args, base, scan_script, verify_path, verify_codes, server.pid)
    finally:
        sl.clean_up(server, db_url, tmp)
    ordered = sorted(rounds, key=lambda r: r["verify"]["rps"] / r["scan"]["rps"])
    median = ordered[len(ordered) // 2]
    non_2xx = {k: sum(r[k]["non_2xx"] for r in rounds) for k in ("scan", "verify", "bare")}
    ratio = median["verify"]["rps"] / median["scan"]["rps"]
    print(f"database {'postgresql' if args.postgres else 'sqlite'}, gunicorn {args.workers} {worker_class} workers x "
          f"{threads} threads, wrk {args.connections} connections, {args.duration}s each; median of {args.rounds} rounds:")
    for name in ("scan", "verify", "bare"):
        print(f"{name:7}: {median[name]['rps']:8.0f} req/s  p99 {median[name]['p99_ms']:6.1f} ms  non-2xx {non_2xx[name]}")
    print(f"ratio verify/scan: {ratio:.0%}, verify/bare: {median['verify']['rps'] / median['bare']['rps']:.0%}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(json.dumps({"database": "postgresql" if args.postgres else "sqlite", "scan_rps": round(median["scan"]["rps"]),
                      "verify_rps": round(median["verify"]["rps"]), "bare_rps": round(median["bare"]["rps"]),
                      "verify_p99_ms": median["verify"]["p99_ms"], "ratio_verify_scan": round(ratio, 3),
                      "non_2xx": non_2xx}))
    return 1 if non_2xx["scan"] or non_2xx["verify"] else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Development server plus the sync worker; both stop together on Ctrl-C.
set -euo pipefail
BIN=.venv/bin
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait || true; }
trap cleanup EXIT INT TERM
PORT="${PORT:-5000}"
# The sandbox province is served by this same server: the worker uploads to this port unless told otherwise.
export ERHC_PROVINCE_URL="${ERHC_PROVINCE_URL:-http://127.0.0.1:${PORT}/sandbox-province}"
if $BIN/flask --app app sync --help 2>/dev/null | grep -q " run "; then
  $BIN/flask --app app sync run & pids+=($!)
fi
$BIN/flask --app app run --host 127.0.0.1 --port "$PORT" & pids+=($!)
wait -n

#!/usr/bin/env bash
# ccpulse replay against DuckDB on the same realistic day, in alternating runs.
#
#   benches/duckdb-peer.sh [--runs 5] [--file FILE] [--contacts 200000] [--binary CCPULSE]
#                          [-- CCPULSE REPLAY ARGS]
#
# Without --file, writes a realistic day (target/day/day-<contacts>.jsonl, bare JSON lines,
# by ccpulse-day: 24 h, 100 000 customers, surveys hours late, few agent events).
# Builds ccpulse (release), creates a Python virtual environment with DuckDB (PyPI,
# pinned: DUCKDB_VERSION, default 2.0.1) in target/duckdb-venv, checks that both compute
# the same figures for one window, then alternates the whole `ccpulse replay --input FILE`
# process with DuckDB on one thread computing a 15-minute window sliding by 1 minute per
# (queue, channel) over the whole file (benches/duckdb_peer.py), and prints each run's
# time, the load average before it, and the ratios. Arguments after `--` go to
# `ccpulse replay` (e.g. `-- --threads 1`). `--binary` times that `ccpulse` instead of the
# release build (e.g. the profile-guided one of benches/pgo-build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=5
file=""
contacts=200000
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --file) file="$2"; shift 2 ;;
    --contacts) contacts="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

target="${CARGO_TARGET_DIR:-target}"
cargo build --release --quiet -p ccpulse -p ccpulse-benches --bin ccpulse --bin ccpulse-day
if [ -z "$file" ]; then
  mkdir -p "$target/day"
  file="$target/day/day-$contacts.jsonl"
  if [ ! -s "$file" ]; then
    "$target/release/ccpulse-day" --contacts "$contacts" --output "$file"
  fi
fi

venv="$target/duckdb-venv"
version="${DUCKDB_VERSION:-2.0.1}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$version')" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "duckdb==$version"
fi

exec "$venv/bin/python" benches/duckdb_peer.py compare "$file" "$runs" "${binary:-$target/release/ccpulse}" "$@"

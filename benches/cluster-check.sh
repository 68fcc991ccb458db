#!/usr/bin/env bash
# A realistic day through Tansu into several `ccpulse serve` instances in one group, each
# instance's answers compared with `ccpulse replay` of the same events and with a single
# instance of its own (benches/cluster_check.py says what is compared).
#
#   benches/cluster-check.sh [--contacts 200000] [--instances 3] [--clock event|wall] [--rounds 3] [--leave]
#
# Builds ccpulse and ccpulse-day (release), writes the day with its Kafka keys
# (target/day/day-<contacts>.tsv), creates a Python virtual environment with
# confluent-kafka (PyPI, pinned: CONFLUENT_KAFKA_VERSION, default 2.16.1) in
# target/kafka-venv, and needs Tansu (tests/run installs it). Exits 1 when an answer
# differed.
set -euo pipefail
cd "$(dirname "$0")/.."

contacts=200000
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --contacts) contacts="$2"; shift 2 ;;
    --instances|--clock|--rounds|--partitions) pass+=("$1" "$2"); shift 2 ;;
    --leave) pass+=("$1"); shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

target="${CARGO_TARGET_DIR:-target}"
tansu="${TANSU:-$HOME/.cargo/bin/tansu}"
[ -x "$tansu" ] || { echo "no Tansu at $tansu: run tests/run once, or set TANSU" >&2; exit 2; }
cargo build --release --quiet -p ccpulse -p ccpulse-benches --bin ccpulse --bin ccpulse-day
mkdir -p "$target/day"
day="$target/day/day-$contacts.tsv"
[ -s "$day" ] || "$target/release/ccpulse-day" --contacts "$contacts" --keys --output "$day"

venv="$target/kafka-venv"
version="${CONFLUENT_KAFKA_VERSION:-2.16.1}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import confluent_kafka, sys; sys.exit(confluent_kafka.__version__ != '$version')" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "confluent-kafka==$version"
fi
exec "$venv/bin/python" benches/cluster_check.py "$day" "$target/release/ccpulse" "$tansu" "${pass[@]}"

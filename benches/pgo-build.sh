#!/usr/bin/env bash
# A profile-guided release build of `ccpulse`, for replays of large files and for the
# service's own replay of its history at start-up and takeover.
#
#   benches/pgo-build.sh            # prints the path of the binary it built
#
# 1. Installs the `llvm-tools-preview` rustup component when `llvm-profdata` is missing.
# 2. Writes a training day with `ccpulse-day` (150 000 contacts, seed 2: not the day that
#    benches/duckdb-peer.sh times, which is seed 1 with 200 000 contacts), and a denser
#    copy of it with benches/denser_day.py (sent surveys and more holds).
# 3. Builds `ccpulse` instrumented (`-Cprofile-generate`) in $TARGET/pgo-gen and replays
#    the training days with it: the default threads, one engine, the 1h window and the
#    15-minute interval report.
# 4. Merges the profiles and builds `ccpulse` with them (`-Cprofile-use`, the profile's
#    name carrying its digest, so that a new profile rebuilds) in $TARGET/pgo-use; the
#    binary is $TARGET/pgo-use/release/ccpulse.
#
# The figures are the same as the plain release build's (the optimiser only lays out
# and inlines differently); BENCHMARKS.md ("A profile-guided build") has the timing.
# Both builds are full release builds with fat LTO: 18 minutes the first time on the
# project's 2-core machine, training day included (BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
target="$(mkdir -p "$target" && cd "$target" && pwd)"
work="$target/pgo"
mkdir -p "$work"

sysroot="$(rustc --print sysroot)"
host="$(rustc -vV | sed -n 's/^host: //p')"
profdata="$sysroot/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
  rustup component add llvm-tools-preview
fi

cargo build --release --quiet -p ccpulse-benches --bin ccpulse-day
train="$work/train-150000-seed2.jsonl"
if [ ! -s "$train" ]; then
  # Written aside and renamed, so that a run cut short leaves no half day behind.
  "$target/release/ccpulse-day" --contacts 150000 --seed 2 --output "$train.part"
  mv "$train.part" "$train"
fi
dense="$work/train-150000-seed2-denser.jsonl"
if [ ! -s "$dense" ]; then
  python3 benches/denser_day.py "$train" "$dense.part"
  mv "$dense.part" "$dense"
fi

raw="$work/raw"
rm -rf "$raw"
mkdir -p "$raw"
RUSTFLAGS="-Cprofile-generate=$raw" CARGO_TARGET_DIR="$target/pgo-gen" \
  cargo build --release --quiet -p ccpulse --bin ccpulse
gen="$target/pgo-gen/release/ccpulse"
for day in "$train" "$dense"; do
  "$gen" replay --input "$day" > /dev/null
  "$gen" replay --input "$day" --threads 1 > /dev/null
  "$gen" replay --input "$day" --window 1h > /dev/null
  "$gen" replay --input "$day" --intervals 15m > /dev/null
done

"$profdata" merge -o "$work/merged.profdata" "$raw"
digest="$(sha256sum "$work/merged.profdata" | cut -c1-16)"
profile="$work/ccpulse-$digest.profdata"
rm -f "$work"/ccpulse-*.profdata
mv "$work/merged.profdata" "$profile"
RUSTFLAGS="-Cprofile-use=$profile" CARGO_TARGET_DIR="$target/pgo-use" \
  cargo build --release --quiet -p ccpulse --bin ccpulse
echo "$target/pgo-use/release/ccpulse"

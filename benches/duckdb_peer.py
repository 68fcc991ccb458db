"""The DuckDB peer of `ccpulse replay`, driven by `benches/duckdb-peer.sh`.

`python duckdb_peer.py query FILE` runs DuckDB on one thread over a file of JSON lines
(one contract event per line): one 15-minute window sliding by 1 minute, per (queue,
channel), over the whole file: contacts offered, answered, abandoned, answered within
20 s, and the mean wait of those answered. It prints the query's time (connect,
query and fetching all rows), then the window ending at `--check-at` if given.

`python duckdb_peer.py compare FILE RUNS CCPULSE [CCPULSE ARGS...]` alternates RUNS
times the whole `ccpulse replay --input FILE` process and a fresh DuckDB process, and
prints each run's time with the machine's load average, then the ratios. Before, it
checks that both compute the same figures for one window.

The figures are ccpulse's definitions (spec/kpis.md): a transferred contact is offered
again in the queue it is transferred to ("a leg"), and its answer or abandon belongs to
the leg it ends, with the wait from the leg's start; duplicates (same event twice) are
dropped. Only the contact events that decide these figures are read.
"""

import datetime
import json
import os
import statistics
import subprocess
import sys
import time

QUERY = """
WITH ev AS (
  -- Delivery is at-least-once: a duplicate is the same line twice.
  SELECT DISTINCT id, type, ts, contact_id, channel, queue, to_queue
  FROM read_json(?, format = 'newline_delimited',
       columns = {id: 'VARCHAR', type: 'VARCHAR', ts: 'TIMESTAMP', contact_id: 'VARCHAR',
                  channel: 'VARCHAR', queue: 'VARCHAR', to_queue: 'VARCHAR'})
  WHERE type IN ('contact.offered', 'contact.transferred', 'contact.answered', 'contact.abandoned')
),
legs AS (
  -- Each event with the queue and start of the leg it belongs to, and its contact's channel.
  SELECT type, ts,
    last_value(CASE type WHEN 'contact.offered' THEN queue WHEN 'contact.transferred' THEN to_queue END
               IGNORE NULLS) OVER w AS queue,
    last_value(CASE WHEN type IN ('contact.offered', 'contact.transferred') THEN ts END IGNORE NULLS)
      OVER w AS leg_start,
    max(CASE WHEN type = 'contact.offered' THEN channel END) OVER (PARTITION BY hash(contact_id), contact_id)
      AS channel
  FROM ev
  -- Partitioned by the hash first: sorting numbers is cheaper than sorting strings.
  WINDOW w AS (PARTITION BY hash(contact_id), contact_id ORDER BY ts, type = 'contact.offered' DESC
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
per_minute AS (
  SELECT queue, channel, epoch_ms(ts) // 60000 AS minute,
    count(*) FILTER (WHERE type IN ('contact.offered', 'contact.transferred')) AS offered,
    count(*) FILTER (WHERE type = 'contact.answered') AS answered,
    count(*) FILTER (WHERE type = 'contact.abandoned') AS abandoned,
    count(*) FILTER (WHERE type = 'contact.answered' AND ts - leg_start <= INTERVAL 20 SECOND)
      AS answered_within_20s,
    sum(epoch_ms(ts) - epoch_ms(leg_start)) FILTER (WHERE type = 'contact.answered') AS wait_ms
  FROM legs
  WHERE queue IS NOT NULL
  GROUP BY ALL
),
grid AS (
  -- Every minute of the file for every group, so that every window is there.
  SELECT g.queue, g.channel, m.minute
  FROM (SELECT DISTINCT queue, channel FROM per_minute) g,
       range((SELECT min(minute) FROM per_minute), (SELECT max(minute) FROM per_minute) + 2) m(minute)
)
-- The window ending at the start of `minute`: the 15 minutes before it.
SELECT grid.queue, grid.channel, grid.minute AS window_end_minute,
  sum(coalesce(offered, 0)) OVER s AS offered,
  sum(coalesce(answered, 0)) OVER s AS answered,
  sum(coalesce(abandoned, 0)) OVER s AS abandoned,
  sum(coalesce(answered_within_20s, 0)) OVER s AS answered_within_20s,
  sum(wait_ms) OVER s / nullif(sum(coalesce(answered, 0)) OVER s, 0) / 1000.0 AS mean_wait_seconds
FROM grid LEFT JOIN per_minute USING (queue, channel, minute)
WINDOW s AS (PARTITION BY grid.queue, grid.channel ORDER BY grid.minute
             ROWS BETWEEN 15 PRECEDING AND 1 PRECEDING)
ORDER BY 1, 2, 3
"""


def query(path, check_at=None):
    """Runs the query; prints its time, and the windows ending at `check_at` (epoch ms)."""
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET threads = 1")
    rows = con.execute(QUERY, [path]).fetchall()
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "windows": len(rows)}))
    if check_at is not None:
        for r in rows:
            if r[2] * 60_000 == check_at:
                print(json.dumps(r))


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")


def run_ccpulse(ccpulse, args, path, extra=()):
    started = time.perf_counter()
    out = subprocess.run([ccpulse, "replay", "--input", path, *args, *extra], capture_output=True, check=True)
    return time.perf_counter() - started, out


def run_duckdb(path, extra=()):
    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "query", path, *extra], capture_output=True, check=True)
    process = time.perf_counter() - started
    lines = out.stdout.decode().splitlines()
    return json.loads(lines[0])["seconds"], process, [json.loads(l) for l in lines[1:]]


def check(ccpulse, args, path):
    """Both compute the same figures for the 15-minute window ending at the last full
    hour of the file that has contacts (late surveys can follow the last contact by
    hours): offered, answered, abandoned and mean wait for every group, and answered
    within 20 s for voice (whose default SLA threshold is 20 s)."""
    _, out = run_ccpulse(ccpulse, args, path)
    to = datetime.datetime.fromisoformat(json.loads(out.stdout)["to"].replace("Z", "+00:00"))
    last = to.replace(minute=0, second=0, microsecond=0)
    for back in range(1, 7):
        at = last - datetime.timedelta(hours=back)
        compared = check_at(ccpulse, args, path, at)
        if compared:
            print(f"check: ccpulse and DuckDB agree on the 15-minute window ending {at:%Y-%m-%dT%H:%M:%SZ} ({compared} groups)")
            return
    sys.exit(f"nothing to compare in the 6 hours before {last:%Y-%m-%dT%H:%M:%SZ}")


def check_at(ccpulse, args, path, at):
    """Compares the 15-minute window ending at `at`; returns how many groups agree."""
    as_of = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    _, out = run_ccpulse(ccpulse, args, path, ["--as-of", as_of])
    ours = {(g["queue"], g["channel"]): g for g in json.loads(out.stdout)["groups"]}
    _, _, theirs = run_duckdb(path, ["--check-at", str(int(at.timestamp() * 1000))])
    compared = 0
    for q, ch, _, offered, answered, abandoned, within, wait in theirs:
        if offered == answered == abandoned == 0:
            continue
        g = ours.get((q, ch))
        got = (g["offered"], g["answered"], g["abandoned"], g["asa_seconds"]) if g else None
        want = (offered, answered, abandoned, wait)
        same = got is not None and got[:3] == want[:3] and (
            (got[3] is None and want[3] is None) or abs((got[3] or 0) - (want[3] or 0)) < 1e-6
        )
        if ch == "voice" and g is not None:
            same = same and g["answered_within"] == within
        if not same:
            sys.exit(f"ccpulse and DuckDB differ for ({q}, {ch}) at {as_of}: {got} against {want}")
        compared += 1
    return compared


def compare(path, runs, ccpulse, args):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        lines = sum(1 for _ in f)
    print(f"file: {path}, {lines} lines, {size / 1e6:.0f} MB")
    print(f"ccpulse: {ccpulse} replay --input FILE {' '.join(args)}")
    import duckdb

    print(f"DuckDB {duckdb.__version__}, SET threads = 1")
    check(ccpulse, args, path)
    ours, theirs, processes = [], [], []
    for i in range(1, runs + 1):
        load_before, at = load(), now()
        t, _ = run_ccpulse(ccpulse, args, path)
        ours.append(t)
        print(f"run {i}: {at} UTC, load average {load_before}: ccpulse replay {t:.3f} s")
        load_before, at = load(), now()
        q, p, _ = run_duckdb(path)
        theirs.append(q)
        processes.append(p)
        print(f"run {i}: {at} UTC, load average {load_before}: DuckDB query {q:.3f} s (its process {p:.3f} s)")
    ratios = [d / c for c, d in zip(ours, theirs)]
    print(f"load average after: {load()}")
    print("ratio DuckDB query time / ccpulse replay time, run by run: " + ", ".join(f"{r:.2f}" for r in ratios))
    print(
        f"median: ccpulse {statistics.median(ours):.3f} s, DuckDB {statistics.median(theirs):.3f} s "
        f"(process {statistics.median(processes):.3f} s); ccpulse is "
        f"{statistics.median(theirs) / statistics.median(ours):.2f}x as fast (medians)"
    )


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "query":
        at = None
        if len(sys.argv) == 5 and sys.argv[3] == "--check-at":
            at = int(sys.argv[4])
        query(sys.argv[2], at)
    elif len(sys.argv) >= 5 and sys.argv[1] == "compare":
        compare(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:])
    else:
        sys.exit(__doc__)

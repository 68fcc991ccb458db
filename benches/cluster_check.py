"""A realistic day through Tansu into several `ccpulse serve` instances in one group,
every instance's answers compared with `ccpulse replay` of the same events and with a
single instance of its own (benches/cluster-check.sh runs it).

    cluster_check.py KEYED_DAY_FILE CCPULSE TANSU [--instances 3] [--clock event|wall]
        [--partitions 6] [--rounds 3] [--leave]

KEYED_DAY_FILE holds `key<TAB>json` lines (`ccpulse-day --keys`). With `--clock wall`
the events are first moved in time so that the day ends two minutes ago. Each
instance's `/api/v1/queues` answer of every window must equal `ccpulse replay` (with
`--as-of` its `to` on the wall clock, live fields left out); its channels and agents
answers must equal those of a single instance in another group, with a partials topic
of its own, whenever both answer for the same `to`. With `--leave`, one member then
stops with SIGTERM: the time until the others hold every partition and are ready is
printed, and everything is compared again. Prints what it compared and exits 1 when
anything differed.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from confluent_kafka import Producer

WINDOWS = ["5m", "15m", "1h", "today"]
EVENT_TOPICS = ["cc.voice", "cc.chat", "cc.email", "cc.surveys", "cc.agents"]
# Figures of the moment an answer was computed, not of its window: left out on the wall
# clock, where the replay's as-of time is the window's end, not that moment.
LIVE = {"waiting", "oldest_wait_seconds", "at_risk", "agents_staffed", "staffing_gap",
        "state", "state_seconds", "since", "time_in_state_seconds"}
PAGING = ("coverage", "total", "offset", "limit", "next_offset")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return 0, ""


def topic_of(value):
    kind = value.split('"type":"', 1)[1].split('"', 1)[0]
    if kind.startswith("agent."):
        return "cc.agents"
    if kind.startswith("survey."):
        return "cc.surveys"
    for channel in ("chat", "email"):
        if f'"channel":"{channel}"' in value:
            return "cc." + channel
    return "cc.voice"


def shift_to_now(src, dst):
    """Moves every `ts` so that the newest one is two minutes ago."""
    pattern = re.compile(r'"ts":"([0-9T:\-]+)(\.[0-9]+)?Z"')
    newest = None
    with open(src) as f:
        for line in f:
            m = pattern.search(line)
            if m:
                t = datetime.datetime.fromisoformat(m.group(1) + "+00:00")
                newest = t if newest is None or t > newest else newest
    delta = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=2) - newest
    delta = datetime.timedelta(seconds=int(delta.total_seconds()))

    def moved(m):
        t = datetime.datetime.fromisoformat(m.group(1) + "+00:00") + delta
        return '"ts":"%s%sZ"' % (t.strftime("%Y-%m-%dT%H:%M:%S"), m.group(2) or "")

    with open(src) as f, open(dst, "w") as out:
        for line in f:
            out.write(pattern.sub(moved, line))


def produce(brokers, path):
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "batch.num.messages": 10000,
                  "queue.buffering.max.messages": 2000000, "enable.idempotence": False})
    n = 0
    with open(path) as f:
        for line in f:
            key, value = line.rstrip("\n").split("\t", 1)
            while True:
                try:
                    p.produce(topic_of(value), value=value.encode(), key=key.encode())
                    break
                except BufferError:
                    p.poll(0.1)
            n += 1
    if p.flush(120):
        sys.exit("cluster-check: messages left unsent")
    return n


def normalised(text, live):
    d = json.loads(text)
    for k in PAGING:
        d.pop(k, None)
    if not live:
        for key in ("groups", "agents"):
            for g in d.get(key, []):
                for k in LIVE:
                    g.pop(k, None)
    return d


def first_difference(a, b, path=""):
    if type(a) is not type(b):
        return f"{path}: {a!r} vs {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            d = first_difference(a.get(k), b.get(k), f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("day")
    ap.add_argument("ccpulse")
    ap.add_argument("tansu")
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--clock", choices=["event", "wall"], default="event")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--leave", action="store_true",
                    help="then stop one member with SIGTERM, time until the others hold every partition, compare again")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="ccpulse-cluster-check-")
    procs = []
    different = None
    try:
        day = args.day
        if args.clock == "wall":
            day = os.path.join(work, "day-now.tsv")
            shift_to_now(args.day, day)
        port = free_port()
        url = f"tcp://127.0.0.1:{port}"
        log = open(os.path.join(work, "broker.log"), "w")
        procs.append(subprocess.Popen([args.tansu, "broker", "--listener-url", url, "--advertised-listener-url", url,
                                       "--storage-engine", "memory://tansu/"], stdout=log, stderr=log))
        while subprocess.run([args.tansu, "topic", "list", "--broker", url], capture_output=True).returncode != 0:
            time.sleep(0.2)
        topics = [(t, args.partitions) for t in EVENT_TOPICS + ["cc.dlq"]] + [("cc.partials", 1), ("cc.partials.alone", 1)]
        for t, n in topics:
            subprocess.run([args.tansu, "topic", "create", t, "--partitions", str(n), "--broker", url],
                           check=True, capture_output=True)
        started = time.time()
        n = produce(f"127.0.0.1:{port}", day)
        print(f"{n} messages produced to {args.partitions} partitions in {time.time() - started:.1f} s")

        alone_cfg = os.path.join(work, "alone.toml")
        with open(alone_cfg, "w") as f:
            f.write('[kafka]\npartials_topic = "cc.partials.alone"\n')
        ports = []
        for i in range(args.instances + 1):
            http = free_port()
            ports.append(http)
            group, extra = ("cluster-check", []) if i < args.instances else ("cluster-check-alone", ["--config", alone_cfg])
            out = open(os.path.join(work, f"serve-{i}.log"), "w")
            procs.append(subprocess.Popen(
                [args.ccpulse, "serve", "--brokers", f"127.0.0.1:{port}", "--listen", f"127.0.0.1:{http}",
                 "--group-id", group, "--clock", args.clock, *extra],
                stdout=out, stderr=out, env={**os.environ, "RUST_LOG": "info,rdkafka=warn"}))
        started = time.time()
        for http in ports:
            while get(http, "/readyz")[0] != 200:
                if time.time() - started > 300:
                    sys.exit(f"cluster-check: an instance was not ready after 300 s (logs in {work})")
                time.sleep(0.2)
        print(f"{args.instances} instances in one group and one alone ready in {time.time() - started:.1f} s")
        members, alone = ports[:-1], ports[-1]

        replays = {}
        totals = compare(args, day, members, alone, replays)
        if args.leave:
            leaver = procs[1 + args.instances - 1]
            left = time.time()
            leaver.terminate()
            members = members[:-1]
            while True:
                held = sum(metric(http, "ccpulse_partitions_assigned") for http in members)
                if held == args.partitions and all(get(http, "/readyz")[0] == 200 for http in members):
                    break
                if time.time() - left > 120:
                    sys.exit(f"cluster-check: the leaver's partitions were not covered after 120 s (logs in {work})")
                time.sleep(0.1)
            print(f"one member stopped with SIGTERM: the other {len(members)} hold every partition, ready, "
                  f"{time.time() - left:.1f} s later")
            more = compare(args, day, members, alone, replays)
            totals = tuple(a + b for a, b in zip(totals, more))
        same, different, skipped = totals
        print(f"answers equal: {same}, different: {different}, not compared (another 'to' than the single instance's): {skipped}")
        if different:
            print(f"logs kept in {work}")
            sys.exit(1)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        if different == 0:
            shutil.rmtree(work, ignore_errors=True)


def metric(http, name):
    """The value of an unlabelled metric of the instance (0 when absent)."""
    for line in get(http, "/metrics")[1].splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def compare(args, day, members, alone, replays):
    """Compares every member's answers; returns (equal, different, not compared)."""
    same = different = skipped = 0
    for _ in range(args.rounds):
        for w in WINDOWS:
            for i, http in enumerate(members):
                got = normalised(get(http, f"/api/v1/queues?window={w}&limit=1000")[1], args.clock == "event")
                as_of = [] if args.clock == "event" else ["--as-of", got["to"]]
                key = (w, tuple(as_of))
                if key not in replays:
                    out = subprocess.run([args.ccpulse, "replay", "--input", day, "--window", w, *as_of],
                                         capture_output=True, text=True, check=True).stdout
                    replays[key] = normalised(out, args.clock == "event")
                d = first_difference(got, replays[key])
                if d:
                    different += 1
                    print(f"instance {i}, queues window {w}: differs from replay at {d}")
                else:
                    same += 1
        for path in ["channels?window=5m", "channels?window=1h", "channels?window=today",
                     "agents?window=15m&limit=5000", "agents?window=today&limit=5000"]:
            for i, http in enumerate(members):
                got = normalised(get(http, f"/api/v1/{path}")[1], args.clock == "event")
                want = normalised(get(alone, f"/api/v1/{path}")[1], args.clock == "event")
                if got.get("to") != want.get("to"):
                    skipped += 1
                    continue
                d = first_difference(got, want)
                if d:
                    different += 1
                    print(f"instance {i}, {path}: differs from the single instance at {d}")
                else:
                    same += 1
    return same, different, skipped


if __name__ == "__main__":
    main()

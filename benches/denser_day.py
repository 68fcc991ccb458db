"""A denser realistic day: more events per contact, for `benches/duckdb-peer.sh --file`.

`python3 benches/denser_day.py IN OUT` reads a day of bare JSON lines written by
`ccpulse-day` and writes it again with, for every answered contact:

- one hold (`contact.hold_started` at 30 % and `contact.hold_ended` at 50 % of its
  talk), inserted just before its `contact.ended` line, for three contacts in four
  of those without a hold of their own and more than 4 s between answer and end;
- a `survey.sent` of kind `csat` 1 s after its `contact.wrapped_up`, and one of kind
  `nps` 2 s after it for three contacts in ten, inserted just after that line; with
  `--sent-late`, 1 to 4 h after it instead (uniform, seed 12), inserted before the first
  later line whose `ts` is past theirs, as a producer would send them.

The realistic day of 200 000 contacts has about 4.6 lines per contact; this makes it
about 7 (1 401 208 lines from 915 648), as many as the independent day of issue 12
(1 409 220 events for 200 000 contacts). Deterministic (seed 11). The figures DuckDB
computes (offered, answered, abandoned, answered within 20 s, mean wait) do not change.
"""

import datetime
import heapq
import json
import random
import sys


def millis(ts):
    return int(datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)


def iso(ms):
    at = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def main(src, dst, late):
    rng = random.Random(11)
    delay = random.Random(12)
    with open(src) as f:
        lines = f.read().splitlines()
    answered, agent, held = {}, {}, set()
    for line in lines:
        e = json.loads(line)
        if e["type"] == "contact.answered":
            answered.setdefault(e["contact_id"], millis(e["ts"]))
            agent.setdefault(e["contact_id"], e["agent_id"])
        elif e["type"] == "contact.hold_started":
            held.add(e["contact_id"])
    made = 0

    def event(kind, ts, contact, extra=""):
        nonlocal made
        made += 1
        return '{"id":"dense-%d","type":"%s","ts":"%s","contact_id":"%s"%s}' % (made, kind, iso(ts), contact, extra)

    out, holds, sent, pending = [], set(), set(), []
    for line in lines:
        e = json.loads(line)
        contact, kind = e.get("contact_id"), e["type"]
        now = millis(e["ts"])
        while pending and pending[0][0] <= now:
            out.append(heapq.heappop(pending)[2])
        if kind == "contact.ended" and contact in answered and contact not in held and contact not in holds and rng.random() < 0.75:
            holds.add(contact)
            start, end = answered[contact], millis(e["ts"])
            if end - start > 4000:
                out.append(event("contact.hold_started", start + (end - start) * 3 // 10, contact))
                out.append(event("contact.hold_ended", start + (end - start) // 2, contact))
        out.append(line)
        if kind == "contact.wrapped_up" and contact in answered and contact not in sent:
            sent.add(contact)
            done = now + (delay.randint(3_600_000, 14_400_000) if late else 0)
            by = ',"agent_id":"%s"' % agent[contact]
            surveys = [(done + 1000, event("survey.sent", done + 1000, contact, ',"kind":"csat"' + by))]
            if rng.random() < 0.3:
                surveys.append((done + 2000, event("survey.sent", done + 2000, contact, ',"kind":"nps"' + by)))
            for at, survey in surveys:
                if late:
                    heapq.heappush(pending, (at, made, survey))
                else:
                    out.append(survey)
    out.extend(line for _, _, line in sorted(pending))
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"{len(lines)} lines -> {len(out)} lines, {len(answered)} contacts answered", file=sys.stderr)


if __name__ == "__main__":
    args = sys.argv[1:]
    late = "--sent-late" in args
    args = [a for a in args if a != "--sent-late"]
    if len(args) != 2:
        sys.exit("usage: denser_day.py [--sent-late] IN OUT")
    main(args[0], args[1], late)

"""A day of events rewritten in the shapes other producers write, for `benches/duckdb-peer.sh --file`.

`python3 benches/producer_shapes.py SHAPE IN OUT` reads bare JSON lines (as `ccpulse-day`
or `benches/denser_day.py` write them) and writes the same events, the same figures, as:

- `offset`: every `ts` with `+00:00` instead of `Z` (Python's `isoformat()`);
- `spaces`: `json.dumps` defaults, a space after every `:` and `,`;
- `shuffled`: the fields of every line in a random order (seed 3);
- `extra`: three fields the contract does not name on every line, one of them nested
  (`"source"`, `"schema_version"`, `"meta": {"site": ..., "tags": [...]}`), which the
  contract says are ignored;
- `accents`: every queue and team name with ` España` appended, written as `json.dumps`
  writes it by default (`\u00f1`).

`ccpulse replay` prints the same output for the first four as for the input, and for
`accents` the same figures under the longer names; BENCHMARKS.md has what each costs.
"""

import json
import random
import re
import sys

TS = re.compile(r'("ts":"[^"]*)Z"')


def rewrite(shape, line, rng):
    if shape == "offset":
        return TS.sub(r'\1+00:00"', line)
    event = json.loads(line)
    if shape == "accents":
        for field in ("queue", "to_queue", "team"):
            if isinstance(event.get(field), str):
                event[field] += " España"
        if isinstance(event.get("queues"), list):
            event["queues"] = [q + " España" for q in event["queues"]]
        return json.dumps(event, separators=(",", ":"))
    if shape == "spaces":
        return json.dumps(event, ensure_ascii=False)
    if shape == "shuffled":
        items = list(event.items())
        rng.shuffle(items)
        return json.dumps(dict(items), ensure_ascii=False, separators=(",", ":"))
    event["source"] = "acd-export"
    event["schema_version"] = 1
    event["meta"] = {"site": "north", "tags": ["a", "b"]}
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def main(shape, src, dst):
    rng = random.Random(3)
    with open(src) as f, open(dst, "w") as out:
        for line in f:
            out.write(rewrite(shape, line.rstrip("\n"), rng) + "\n")


if __name__ == "__main__":
    shapes = ("offset", "spaces", "shuffled", "extra", "accents")
    if len(sys.argv) != 4 or sys.argv[1] not in shapes:
        sys.exit(f"usage: producer_shapes.py {{{'|'.join(shapes)}}} IN OUT")
    main(*sys.argv[1:])

"""A tiny Alertmanager webhook receiver for the ccpulse demo: logs every notification.

Alertmanager POSTs its webhook payload (JSON) here; this prints one line per alert
(status, name, severity, queue/channel, summary) followed by the raw body, on stdout, so
that `docker compose logs -f alert-receiver` shows what would have paged someone.
Standard library only. Listens on $PORT (default 5001); GET answers 200 "ok".
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def describe(payload):
    """One line per alert of an Alertmanager webhook payload."""
    lines = []
    for alert in payload.get("alerts", []):
        labels = alert.get("labels", {})
        annotations = alert.get("annotations", {})
        where = "/".join(v for v in (labels.get("channel"), labels.get("queue")) if v)
        lines.append(
            "[{status}] {name} severity={severity}{where} {summary}".format(
                status=alert.get("status", payload.get("status", "?")).upper(),
                name=labels.get("alertname", "?"),
                severity=labels.get("severity", "?"),
                where=f" group={where}" if where else "",
                summary=annotations.get("summary", ""),
            )
        )
    return lines


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        try:
            for line in describe(json.loads(body)):
                print(line, flush=True)
        except (ValueError, AttributeError) as err:
            print(f"[not an Alertmanager payload: {err}]", flush=True)
        print(body.decode("utf-8", errors="replace"), flush=True)
        self.send_response(200)
        self.end_headers()

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "5001"))
    print(f"alert-receiver listening on :{port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()

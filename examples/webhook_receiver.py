"""A webhook receiver that verifies Pulse's signatures with the `standardwebhooks`
library (`pip install standardwebhooks`): what a customer's backend does.

    python examples/webhook_receiver.py --port 9009 --secret-file secret.txt --log hooks.log

Each verified delivery is appended to the log as one JSON line. The answer's status is
read from ``--status-file`` on every request (200 when the file is missing), so a demo
can make the receiver fail and recover without restarting it.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9009)
    parser.add_argument("--secret-file", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--status-file", type=Path)
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            secret = args.secret_file.read_text().strip()
            try:
                event = Webhook(secret).verify(body, dict(self.headers))
            except WebhookVerificationError:
                self.send_response(401)  # not from Pulse: refuse it
                self.end_headers()
                return
            status = 200
            if args.status_file is not None and args.status_file.exists():
                status = int(args.status_file.read_text().strip() or "200")
            with args.log.open("a") as log:
                log.write(json.dumps({"status": status, "event": event}) + "\n")
            self.send_response(status)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return None

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()

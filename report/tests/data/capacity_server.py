"""A server whose capacity is known, for the capacity profile's tests: the fixture maker runs it as
`python3 capacity_server.py PORT SERVICE_MS` (make_capacity_fixture.py), the driver's tests import make_server
(roles/locust/tests/test_capacity_driver.py).

One worker: each request but /whiskey/ping holds a lock for SERVICE_MS (capacity 1000/SERVICE_MS per s), then
answers 200 (500 with fail); /whiskey/ping is free, like nginx's, for the driver check.
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_server(
    service_ms: float, fail: bool = False, hits: list[str] | None = None, port: int = 0
) -> ThreadingHTTPServer:
    """The server bound on 127.0.0.1:port (0: any free port), not yet serving; every path it is asked for is
    appended to `hits` when given."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self):
            if hits is not None:
                hits.append(self.path)
            status = 200
            if not self.path.startswith("/whiskey/ping"):
                with lock:
                    time.sleep(service_ms / 1000)
                status = 500 if fail else 200
            try:
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024
        daemon_threads = True

        def handle_error(self, *args):
            pass

    return Server(("127.0.0.1", port), Handler)


if __name__ == "__main__":
    make_server(float(sys.argv[2]), port=int(sys.argv[1])).serve_forever()

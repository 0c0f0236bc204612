"""The capacity fixture's server (make_capacity_fixture.py): `python3 capacity_server.py PORT SERVICE_MS`.

One worker: each request but /whiskey/ping holds a lock for SERVICE_MS (capacity 1000/SERVICE_MS per s);
/whiskey/ping is free, like nginx's, for the driver check.
"""

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVICE = float(sys.argv[2]) / 1000
LOCK = threading.Lock()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self):
        if not self.path.startswith("/whiskey/ping"):
            with LOCK:
                time.sleep(SERVICE)
        try:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            pass

    def log_message(self, *a):
        pass


class S(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True

    def handle_error(self, *a):
        pass


S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()

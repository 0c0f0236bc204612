"""A tiny WSGI quote server for the report's test data: the quoteserver's URL and failure behaviour, no ES.

GET /quotes/byId?id=N waits WHISKEY_FIXTURE_DELAY_MS (a stand-in for the Elasticsearch round trip) and
answers an HTML page; ids above WHISKEY_FIXTURE_CORPUS answer 500, like a missing document in the real app.
GET /whiskey/ping answers at once (nginx's near-free endpoint, for the client's calibration).
"""

import os
import time
from urllib.parse import parse_qs

DELAY_S = float(os.environ.get("WHISKEY_FIXTURE_DELAY_MS", "3")) / 1000.0
CORPUS = int(os.environ.get("WHISKEY_FIXTURE_CORPUS", "9900"))
PAGE = "<html><body><h1>Quote {id}</h1><p>Whiskey is liquid sunshine.</p><p>George Bernard Shaw</p></body></html>"


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/whiskey/ping":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"pong\n"]
    if environ.get("PATH_INFO") != "/quotes/byId":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    try:
        quote_id = int(parse_qs(environ.get("QUERY_STRING", "")).get("id", ["0"])[0])
    except ValueError:
        quote_id = 0
    time.sleep(DELAY_S)
    if not 1 <= quote_id <= CORPUS:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [b"no such quote\n"]
    body = PAGE.format(id=quote_id).encode()
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
    return [body]

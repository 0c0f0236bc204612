"""werkzeug's development server, as the original experiment ran it: `app.run(threaded=True)`.

python -m quoteserver.devserver --host 127.0.0.1 --port 9996
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from . import __version__, create_app
from .config import ConfigError

DEFAULT_DEV_POOL = 64


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m quoteserver.devserver",
        description="Serve quoteserver with werkzeug (threaded, one process), like the original experiment. "
        "Elasticsearch settings come from QUOTESERVER_* environment variables.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=9996, help="port to bind (default %(default)s)")
    parser.add_argument(
        "--es-pool-size",
        type=int,
        default=None,
        help="Elasticsearch connections kept by the process (default: $QUOTESERVER_ES_POOL_SIZE, else "
        f"{DEFAULT_DEV_POOL}: werkzeug runs one thread per connection, so the pool must cover the client's "
        "concurrency, else threads queue for a free connection)",
    )
    parser.add_argument("--quiet", action="store_true", help="no per-request access log")
    parser.add_argument("--version", action="version", version=f"quoteserver {__version__}")
    args = parser.parse_args(argv)
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        pool = args.es_pool_size
        if pool is None and not os.environ.get("QUOTESERVER_ES_POOL_SIZE", "").strip():
            pool = DEFAULT_DEV_POOL
        app = create_app(None if pool is None else {"es_pool_size": pool})
    except ConfigError as exc:
        print(f"quoteserver: {exc}", file=sys.stderr)
        return 2
    app.run(host=args.host, port=args.port, threaded=True, debug=False, use_reloader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

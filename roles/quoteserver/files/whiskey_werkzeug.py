#!/usr/bin/env python3
"""werkzeug's development server for any WSGI app, as the original experiment ran its Flask app:
`app.run(threaded=True)`, i.e. werkzeug.serving.run_simple(..., threaded=True): one process, a thread per request.

    whiskey_werkzeug.py module:attr [--host 0.0.0.0] [--port 9996] [--quiet]

Runs in the app's venv (whiskey's servers lock installs Werkzeug there). Exit status 2 when the callable cannot
be imported, with a message naming it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys


def load(spec: str):
    """The WSGI callable named module:attr."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise SystemExit(f"whiskey_werkzeug: the app must be module:attr, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an app that cannot be imported: say which and why
        print(f"whiskey_werkzeug: cannot import {module_name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    app = getattr(module, attr, None)
    if not callable(app):
        print(f"whiskey_werkzeug: {spec}: {module_name} has no callable {attr!r}", file=sys.stderr)
        raise SystemExit(2)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="whiskey_werkzeug.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("app", help="the WSGI callable, module:attr")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=9996, help="port to bind (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no per-request access log")
    args = parser.parse_args(argv)
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app = load(args.app)
    from werkzeug.serving import run_simple

    run_simple(args.host, args.port, app, threaded=True, use_reloader=False, use_debugger=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

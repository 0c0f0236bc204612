"""The WSGI callable every server loads: gunicorn/uWSGI/granian/waitress `quoteserver.wsgi:app`.

Configuration comes from QUOTESERVER_* environment variables (see quoteserver.config). Importing this module
opens no connection; each worker process creates its Elasticsearch client on its first request.
"""

from __future__ import annotations

from . import create_app

app = application = create_app()

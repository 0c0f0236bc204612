"""The WSGI callable every server imports: ``cpubound.wsgi:app``."""

from cpubound import create_app

app = create_app()

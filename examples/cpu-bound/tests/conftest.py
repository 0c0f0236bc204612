"""The tests import the package from src/ (it is not installed in the venv that runs them)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))


@pytest.fixture
def app():
    from cpubound import create_app

    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()

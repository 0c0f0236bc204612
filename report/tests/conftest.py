"""Shared fixtures: the committed real-run test data (tests/data/runs, made by data/make_fixture.sh)."""

import shutil
from pathlib import Path

import pytest

from whiskey_report.report import build

DATA = Path(__file__).parent / "data" / "runs"
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session")
def run_a() -> Path:
    return DATA / "fixture-a"


@pytest.fixture(scope="session")
def run_b() -> Path:
    return DATA / "fixture-b"


@pytest.fixture(scope="session")
def built_a(tmp_path_factory, run_a):
    """The full report of fixture-a, written once to a temporary folder (the committed data stays clean)."""
    out = tmp_path_factory.mktemp("report-a")
    return build(run_a, out)


@pytest.fixture
def run_copy(tmp_path, run_a) -> Path:
    """A private copy of fixture-a to damage."""
    dst = tmp_path / "fixture-a"
    shutil.copytree(run_a, dst)
    return dst


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def run_t() -> Path:
    return DATA / "fixture-t"

"""Every molecule scenario of the project — each role's and the top-level two-host one — passes `molecule test`
(create, converge, idempotence, verify, destroy) in containers."""

from __future__ import annotations

import pytest

from .conftest import ROOT, run

SCENARIOS = sorted(
    path.parent
    for path in [*ROOT.glob("roles/*/molecule/*/molecule.yml"), *ROOT.glob("molecule/*/molecule.yml")]
)


@pytest.mark.molecule
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[str(p.relative_to(ROOT)) for p in SCENARIOS])
def test_molecule_scenario(scenario):
    project = scenario.parent.parent  # the role's folder, or the repository for molecule/<name>
    result = run(["molecule", "test", "-s", scenario.name], timeout=2400, cwd=project)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]

"""The cloud playbooks cannot reach a cloud from here: what they do before the first API call is tested for real
(settings and token checks, the plan, nothing written), the API calls only by syntax check and check mode."""

from __future__ import annotations

import subprocess

from .conftest import ROOT, run


def play(playbook: str, *args: str, token: str = "") -> subprocess.CompletedProcess[str]:
    # An empty HCLOUD_TOKEN is what the playbooks treat as unset (they check its length), whatever the caller's
    # environment holds.
    return run(["ansible-playbook", f"playbooks/{playbook}", *args], timeout=300, HCLOUD_TOKEN=token)


def test_cloud_up_without_a_token_stops_before_any_api_call(tmp_path):
    inventory = tmp_path / "hosts.yml"
    result = play("cloud-up.yml", "-e", f"cloud_inventory_file={inventory}")
    assert result.returncode != 0
    assert "HCLOUD_TOKEN is not set" in result.stdout
    assert "hetzner.hcloud" not in result.stdout and not inventory.exists()


def test_cloud_up_refuses_bad_settings_naming_them(tmp_path):
    result = play("cloud-up.yml", "-e", "cloud_clients=0", "-e", f"cloud_inventory_file={tmp_path / 'h.yml'}")
    assert result.returncode != 0
    assert "cloud_clients must be 1..20 (got 0)" in result.stdout


def test_cloud_up_check_mode_prints_the_plan(tmp_path):
    inventory = tmp_path / "hosts.yml"
    result = play(
        "cloud-up.yml", "--check", "-e", "cloud_clients=3", "-e", f"cloud_inventory_file={inventory}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "4 VMs in fsn1 (debian-12): whiskey-server cpx31, whiskey-client-1 cpx31, whiskey-client-2 cpx31, "
        "whiskey-client-3 cpx31" in " ".join(result.stdout.split())
    )
    assert "API calls skipped" in result.stdout and not inventory.exists()


def test_cloud_down_needs_confirmation_and_a_token():
    unconfirmed = play("cloud-down.yml", token="not-a-real-token")
    assert unconfirmed.returncode != 0 and "cloud_down_confirm=true" in unconfirmed.stdout
    no_token = play("cloud-down.yml", "-e", "cloud_down_confirm=true")
    assert no_token.returncode != 0 and "HCLOUD_TOKEN is not set" in no_token.stdout


def test_the_generated_inventory_is_never_committed():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, text=True, capture_output=True, check=True).stdout
    assert "inventory/cloud/hosts.yml" not in tracked.split()
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "inventory/cloud/hosts.yml"], cwd=ROOT, check=False
    ).returncode
    assert ignored == 0, "inventory/cloud/hosts.yml (written by cloud-up.yml) must be git-ignored"

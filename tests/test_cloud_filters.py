"""playbooks/filter_plugins/whiskey_cloud.py: the cloud VMs and the inventory groups cloud-up.yml writes."""

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "whiskey_cloud", Path(__file__).resolve().parents[1] / "playbooks" / "filter_plugins" / "whiskey_cloud.py"
)
wc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wc)


def test_one_server_and_numbered_clients_with_private_addresses():
    hosts = wc.whiskey_cloud_hosts("wsk", 3, "cpx31", "cpx21", "10.42.1.10", "10.42.1.0/24", 20)
    assert [(h["name"], h["group"], h["type"], h["ip"]) for h in hosts] == [
        ("wsk-server", "server", "cpx31", "10.42.1.10"),
        ("wsk-client-1", "client", "cpx21", "10.42.1.21"),
        ("wsk-client-2", "client", "cpx21", "10.42.1.22"),
        ("wsk-client-3", "client", "cpx21", "10.42.1.23"),
    ]


@pytest.mark.parametrize(
    ("server_ip", "clients", "base", "message"),
    [
        ("10.42.2.10", 1, 20, "not a host address of 10.42.1.0/24"),
        ("10.42.1.10", 240, 20, "not a host address"),
        ("10.42.1.22", 3, 20, "also a client's address"),
    ],
)
def test_addresses_outside_the_subnet_or_shared_are_refused(server_ip, clients, base, message):
    with pytest.raises(ValueError, match=message):
        wc.whiskey_cloud_hosts("wsk", clients, "a", "b", server_ip, "10.42.1.0/24", base)


def test_groups_reach_hosts_by_public_address_and_load_them_by_private_one():
    hosts = wc.whiskey_cloud_hosts("wsk", 2, "a", "b", "10.42.1.10", "10.42.1.0/24")
    public = {"wsk-server": "203.0.113.1", "wsk-client-1": "203.0.113.2", "wsk-client-2": "203.0.113.3"}
    groups = wc.whiskey_cloud_groups(hosts, public)
    assert groups["server"] == {
        "wsk-server": {"ansible_host": "203.0.113.1", "whiskey_address": "10.42.1.10"}
    }
    assert groups["client"]["wsk-client-2"] == {
        "ansible_host": "203.0.113.3",
        "whiskey_address": "10.42.1.22",
    }
    del public["wsk-client-1"]
    with pytest.raises(ValueError, match="no public address for wsk-client-1"):
        wc.whiskey_cloud_groups(hosts, public)

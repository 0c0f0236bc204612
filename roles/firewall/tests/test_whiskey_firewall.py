"""roles/firewall/filter_plugins/whiskey_firewall.py: the rules the template writes, and every bad value named."""

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "whiskey_firewall", Path(__file__).resolve().parents[1] / "filter_plugins" / "whiskey_firewall.py"
)
fw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fw)

GETENT = """\
172.18.0.3      STREAM whiskey-client
172.18.0.3      DGRAM
172.18.0.3      RAW
fd00::3         STREAM whiskey-client
10.0.0.7        STREAM other
"""


def test_ssh_first_then_each_port_from_its_sources_per_family():
    allow = [
        {"ports": [9999, 8080], "sources": ["whiskey-client", "10.42.1.22"], "comment": "benchmark ports"},
        {"port": 5557, "sources": ["10.42.1.0/24"], "comment": "locust master"},
    ]
    lines = fw.whiskey_firewall_rules(allow, ["203.0.113.5"], 22, GETENT)
    assert lines == [
        'ip saddr { 203.0.113.5/32 } tcp dport 22 accept comment "ssh"',
        'ip saddr { 10.42.1.22/32, 172.18.0.3/32 } tcp dport { 8080, 9999 } accept comment "benchmark ports"',
        'ip6 saddr { fd00::3/128 } tcp dport { 8080, 9999 } accept comment "benchmark ports"',
        'ip saddr { 10.42.1.0/24 } tcp dport 5557 accept comment "locust master"',
    ]


def test_ssh_from_anywhere_is_a_family_match_not_a_zero_prefix_set():
    lines = fw.whiskey_firewall_rules([], ["0.0.0.0/0", "::/0"], "2222")
    assert lines == [
        'meta nfproto ipv4 tcp dport 2222 accept comment "ssh"',
        'meta nfproto ipv6 tcp dport 2222 accept comment "ssh"',
    ]


def test_only_names_are_resolved():
    allow = [{"port": 1, "sources": ["10.0.0.1", "whiskey-client", "10.1.0.0/16"]}]
    assert fw.whiskey_firewall_names(allow, ["controller", "203.0.113.5"]) == ["controller", "whiskey-client"]
    assert fw.parse_getent(GETENT) == {"whiskey-client": ["172.18.0.3", "fd00::3"], "other": ["10.0.0.7"]}


@pytest.mark.parametrize(
    ("allow", "ssh", "port", "message"),
    [
        ([], [], 22, "firewall_ssh_sources is empty"),
        ([], ["10.0.0.1"], 0, "firewall_ssh_port=0 is not a port"),
        (
            [{"port": 99999, "sources": ["10.0.0.1"]}],
            ["10.0.0.1"],
            22,
            r"firewall_allow\[0\]: port\(s\) \[99999\]",
        ),
        ([{"port": "x", "sources": ["10.0.0.1"]}], ["10.0.0.1"], 22, r"firewall_allow\[0\]: port\(s\)"),
        (
            [{"port": 80, "sources": []}],
            ["10.0.0.1"],
            22,
            r"firewall_allow\[0\] \(ports \[80\]\): no sources",
        ),
        ([{"port": 80, "sources": ["nowhere"]}], ["10.0.0.1"], 22, "'nowhere' does not resolve on this host"),
        (
            [{"port": 80, "sources": ["bad name!"]}],
            ["10.0.0.1"],
            22,
            "neither an address, a network nor a host",
        ),
        ([{"port": 80, "sources": ["10.0.0.1"], "proto": "sctp"}], ["10.0.0.1"], 22, "proto 'sctp'"),
        (["80"], ["10.0.0.1"], 22, r"firewall_allow\[0\] must be a mapping"),
    ],
)
def test_bad_values_are_named(allow, ssh, port, message):
    with pytest.raises(ValueError, match=message):
        fw.whiskey_firewall_rules(allow, ssh, port, GETENT)

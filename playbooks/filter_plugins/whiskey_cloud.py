"""The cloud inventory's shape as data (playbooks/cloud-up.yml): which VMs, and the inventory groups they form."""

from __future__ import annotations

import ipaddress
from typing import Any


def whiskey_cloud_hosts(
    name: str,
    clients: int,
    server_type: str,
    client_type: str,
    server_ip: str,
    subnet: str,
    client_ip_base: int = 20,
) -> list[dict[str, Any]]:
    """One server and `clients` clients: name, inventory group, server type and private address.

    Client n (from 1) gets address client_ip_base + n in `subnet`; every address must be a host of the subnet.
    """
    net = ipaddress.ip_network(subnet, strict=True)
    hosts = [{"name": f"{name}-server", "group": "server", "type": server_type, "ip": server_ip}]
    base = int(net.network_address) + int(client_ip_base)
    for n in range(1, int(clients) + 1):
        hosts.append(
            {
                "name": f"{name}-client-{n}",
                "group": "client",
                "type": client_type,
                "ip": str(ipaddress.ip_address(base + n)),
            }
        )
    for host in hosts:
        address = ipaddress.ip_address(host["ip"])
        if address not in net or address in (net.network_address, net.broadcast_address):
            raise ValueError(f"{host['name']}: address {host['ip']} is not a host address of {subnet}")
    if len({h["ip"] for h in hosts}) != len(hosts):
        raise ValueError(f"cloud_server_ip {server_ip} is also a client's address (clients from .{base + 1})")
    return hosts


def whiskey_cloud_groups(hosts: list[dict[str, Any]], public: dict[str, str]) -> dict[str, dict]:
    """{'server': {name: {ansible_host, whiskey_address}}, 'client': {...}}: public address to reach, private to load."""
    groups: dict[str, dict] = {"server": {}, "client": {}}
    for host in hosts:
        if host["name"] not in public:
            raise ValueError(f"no public address for {host['name']}")
        groups[host["group"]][host["name"]] = {
            "ansible_host": public[host["name"]],
            "whiskey_address": host["ip"],
        }
    return groups


class FilterModule:
    def filters(self):
        return {"whiskey_cloud_hosts": whiskey_cloud_hosts, "whiskey_cloud_groups": whiskey_cloud_groups}

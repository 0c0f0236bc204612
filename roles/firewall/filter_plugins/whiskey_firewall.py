"""The firewall role's rules as data: checked, names resolved, rendered as nftables lines (tested without a host)."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError:
        return None


def whiskey_firewall_names(allow: list[dict[str, Any]], ssh_sources: list[str] | None = None) -> list[str]:
    """The sources that are names, not addresses (to resolve on the host)."""
    sources = [s for rule in allow or [] for s in rule.get("sources") or []] + list(ssh_sources or [])
    return sorted({str(s) for s in sources if _network(s) is None})


def parse_getent(text: str) -> dict[str, list[str]]:
    """`getent ahosts NAME...` output -> {name: [addresses]} (getent prints the canonical name on the first line
    of each answer only, so lines are grouped by the names they follow)."""
    found: dict[str, set[str]] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) >= 3 and _network(parts[0]) is not None:
            for name in parts[2:]:
                found.setdefault(name, set()).add(parts[0])
    return {name: sorted(addrs) for name, addrs in found.items()}


def _addresses(sources: list[str], resolved: dict[str, list[str]], where: str) -> list[str]:
    out = []
    for source in sources:
        net = _network(source)
        if net is not None:
            out.append(str(net))
        elif not NAME_RE.match(str(source)):
            raise ValueError(f"{where}: {source!r} is neither an address, a network nor a host name")
        elif source not in resolved:
            raise ValueError(f"{where}: {source!r} does not resolve on this host (getent ahosts)")
        else:
            out.extend(str(ipaddress.ip_network(a)) for a in resolved[source])
    return sorted(set(out), key=lambda a: (ipaddress.ip_network(a).version, ipaddress.ip_network(a)))


def _accept(proto: str, ports: list[int], addrs: list[str], comment: str) -> list[str]:
    lines = []
    port_set = str(ports[0]) if len(ports) == 1 else "{ " + ", ".join(map(str, ports)) + " }"
    for family, key in ((4, "ip"), (6, "ip6")):
        chosen = [a for a in addrs if ipaddress.ip_network(a).version == family]
        if not chosen:
            continue
        if any(ipaddress.ip_network(a).prefixlen == 0 for a in chosen):
            match = f"meta nfproto ipv{family}"
        else:
            match = f"{key} saddr {{ {', '.join(chosen)} }}"
        lines.append(f'{match} {proto} dport {port_set} accept comment "{comment}"')
    return lines


def whiskey_firewall_rules(
    allow: list[dict[str, Any]], ssh_sources: list[str], ssh_port: Any, getent: str = ""
) -> list[str]:
    """nftables `accept` lines: SSH from ssh_sources, then each rule's ports from its sources. Raises ValueError
    naming the rule and the value when something is not valid."""
    resolved = parse_getent(getent)
    try:
        port = int(ssh_port)
    except (TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise ValueError(f"firewall_ssh_port={ssh_port!r} is not a port (1-65535)")
    if not ssh_sources:
        raise ValueError("firewall_ssh_sources is empty: SSH would be closed to everyone, the controller too")
    lines = _accept("tcp", [port], _addresses(ssh_sources, resolved, "firewall_ssh_sources"), "ssh")
    for i, rule in enumerate(allow or []):
        where = f"firewall_allow[{i}]"
        if not isinstance(rule, dict):
            raise ValueError(f"{where} must be a mapping with port(s) and sources, got {rule!r}")
        ports = rule.get("ports", [rule.get("port")])
        try:
            ports = sorted({int(p) for p in (ports if isinstance(ports, list) else [ports])})
        except (TypeError, ValueError):
            raise ValueError(f"{where}: port(s) {ports!r} must be integers 1-65535") from None
        if not ports or not all(0 < p < 65536 for p in ports):
            raise ValueError(f"{where}: port(s) {ports!r} must be integers 1-65535")
        proto = rule.get("proto", "tcp")
        if proto not in ("tcp", "udp"):
            raise ValueError(f"{where}: proto {proto!r} must be tcp or udp")
        sources = rule.get("sources") or []
        if not sources:
            raise ValueError(f"{where} (ports {ports}): no sources; a port open to nobody needs no rule")
        comment = re.sub(
            r"[^A-Za-z0-9 _.:,/-]", "", str(rule.get("comment") or f"whiskey {proto} {ports[0]}")
        )[:100]
        lines += _accept(proto, ports, _addresses(sources, resolved, where), comment)
    return lines


class FilterModule:
    def filters(self):
        return {
            "whiskey_firewall_names": whiskey_firewall_names,
            "whiskey_firewall_rules": whiskey_firewall_rules,
        }

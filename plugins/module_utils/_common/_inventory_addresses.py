# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml's inventory check: every ansible_host a valid address (inside a network when one is set),
and no two hosts on one address. Pure; standard library only."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values


def _network(cidr: str):
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise ValueError(f"site_network_cidr {cidr!r} is not a network such as 192.168.1.0/24") from None


def address_problems(hostvars: Mapping[str, Any], hosts: Sequence[str], cidr: str = "",
                     require_ip: bool = True) -> dict:
    """{'count': n, 'bad': [sentence per host], 'duplicates': [sentence per shared address]}."""
    hostvars = _shapes.mapping(hostvars, "hostvars", "hostvars (a dict of hosts)")
    cidr = _values.single_line(cidr, "site_network_cidr", allow_empty=True).strip() if cidr else ""
    require_ip = _values.boolean(require_ip, "site_require_ip_addresses")
    network = _network(cidr) if cidr else None
    addresses = []
    for host in sorted(_values.string_list(hosts, "the inventory's hosts")):
        value = _shapes.mapping(hostvars.get(host), f"hostvars[{host!r}]").get("ansible_host", host)
        value = _values.single_line(value if value not in (None, "") else host, f"{host}'s ansible_host")
        addresses.append((host, value))
    bad = []
    for host, address in addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        if ip is not None:
            if network is not None and (ip.version != network.version or ip not in network):
                bad.append(f"{host} ({address} is outside {cidr})")
            elif (network is not None and network.version == 4 and network.prefixlen < 31
                  and ip in (network.network_address, network.broadcast_address)):
                bad.append(f"{host} ({address} is the network or broadcast address of {cidr})")
        elif re.fullmatch(r"[0-9.]+", address) or ":" in address:
            bad.append(f"{host} ({address} is not a valid IP address)")
        elif require_ip:
            bad.append(f"{host} ({address} is a name, and site_require_ip_addresses is true)")
    by_address: dict[str, list[str]] = {}
    for host, address in addresses:
        by_address.setdefault(address, []).append(host)
    duplicates = [f"{address}: {', '.join(names)}" for address, names in sorted(by_address.items()) if len(names) > 1]
    return {"count": len(addresses), "bad": bad, "duplicates": duplicates}

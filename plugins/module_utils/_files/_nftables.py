# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one firewall (pure): an nftables table per service that rejects that service's ports from every
address outside its allow list, and touches nothing else.

``table(name, ports, allow, exposes)`` checks the role's variables (``firewall_name``, ``firewall_ports``,
``firewall_allow``, ``firewall_exposes``; each refusal is a sentence that names the variable) and renders the file
that the role ``firewall`` writes to ``/etc/homelab-nvidia-gpu/nftables/<name>.nft`` and loads with ``nft -f``
(through ``homelab-nftables@<name>.service``). The file:

- replaces the table ``inet homelab_<name>`` in one transaction (``table ... {}`` creates it if it is missing,
  ``delete table`` drops it, the definition adds it again: ``nft -f`` applies all three or none, so there is never a
  moment without the table nor a second copy of a rule);
- holds one base chain on the input hook, policy accept: loopback is accepted, packets of connections already
  tracked are accepted, then every allowed address (IPv4 and IPv6 in separate statements, networks merged, never an
  empty set) is accepted for the listed ports, and the rest of those ports is rejected (TCP with a reset, UDP with
  ICMP port unreachable). Another table's drop still drops (nftables runs every base chain of a hook); nothing
  here accepts a packet that another table refuses, and nothing here sees another port, SSH or Docker's nat rules.

Every address is rebuilt from its integer value, so what reaches the file is digits, dots, colons and a prefix,
whatever text the inventory held.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values

DIRECTORY = "/etc/homelab-nvidia-gpu/nftables"
UNIT = "homelab-nftables@{name}.service"
TABLE = "homelab_{name}"
PROTOCOLS = ("tcp", "udp")
NAME_PATTERN = r"[a-z0-9][a-z0-9_]{0,47}"
# IPv4-mapped IPv6 (::ffff:a.b.c.d): such a client reaches netfilter as an IPv4 packet, so it is allowed as IPv4.
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
# counted: what the table refused can be read back (nft list table ...: counter packets N)
_REJECT = {"tcp": "counter reject with tcp reset", "udp": "counter reject with icmpx type port-unreachable"}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class FirewallProblem(_values.ValueProblem):
    """A firewall variable that cannot be made into a table; the message names the variable."""


def firewall_name(value: Any, name: str = "firewall_name") -> str:
    """The instance's name: lower-case letters, digits and _ (the table ``homelab_<name>``, the unit's instance and
    the file's name, where systemd's instance escaping and nft's identifiers both leave it as it is)."""
    try:
        return _values.word(value, name, NAME_PATTERN,
                            "lower-case letters, digits and _ (at most 48, starting with a letter or a digit)")
    except _values.ValueProblem as exc:
        raise FirewallProblem(str(exc)) from None


def port_list(value: Any, name: str = "firewall_ports") -> list[dict[str, Any]]:
    """``[{port: 9100, protocol: tcp}, ...]`` (protocol tcp when left out), without repeats, sorted; at least one."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise FirewallProblem(f"{name} must be a list of {{port: N, protocol: tcp|udp}}, not {_shown(value)}")
    seen: set[tuple[str, int]] = set()
    for index, entry in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(entry, Mapping):
            raise FirewallProblem(f"{where} must be a mapping such as {{port: 9100, protocol: tcp}}, not"
                                  f" {_shown(entry)}")
        unknown = sorted(str(key) for key in entry if key not in ("port", "protocol"))
        if unknown:
            raise FirewallProblem(f"{where} has keys other than port and protocol: {', '.join(unknown)}")
        if "port" not in entry:
            raise FirewallProblem(f"{where} has no port")
        number = _checked(_values.port, entry["port"], f"{where}.port")
        protocol = entry.get("protocol", "tcp")
        if not isinstance(protocol, str) or protocol not in PROTOCOLS:
            raise FirewallProblem(f"{where}.protocol must be tcp or udp, not {_shown(protocol)}")
        seen.add((protocol, number))
    if not seen:
        raise FirewallProblem(f"{name} must list at least one port: a table for no port would filter nothing")
    return [{"port": number, "protocol": protocol} for protocol, number in sorted(seen)]


def _checked(check: Any, value: Any, name: str) -> Any:
    try:
        return check(value, name)
    except _values.ValueProblem as exc:
        raise FirewallProblem(str(exc)) from None


def _network(text: str, name: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if "%" in text:
        raise FirewallProblem(f"{name} must be an address or a network without a zone (%...), not"
                              f" {_shown(text)}")
    network = ipaddress.ip_network(_checked(_values.cidr, text, name), strict=False)
    if network.num_addresses == 1 and network.network_address.is_unspecified:
        raise FirewallProblem(f"{name} is {network.network_address}, which is no host's address: write"
                              f" {'0.0.0.0/0' if network.version == 4 else '::/0'} to admit every address (and say"
                              " what that exposes), or the addresses of the hosts that need the port")
    if network.version == 6 and network.prefixlen >= 96 and network.subnet_of(_MAPPED):
        return ipaddress.IPv4Network((int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
    # rebuilt from its integer: no text of the inventory survives into the file
    # (of its own class: ip_network((0, 0)) would read ::/0 as 0.0.0.0/0)
    return type(network)((int(network.network_address), network.prefixlen))


def allow_list(value: Any, name: str = "firewall_allow") -> tuple[list[str], list[str]]:
    """The allowed IPv4 and IPv6 networks, merged (a network inside another, neighbours that make one, repeats): nft
    refuses overlapping elements in one set, and merging shows when a list admits every address."""
    entries = _checked(lambda v, n: _values.string_list(v, n, _values.single_line), value, name)
    networks = [_network(entry, f"{name}[{index}]") for index, entry in enumerate(entries)]
    v4 = ipaddress.collapse_addresses(n for n in networks if n.version == 4)
    v6 = ipaddress.collapse_addresses(n for n in networks if n.version == 6)
    return [str(n) for n in v4], [str(n) for n in v6]


def _ports_of(ports: list[dict[str, Any]], protocol: str) -> list[int]:
    return [entry["port"] for entry in ports if entry["protocol"] == protocol]


def render(name: str, ports: list[dict[str, Any]], allow4: list[str], allow6: list[str]) -> str:
    """The file's text from values already checked (``firewall_name``, ``port_list``, ``allow_list``)."""
    table = TABLE.format(name=name)
    lines = [
        "#!/usr/sbin/nft -f",
        f"# homelab.nvidia_gpu.firewall {name}: written by Ansible, loaded by {UNIT.format(name=name)}.",
        "# Rejects the ports below from every address outside the allow list; every other packet is left to the",
        "# host's other tables. One transaction: the table is replaced whole, or nothing changes.",
        f"table inet {table} {{}}",
        f"delete table inet {table}",
        f"table inet {table} {{",
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy accept;",
        '\t\tiif "lo" accept',
        "\t\tct state established,related accept",
    ]
    for protocol in PROTOCOLS:
        numbers = _ports_of(ports, protocol)
        if not numbers:
            continue
        match = f"{protocol} dport {_values.nft_set([str(n) for n in numbers])}"
        if allow4:
            lines.append(f"\t\t{match} ip saddr {_values.nft_set(allow4)} accept")
        if allow6:
            lines.append(f"\t\t{match} ip6 saddr {_values.nft_set(allow6)} accept")
        lines.append(f"\t\t{match} {_REJECT[protocol]}")
    lines += ["\t}", "}", ""]
    return "\n".join(lines)


def _everyone(allow4: list[str], allow6: list[str]) -> list[str]:
    """``0.0.0.0/0`` and/or ``::/0`` when the merged list is every address of that family."""
    return [every for every, given in (("0.0.0.0/0", allow4), ("::/0", allow6)) if every in given]


def table(name: Any, ports: Any, allow: Any, exposes: Any = "", state: Any = "present") -> dict[str, Any]:
    """What the role writes and says for one firewall: ``name``, ``table``, ``unit``, ``path``, ``ports``,
    ``allow`` (IPv4 then IPv6, merged), ``text`` (the file) and ``warnings`` (a sentence when the allow list admits
    every IPv4 or IPv6 address, saying what that exposes). With ``state`` absent only the name is checked (what is
    removed), and ``text`` is empty."""
    checked = firewall_name(name)
    if state not in ("present", "absent"):
        raise FirewallProblem(f"firewall_state must be present or absent, not {_shown(state)}")
    if state == "absent":
        return {"name": checked, "table": TABLE.format(name=checked), "unit": UNIT.format(name=checked),
                "path": f"{DIRECTORY}/{checked}.nft", "ports": [], "listed": "", "allow": [], "exposes": "",
                "everyone": [], "text": "", "warnings": [], "state": "absent"}
    port_entries = port_list(ports)
    allow4, allow6 = allow_list(allow)
    what = _checked(lambda v, n: _values.single_line(v, n, allow_empty=True, max_length=200),
                    "" if exposes is None else exposes, "firewall_exposes").strip()
    listed = ", ".join(f"{entry['protocol']}/{entry['port']}" for entry in port_entries)
    warnings = []
    everyone = _everyone(allow4, allow6)
    if everyone:
        exposed = what or f"the service behind firewall {checked} (firewall_exposes does not say which)"
        families = " and ".join(f"every {'IPv4' if '.' in every else 'IPv6'} address ({every})" for every in everyone)
        warnings.append(
            f"firewall_allow of firewall {checked} admits {families} to {listed}: this exposes {exposed}"
            " (firewall_exposes) to every host that can reach this one. Narrow firewall_allow to the hosts that"
            " need it.")
    return {
        "name": checked,
        "table": TABLE.format(name=checked),
        "unit": UNIT.format(name=checked),
        "path": f"{DIRECTORY}/{checked}.nft",
        "ports": port_entries,
        "listed": listed,
        "allow": allow4 + allow6,
        "exposes": what,
        "everyone": everyone,
        "text": render(checked, port_entries, allow4, allow6),
        "warnings": warnings,
        "state": "present",
    }


UNIT_FILE = "/etc/systemd/system/homelab-nftables@.service"
DROPIN_DIR = "/etc/systemd/system/nftables.service.d"
NFT = "/usr/sbin/nft"


def role_plan(name: Any, ports: Any, allow: Any, exposes: Any = "", state: Any = "present") -> dict[str, Any]:
    """What the role ``firewall`` does, from its variables: ``table`` (above) and the package, the directories, the
    files to copy (the unit template, nftables.service's drop-in and the table, the last checked by ``nft -c -f``),
    the ``nft list table`` argv that tells whether the table is loaded, the ``nft delete table`` one, and
    ``summary``, one sentence of what the firewall does."""
    planned = table(name, ports, allow, exposes, state)
    present = planned["state"] == "present"
    others = f" and {', '.join(planned['allow'])}" if planned["allow"] else ""
    summary = (f"closes {planned['listed']} to every address but loopback{others}" if present else "removed")
    return {
        **planned,
        "present": present,
        "packages": ["nftables"],
        "directories": [DIRECTORY, DROPIN_DIR],
        "tasks": "load.yml" if present else "remove.yml",
        "unit_file": UNIT_FILE,
        # the role's files/ (the unit template, nftables.service's drop-in), then the table checked by nft -c first
        "files": [{"src": "homelab-nftables@.service", "dest": UNIT_FILE},
                  {"src": "nftables-homelab.conf", "dest": f"{DROPIN_DIR}/homelab-nvidia-gpu.conf"},
                  {"content": planned["text"], "dest": planned["path"], "validate": f"{NFT} -c -f %s"}],
        "list_argv": [NFT, "list", "table", "inet", planned["table"]],
        "delete_argv": [NFT, "delete", "table", "inet", planned["table"]],
        "summary": f"firewall {planned['name']} (table inet {planned['table']}): {summary}",
    }

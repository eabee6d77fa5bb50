# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall's table (module_utils/_files/_nftables.py): the exact file, what it admits and refuses read back by
an interpreter of its own lines against Python's ipaddress on the inventory's entries (not on the module's merged
list), the refusals, and - where this machine has nft and may make a network namespace - nft itself loading the file
twice in a throwaway namespace (the lab containers do the same for real: molecule/shared/verify_firewall.yml).
"""
from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter import firewall as firewall_filter
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _nftables as nf

NODE = [{"port": 9100, "protocol": "tcp"}]

EXPECTED = """\
#!/usr/sbin/nft -f
# homelab.nvidia_gpu.firewall gpu_metrics_node_exporter: written by Ansible, loaded by \
homelab-nftables@gpu_metrics_node_exporter.service.
# Rejects the ports below from every address outside the allow list; every other packet is left to the
# host's other tables. One transaction: the table is replaced whole, or nothing changes.
table inet homelab_gpu_metrics_node_exporter {}
delete table inet homelab_gpu_metrics_node_exporter
table inet homelab_gpu_metrics_node_exporter {
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\tiif "lo" accept
\t\tct state established,related accept
\t\ttcp dport { 9100 } ip saddr { 192.168.50.10/32 } accept
\t\ttcp dport { 9100 } ip6 saddr { fd00:50::/64 } accept
\t\ttcp dport { 9100 } counter reject with tcp reset
\t}
}
"""


def _statements(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_the_node_exporter_table_is_exactly_this():
    result = nf.table("gpu_metrics_node_exporter", NODE, ["192.168.50.10", "fd00:50::/64"], "node_exporter metrics")
    assert result["text"] == EXPECTED
    assert result["table"] == "homelab_gpu_metrics_node_exporter"
    assert result["unit"] == "homelab-nftables@gpu_metrics_node_exporter.service"
    assert result["path"] == "/etc/homelab-nvidia-gpu/nftables/gpu_metrics_node_exporter.nft"
    assert result["listed"] == "tcp/9100" and result["warnings"] == [] and result["everyone"] == []


def test_the_table_is_replaced_in_one_transaction_and_its_chain_only_rejects():
    lines = _statements(nf.table("x", NODE, ["10.0.0.0/8"])["text"])
    # create if missing, delete, define: in one nft -f, so the old table never lingers beside the new one
    assert lines[:3] == ["table inet homelab_x {}", "delete table inet homelab_x", "table inet homelab_x {"]
    assert "policy accept;" in lines[4] and "hook input" in lines[4]
    verdicts = [line.rsplit(" ", 1)[-1] for line in lines if line.endswith(("accept", "reset", "unreachable"))]
    assert "drop" not in " ".join(lines) and "flush" not in " ".join(lines)  # never another table's business
    assert verdicts == ["accept", "accept", "accept", "reset"]


def test_loopback_and_tracked_connections_come_first():
    lines = _statements(nf.table("x", [*NODE, {"port": 53, "protocol": "udp"}], [])["text"])
    rules = lines[5:-2]
    assert rules[:2] == ['iif "lo" accept', "ct state established,related accept"]


def test_an_empty_allow_list_rejects_everyone_but_loopback_and_has_no_empty_set():
    text = nf.table("x", [*NODE, {"port": 53, "protocol": "udp"}], [])["text"]
    assert "{ }" not in text and "saddr" not in text
    assert "\t\ttcp dport { 9100 } counter reject with tcp reset\n" in text
    assert "\t\tudp dport { 53 } counter reject with icmpx type port-unreachable\n" in text


def test_ipv4_and_ipv6_are_separate_statements_and_only_the_families_given_appear():
    only4 = nf.table("x", NODE, ["10.1.2.3"])["text"]
    only6 = nf.table("x", NODE, ["2001:db8::/32"])["text"]
    assert "ip saddr { 10.1.2.3/32 }" in only4 and "ip6 saddr" not in only4
    assert "ip6 saddr { 2001:db8::/32 }" in only6 and " ip saddr" not in only6


def test_tcp_is_reset_and_udp_gets_port_unreachable_with_ports_sorted_and_unique():
    ports = [{"port": 9101, "protocol": "udp"}, {"port": 9100}, {"port": "9100", "protocol": "tcp"},
             {"port": 53, "protocol": "udp"}]
    result = nf.table("x", ports, ["10.0.0.1"])
    assert result["ports"] == [{"port": 9100, "protocol": "tcp"}, {"port": 53, "protocol": "udp"},
                               {"port": 9101, "protocol": "udp"}]
    assert result["listed"] == "tcp/9100, udp/53, udp/9101"
    assert "tcp dport { 9100 } counter reject with tcp reset" in result["text"]
    assert "udp dport { 53, 9101 } counter reject with icmpx type port-unreachable" in result["text"]


def test_networks_are_merged_so_that_nft_never_sees_overlapping_elements():
    # nft refuses an interval set whose elements overlap ("conflicting intervals")
    result = nf.table("x", NODE, ["10.0.0.5", "10.0.0.0/24", "10.0.1.0/24", "10.0.0.5/32", "192.168.1.1"])
    assert result["allow"] == ["10.0.0.0/23", "192.168.1.1/32"]


def test_an_ipv4_mapped_ipv6_entry_is_allowed_as_the_ipv4_address_the_kernel_sees():
    assert nf.table("x", NODE, ["::ffff:192.168.1.7"])["allow"] == ["192.168.1.7/32"]
    assert nf.table("x", NODE, ["::ffff:10.0.0.0/104"])["allow"] == ["10.0.0.0/8"]


@pytest.mark.parametrize(("allow", "everyone"), [
    (["0.0.0.0/0"], ["0.0.0.0/0"]),
    (["::/0"], ["::/0"]),
    (["0.0.0.0/1", "128.0.0.0/1"], ["0.0.0.0/0"]),  # two halves make everyone
    (["10.0.0.1/0"], ["0.0.0.0/0"]),  # host bits with a /0
    (["::ffff:0:0/96"], ["0.0.0.0/0"]),  # every IPv4-mapped address is every IPv4 address
    (["0.0.0.0/0", "::/0"], ["0.0.0.0/0", "::/0"]),
])
def test_an_allow_list_that_admits_every_address_warns_with_what_it_exposes(allow, everyone):
    result = nf.table("gpu_metrics_node_exporter", NODE, allow, "node_exporter metrics (no authentication)")
    assert result["everyone"] == everyone
    (warning,) = result["warnings"]
    assert "node_exporter metrics (no authentication) (firewall_exposes)" in warning
    assert "firewall_allow" in warning and "tcp/9100" in warning
    for every in everyone:
        assert f"({every})" in warning


def test_the_warning_says_when_firewall_exposes_is_not_set():
    (warning,) = nf.table("x", NODE, ["::/0"])["warnings"]
    assert "the service behind firewall x (firewall_exposes does not say which)" in warning


def test_a_wide_but_not_universal_list_does_not_warn():
    assert nf.table("x", NODE, ["0.0.0.0/1", "10.0.0.0/8", "::/1"])["warnings"] == []


def test_absent_checks_only_the_name():
    result = nf.table("gpu_metrics_prometheus", None, "not even a list", None, "absent")
    assert result["text"] == "" and result["state"] == "absent" and result["table"] == "homelab_gpu_metrics_prometheus"
    with pytest.raises(nf.FirewallProblem, match="firewall_name"):
        nf.table("Bad-Name", None, None, None, "absent")


@pytest.mark.parametrize(("name", "ports", "allow", "exposes", "state", "sentence"), [
    ("", NODE, [], "", "present", "firewall_name must not be empty"),
    ("Node", NODE, [], "", "present", "firewall_name must be one word of lower-case"),
    ("node-exporter", NODE, [], "", "present", "firewall_name must be one word"),
    ("_x", NODE, [], "", "present", "firewall_name must be one word"),
    ("x" * 49, NODE, [], "", "present", "firewall_name must be one word"),
    ("x\ny", NODE, [], "", "present", "firewall_name must be a single line"),
    (True, NODE, [], "", "present", "firewall_name must be a string"),
    (["x"], NODE, [], "", "present", "firewall_name must be a string"),
    ("x", [], [], "", "present", "firewall_ports must list at least one port"),
    ("x", None, [], "", "present", "firewall_ports must be a list"),
    ("x", "9100", [], "", "present", "firewall_ports must be a list"),
    ("x", {"port": 9100}, [], "", "present", "firewall_ports must be a list"),
    ("x", [9100], [], "", "present", r"firewall_ports\[0\] must be a mapping"),
    ("x", [{"protocol": "tcp"}], [], "", "present", r"firewall_ports\[0\] has no port"),
    ("x", [{"port": 0}], [], "", "present", r"firewall_ports\[0\]\.port must be a port between 1 and 65535"),
    ("x", [{"port": 65536}], [], "", "present", r"firewall_ports\[0\]\.port must be a port"),
    ("x", [{"port": True}], [], "", "present", r"firewall_ports\[0\]\.port must be a port"),
    ("x", [{"port": "9100 } accept"}], [], "", "present", r"firewall_ports\[0\]\.port must be a port"),
    ("x", [{"port": 9100.5}], [], "", "present", r"firewall_ports\[0\]\.port must be a port"),
    ("x", [{"port": 9100, "protocol": "sctp"}], [], "", "present", r"\.protocol must be tcp or udp, not 'sctp'"),
    ("x", [{"port": 9100, "protocol": "TCP"}], [], "", "present", r"\.protocol must be tcp or udp"),
    ("x", [{"port": 9100, "saddr": "0.0.0.0/0"}], [], "", "present", "has keys other than port and protocol: saddr"),
    ("x", NODE, "10.0.0.1", "", "present", r"firewall_allow must be a list, not '10.0.0.1'.*write \['10.0.0.1'\]"),
    ("x", NODE, {"10.0.0.1": True}, "", "present", "firewall_allow must be a list"),
    ("x", NODE, ["10.0.0.0/33"], "", "present", r"firewall_allow\[0\] must be an address or a network"),
    ("x", NODE, ["host.example"], "", "present", r"firewall_allow\[0\] must be an address or a network"),
    ("x", NODE, [None], "", "present", r"firewall_allow\[0\] must be a string"),
    ("x", NODE, ["10.0.0.1 } accept; tcp dport 22 drop"], "", "present", r"firewall_allow\[0\] must be an address"),
    ("x", NODE, ["10.0.0.1\n"], "", "present", r"firewall_allow\[0\] must be a single line"),
    ("x", NODE, ["fe80::1%eth0"], "", "present", r"firewall_allow\[0\] must be an address or a network without a zone"),
    ("x", NODE, ["fe80::1%} accept"], "", "present", r"without a zone"),
    ("x", NODE, ["0.0.0.0"], "", "present",
     r"firewall_allow\[0\] is 0.0.0.0, which is no host's address: write 0.0.0.0/0"),
    ("x", NODE, ["::"], "", "present", r"firewall_allow\[0\] is ::, which is no host's address: write ::/0"),
    ("x", NODE, [], "metrics\nExecStart=/bin/sh", "present", "firewall_exposes must be a single line"),
    ("x", NODE, [], ["metrics"], "present", "firewall_exposes must be a string"),
    ("x", NODE, [], "", "gone", "firewall_state must be present or absent, not 'gone'"),
])
def test_what_cannot_be_a_table_is_refused_with_the_variable_named(name, ports, allow, exposes, state, sentence):
    with pytest.raises(nf.FirewallProblem, match=sentence):
        nf.table(name, ports, allow, exposes, state)


def test_refusals_are_value_problems_and_reach_ansible_as_the_filters_sentence():
    assert issubclass(nf.FirewallProblem, _values.ValueProblem)
    filters = firewall_filter.FilterModule().filters()
    with pytest.raises(AnsibleFilterError, match=r"^firewall_table: firewall_ports\[0\]\.port must be a port"):
        filters["firewall_table"]("x", [{"port": 0}], [])
    assert filters["firewall_table"]("x", NODE, ["10.0.0.1"])["allow"] == ["10.0.0.1/32"]


def test_the_filter_shows_each_warning_as_an_ansible_warning(monkeypatch):
    shown = []
    monkeypatch.setattr(firewall_filter.Display, "warning", lambda self, msg, *a, **k: shown.append(msg))
    result = firewall_filter.FilterModule().filters()["firewall_table"]("x", NODE, ["0.0.0.0/0"], "metrics")
    assert shown == result["warnings"] and len(shown) == 1
    shown.clear()
    firewall_filter.FilterModule().filters()["firewall_table"]("x", NODE, ["10.0.0.0/8"], "metrics")
    assert shown == []


# --- what the file means, read back by an interpreter of its own lines -----------------------------------------

_RULE = re.compile(r"(tcp|udp) dport \{ ([0-9, ]+) \}(?: (ip6?) saddr \{ ([0-9a-f.:/, ]+) \})? "
                   r"(?:counter )?(accept|reject)")


def verdict(text: str, protocol: str, port: int, source: str) -> str:
    """What the chain does with a new connection from ``source`` (not on lo) to ``protocol``/``port``: the first
    matching rule's verdict, else the policy (accept)."""
    address = ipaddress.ip_address(source)
    for line in _statements(text):
        match = _RULE.fullmatch(line.split(" with ")[0])
        if not match:
            continue
        proto, ports, family, networks, action = match.groups()
        if proto != protocol or port not in {int(p) for p in ports.split(", ")}:
            continue
        if family is not None:
            if (family == "ip") != (address.version == 4):
                continue
            if not any(address in ipaddress.ip_network(n) for n in networks.split(", ")):
                continue
        return action
    return "accept"


def _expected(allow: list[str], listed: set[tuple[str, int]], protocol: str, port: int, source: str) -> str:
    if (protocol, port) not in listed:
        return "accept"
    address = ipaddress.ip_address(source)
    for entry in allow:
        network = ipaddress.ip_network(entry, strict=False)
        if network.version == 6 and network.subnet_of(ipaddress.ip_network("::ffff:0:0/96")) \
                and address.version == 4:
            network = ipaddress.ip_network(((int(network.network_address) & 0xFFFFFFFF), network.prefixlen - 96))
        if address.version == network.version and address in network:
            return "accept"
    return "reject"


CASES = [
    (["192.168.50.10", "192.168.50.0/28", "fd00::/8"], "192.168.50.10"),
    (["192.168.50.10", "192.168.50.0/28", "fd00::/8"], "192.168.50.16"),
    (["192.168.50.10", "192.168.50.0/28", "fd00::/8"], "fd12::1"),
    (["192.168.50.10", "192.168.50.0/28", "fd00::/8"], "fe80::1"),
    (["::ffff:10.0.0.0/104"], "10.9.9.9"),
    (["::ffff:10.0.0.0/104"], "11.0.0.1"),
    ([], "127.0.0.2"),  # not on lo: an address of the loopback net from outside is refused like any other
    (["0.0.0.0/0"], "203.0.113.9"),
    (["0.0.0.0/0"], "2001:db8::9"),
]


@pytest.mark.parametrize(("allow", "source"), CASES)
def test_the_rules_admit_exactly_the_allowed_sources_on_the_listed_ports(allow, source):
    ports = [{"port": 9100, "protocol": "tcp"}, {"port": 50052, "protocol": "tcp"}, {"port": 53, "protocol": "udp"}]
    listed = {("tcp", 9100), ("tcp", 50052), ("udp", 53)}
    text = nf.table("x", ports, allow)["text"]
    for protocol, port in [*listed, ("tcp", 22), ("udp", 9100), ("tcp", 9090)]:
        assert verdict(text, protocol, port, source) == _expected(allow, listed, protocol, port, source), \
            (protocol, port, source)


# --- nft itself --------------------------------------------------------------------------------------------------

def _namespace_nft() -> list[str] | None:
    """A way to run nft in a throwaway network namespace on this machine (root: unshare -n; else a user namespace),
    or None."""
    nft = shutil.which("nft") or ("/usr/sbin/nft" if shutil.os.path.exists("/usr/sbin/nft") else None)
    if not nft or not shutil.which("unshare"):
        return None
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        try:
            probe = subprocess.run([*prefix, nft, "list", "ruleset"], capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return [*prefix, nft]
    return None


NFT = _namespace_nft()
needs_nft = pytest.mark.skipif(NFT is None, reason="no nft, or no network namespace for it, on this machine")


@needs_nft
@pytest.mark.parametrize("allow", [
    ["192.168.50.10", "fd00:50::/64"],
    [],
    ["0.0.0.0/0", "::/0"],
    ["10.0.0.5", "10.0.0.0/24", "10.0.1.0/24", "::ffff:10.2.0.0/112", "2001:db8::1", "2001:db8::/48"],
])
def test_nft_loads_the_file_twice_and_lists_the_same_rules(tmp_path, allow):
    ports = [{"port": 9100}, {"port": 9090}, {"port": 53, "protocol": "udp"}]
    path = tmp_path / "t.nft"
    path.write_text(nf.table("gpu_metrics_node_exporter", ports, allow)["text"])
    script = f"{NFT[-1]} -f {path} && {NFT[-1]} -f {path} && {NFT[-1]} list ruleset"
    done = subprocess.run([*NFT[:-1], "sh", "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    listed = done.stdout
    assert listed.count("table inet homelab_gpu_metrics_node_exporter") == 1  # replaced, never doubled
    assert listed.count("reject with tcp reset") == 1 and 'iif "lo" accept' in listed
    assert "udp dport 53 counter packets 0 bytes 0 reject" in listed  # icmpx port-unreachable is nft's default
    for network in nf.table("x", ports, allow)["allow"]:
        shown = network.removesuffix("/32").removesuffix("/128")
        assert shown in listed, (shown, listed)

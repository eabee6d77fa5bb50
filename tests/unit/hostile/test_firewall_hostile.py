# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile input for the firewall's table: whatever an inventory holds, the result is a sentence naming the variable
or a file of the table's own statements only - no statement smuggled through a name, a port or an address (a zone
"%} accept", a newline, a brace), no empty or overlapping set, no other table touched - and what the rules admit is
exactly what the allow list names, checked against Python's ipaddress on the entries as given.
"""
from __future__ import annotations

import ipaddress
import re

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter import firewall as firewall_filter
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _nftables as nf
from hypothesis import given, settings
from hypothesis import strategies as st

HYPOTHESIS = settings(max_examples=300, deadline=None)
text = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), text, st.binary(max_size=8))
payloads = st.sampled_from([
    "10.0.0.1 } accept", "10.0.0.1; flush ruleset", "fe80::1%} accept", "fe80::1%eth0", "10.0.0.1\ntcp dport 22 drop",
    "10.0.0.1\u2028", "10.0.0.1 #", "{ 10.0.0.1 }", "10.0.0.1/24 ", " 10.0.0.1", "::ffff:1.2.3.4", "0.0.0.0",
    "::", "0.0.0.0/0", "::/0", "10.0.0.0/8", "2001:db8::/32", "1.2.3.4/33", "\u0661.2.3.4", "\uff11.2.3.4",
    "10.0.0.1/+8", "10.0.0.1/08", "0x0a.0.0.1", "010.0.0.1", "[::1]", "::1", "127.0.0.1",
])
addresses = st.one_of(
    st.ip_addresses().map(str),
    st.tuples(st.ip_addresses(v=4), st.integers(0, 32)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.tuples(st.ip_addresses(v=6), st.integers(0, 128)).map(lambda t: f"{t[0]}/{t[1]}"),
    payloads, text, scalars,
)
port_entries = st.one_of(
    st.fixed_dictionaries({"port": st.one_of(st.integers(-5, 70000), scalars, payloads)},
                          optional={"protocol": st.one_of(st.sampled_from(["tcp", "udp", "TCP", "sctp", ""]),
                                                          scalars)}),
    st.dictionaries(st.one_of(text, st.integers()), scalars, max_size=3),
    scalars,
)

# Every statement the file may hold; anything else would be an injection.
_NET = r"[0-9a-f.:]+/[0-9]{1,3}"
_STATEMENT = re.compile(
    r"table inet homelab_[a-z0-9_]+ \{\}|delete table inet homelab_[a-z0-9_]+|table inet homelab_[a-z0-9_]+ \{|"
    r"chain input \{|type filter hook input priority filter; policy accept;|iif \"lo\" accept|"
    r"ct state established,related accept|\}|"
    rf"(tcp|udp) dport \{{ [0-9]{{1,5}}(, [0-9]{{1,5}})* \}} (ip|ip6) saddr \{{ {_NET}(, {_NET})* \}} accept|"
    r"tcp dport \{ [0-9]{1,5}(, [0-9]{1,5})* \} counter reject with tcp reset|"
    r"udp dport \{ [0-9]{1,5}(, [0-9]{1,5})* \} counter reject with icmpx type port-unreachable")


def _only_the_tables_statements(result: dict) -> None:
    name = result["name"]
    lines = result["text"].split("\n")
    assert lines[-1] == "" and all(line.isascii() for line in lines)
    statements = [line.strip() for line in lines if line and not line.startswith("#")]
    assert [line for line in statements if not _STATEMENT.fullmatch(line)] == []
    assert statements[:3] == [f"table inet homelab_{name} {{}}", f"delete table inet homelab_{name}",
                              f"table inet homelab_{name} {{"]
    assert sum(line.endswith("{") for line in statements) == sum(line == "}" for line in statements) == 2
    comments = [line for line in lines if line.startswith("#")]
    assert len(comments) == 4 and all(name in c or "homelab" not in c for c in comments[1:2])


@HYPOTHESIS
@given(name=st.one_of(st.from_regex(r"[a-z0-9][a-z0-9_]{0,47}", fullmatch=True), text, scalars),
       ports=st.one_of(st.lists(port_entries, max_size=4), scalars, st.dictionaries(text, scalars, max_size=2)),
       allow=st.one_of(st.lists(addresses, max_size=6), scalars),
       exposes=st.one_of(text, scalars))
def test_anything_gives_a_sentence_or_only_the_tables_statements(name, ports, allow, exposes):
    try:
        result = nf.table(name, ports, allow, exposes)
    except _values.ValueProblem as exc:
        message = str(exc)
        assert message and "\n" not in message
        assert re.match(r"firewall_(name|ports|allow|exposes|state)\b", message), message
        return
    _only_the_tables_statements(result)
    assert "{ }" not in result["text"]
    for warning in result["warnings"]:
        assert "firewall_exposes" in warning and "\n" not in warning


@HYPOTHESIS
@given(name=st.one_of(text, scalars), ports=st.one_of(st.lists(port_entries, max_size=3), scalars),
       allow=st.one_of(st.lists(addresses, max_size=4), scalars), exposes=st.one_of(text, scalars),
       state=st.one_of(st.sampled_from(["present", "absent"]), text, scalars))
def test_the_filter_raises_only_ansibles_error_with_the_filters_name(name, ports, allow, exposes, state):
    filters = firewall_filter.FilterModule().filters()
    try:
        result = filters["firewall_table"](name, ports, allow, exposes, state)
    except AnsibleFilterError as exc:
        assert str(exc).startswith("firewall_table: firewall_")
        return
    assert result["state"] in ("present", "absent")


@HYPOTHESIS
@given(allow=st.lists(addresses, max_size=6))
def test_every_allowed_entry_lands_in_one_family_statement_and_nothing_overlaps(allow):
    try:
        result = nf.table("x", [{"port": 9100}], allow)
    except _values.ValueProblem:
        return
    networks = [ipaddress.ip_network(n) for n in result["allow"]]
    for one in networks:
        for other in networks:
            assert one is other or not one.overlaps(other), (one, other)  # nft: "conflicting intervals"
    for entry in allow:  # each entry given is inside what the file allows, in the family the kernel sees
        network = ipaddress.ip_network(entry.strip(), strict=False)  # space around an entry is not part of it
        if network.version == 6 and network.prefixlen >= 96 \
                and network.subnet_of(ipaddress.ip_network("::ffff:0:0/96")):
            network = ipaddress.ip_network((int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
        assert any(network.version == n.version and network.subnet_of(n) for n in networks), (entry, networks)


def _verdict(text_: str, protocol: str, port: int, source: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    rule = re.compile(r"(tcp|udp) dport \{ ([0-9, ]+) \}(?: (ip6?) saddr \{ ([0-9a-f.:/, ]+) \})? "
                      r"(?:counter )?(accept|reject)")
    for line in (line.strip() for line in text_.splitlines()):
        match = rule.fullmatch(line.split(" with ")[0])
        if not match:
            continue
        proto, ports, family, nets, action = match.groups()
        if proto != protocol or str(port) not in ports.split(", "):
            continue
        if family and ((family == "ip") != (source.version == 4)
                       or not any(source in ipaddress.ip_network(n) for n in nets.split(", "))):
            continue
        return action
    return "accept"


def _unspecified(entry: str) -> bool:
    network = ipaddress.ip_network(entry, strict=False)
    return network.num_addresses == 1 and network.network_address.is_unspecified


networks = st.one_of(
    st.tuples(st.ip_addresses(), st.integers(0, 128)).map(lambda t: f"{t[0]}/{min(t[1], t[0].max_prefixlen)}"),
    st.ip_addresses().map(str))


@HYPOTHESIS
@given(allow=st.lists(networks, max_size=5).filter(lambda entries: not any(map(_unspecified, entries))),
       sources=st.lists(st.ip_addresses(), min_size=1, max_size=6))
def test_a_source_is_rejected_exactly_when_no_entry_as_given_contains_it(allow, sources):
    result = nf.table("x", [{"port": 9100}, {"port": 53, "protocol": "udp"}], allow)
    # sources chosen near the entries too, so that both verdicts are met
    near = [ipaddress.ip_network(e, strict=False).network_address for e in allow]
    for source in [*sources, *near]:
        expected = "reject"
        for entry in allow:
            network = ipaddress.ip_network(entry, strict=False)
            if network.version == 6 and network.prefixlen >= 96 \
                    and network.subnet_of(ipaddress.ip_network("::ffff:0:0/96")):
                network = ipaddress.ip_network((int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96))
            if source.version == network.version and source in network:
                expected = "accept"
        for protocol, port in (("tcp", 9100), ("udp", 53)):
            assert _verdict(result["text"], protocol, port, source) == expected, (source, allow)
        assert _verdict(result["text"], "tcp", 22, source) == "accept"  # SSH and every other port: not ours


def test_a_long_allow_list_is_merged_and_rendered_at_once():
    inside = [f"10.{i // 256}.{i % 256}.1" for i in range(20000)] + ["10.0.0.0/9"]  # all within the /9
    apart = [f"172.16.{i // 128}.{(i % 128) * 2}" for i in range(3000)]  # even addresses: no two merge
    result = nf.table("x", [{"port": 9100}], inside + apart)
    assert result["allow"] == ["10.0.0.0/9", *(f"{a}/32" for a in apart)]
    _only_the_tables_statements(result)


@pytest.mark.parametrize("entry", ["fe80::1%} accept", "fe80::1%a b", "fe80::1%eth0/128", "fe80::%x;y/64"])
def test_a_zone_never_reaches_the_file(entry):
    with pytest.raises(nf.FirewallProblem, match=r"firewall_allow\[0\] must be an address or a network without a zone"):
        nf.table("x", [{"port": 9100}], [entry])

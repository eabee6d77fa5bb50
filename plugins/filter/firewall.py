# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: firewall_table
short_description: One service's nftables table, from the firewall role's variables
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Checks the variables of P(homelab.nvidia_gpu.firewall#role) and renders the file it loads with C(nft -f) - the
    table C(inet homelab_<name>), replaced whole in one transaction, whose one chain (input hook, policy accept)
    accepts loopback, connections already tracked and the allowed addresses on the listed ports, and rejects the
    rest of those ports (TCP with a reset, UDP with ICMP port unreachable). Nothing else is filtered.
  - The allow list is merged per family (IPv4 and IPv6 in separate statements, an IPv4-mapped IPv6 address counts as
    IPv4, networks inside others and neighbours merged, never an empty set). When it admits every IPv4 or IPv6
    address, the result's C(warnings) say so with O(exposes), and the filter shows them as Ansible warnings.
  - A name that is not lower-case letters, digits and C(_), a port out of 1-65535 or given as a boolean, a protocol
    other than tcp or udp, an entry that is not an address or a network (a zone C(%eth0), C(0.0.0.0) alone, a
    string where the list belongs) is refused with a sentence naming the variable.
  - Pure Python in C(plugins/module_utils/_files/_nftables.py).
options:
  _input:
    description: C(firewall_name) - the table is C(inet homelab_<name>), the unit C(homelab-nftables@<name>.service).
    type: str
    required: true
  ports:
    description: C(firewall_ports) - a list of C({port, protocol}), protocol C(tcp) (default) or C(udp).
    type: list
    elements: dict
    required: true
  allow:
    description: C(firewall_allow) - the addresses and networks (IPv4 or IPv6) that may reach the ports.
    type: list
    elements: str
    required: true
  exposes:
    description: C(firewall_exposes) - what the ports expose, said in the warning when the list admits everyone.
    type: str
    default: ""
  state:
    description: C(firewall_state) - with V(absent) only the name is checked and C(text) is empty.
    type: str
    choices: [present, absent]
    default: present
"""

EXAMPLES = r"""
- name: The table of node_exporter's port is planned
  ansible.builtin.set_fact:
    node_exporter_firewall: >-
      {{ 'gpu_metrics_node_exporter' | homelab.nvidia_gpu.firewall_table([{'port': 9100, 'protocol': 'tcp'}],
         ['192.168.50.10', 'fd00:50::/64'], 'node_exporter metrics (no authentication)') }}
# node_exporter_firewall.text:
#   table inet homelab_gpu_metrics_node_exporter {}
#   delete table inet homelab_gpu_metrics_node_exporter
#   table inet homelab_gpu_metrics_node_exporter {
#     chain input {
#       type filter hook input priority filter; policy accept;
#       iif "lo" accept
#       ct state established,related accept
#       tcp dport { 9100 } ip saddr { 192.168.50.10/32 } accept
#       tcp dport { 9100 } ip6 saddr { fd00:50::/64 } accept
#       tcp dport { 9100 } reject with tcp reset
#     }
#   }
"""

RETURN = r"""
_value:
  description: C(name), C(table), C(unit), C(path) (C(/etc/homelab-nvidia-gpu/nftables/<name>.nft)), C(ports)
    (sorted, without repeats), C(listed) (C(tcp/9100, udp/53)), C(allow) (merged, IPv4 first), C(exposes),
    C(everyone) (C(0.0.0.0/0) and/or C(::/0) when the list admits every address of that family), C(text) (the file),
    C(warnings) (sentences), C(state).
  type: dict
"""

from ansible.utils.display import Display
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _nftables
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filters


def firewall_table(name, ports=None, allow=None, exposes="", state="present") -> dict:
    result = _nftables.table(name, ports, allow, exposes, state)
    for warning in result["warnings"]:
        Display().warning(warning)
    return result


class FilterModule:
    def filters(self):
        return safe_filters({"firewall_table": firewall_table})

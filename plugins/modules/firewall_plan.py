#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: firewall_plan
short_description: Everything the firewall role does on a host, decided once on the controller
version_added: 0.3.0
description:
  - The planning step of the role homelab.nvidia_gpu.firewall. It runs on the controller (an action plugin,
    nothing is sent to the host) over the pure rules in C(plugins/module_utils/_files/_nftables.py).
  - Checks the role's variables and renders the file the role loads with C(nft -f) - the table
    C(inet homelab_<name>), replaced whole in one transaction, whose one chain (input hook, policy accept) accepts
    loopback, connections already tracked and the allowed addresses on the listed ports, and rejects the rest of
    those ports (TCP with a reset, UDP with ICMP port unreachable). Nothing else is filtered.
  - The allow list is merged per family (an IPv4-mapped IPv6 address counts as IPv4, never an empty set). When it
    admits every IPv4 or IPv6 address, the task warns, saying what O(exposes) exposes.
  - Refuses with one sentence naming the variable - a name that is not lower-case letters, digits and C(_), no
    port, a port out of 1-65535 or given as a boolean, a protocol other than tcp or udp, an entry that is not an
    address or a network (a zone C(%eth0), C(0.0.0.0) alone, a string where the list belongs).
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
attributes:
  check_mode:
    support: full
    details: Plans the same way in check mode.
options:
  name:
    description: C(firewall_name) - the table is C(inet homelab_<name>), the unit C(homelab-nftables@<name>.service).
    type: raw
    required: true
  ports:
    description: C(firewall_ports) - a list of C({port, protocol}), protocol C(tcp) (default) or C(udp).
    type: raw
    default: []
  allow:
    description: C(firewall_allow) - the addresses and networks (IPv4 or IPv6) that may reach the ports.
    type: raw
    default: []
  exposes:
    description: C(firewall_exposes) - what the ports expose, said in the warning when the list admits everyone.
    type: raw
    default: ""
  state:
    description: C(firewall_state) - V(present), or V(absent) (only the name is checked, RV(plan.text) is empty).
    type: raw
    default: present
"""

EXAMPLES = r"""
- name: Firewall plan is made
  homelab.nvidia_gpu.firewall_plan:
    name: gpu_metrics_node_exporter
    ports: [{port: 9100, protocol: tcp}]
    allow: [192.168.50.10, "fd00:50::/64"]
    exposes: node_exporter metrics (no authentication)
  register: firewall
# firewall.plan.text:
#   table inet homelab_gpu_metrics_node_exporter {}
#   delete table inet homelab_gpu_metrics_node_exporter
#   table inet homelab_gpu_metrics_node_exporter {
#     chain input {
#       type filter hook input priority filter; policy accept;
#       iif "lo" accept
#       ct state established,related accept
#       tcp dport { 9100 } ip saddr { 192.168.50.10/32 } accept
#       tcp dport { 9100 } ip6 saddr { fd00:50::/64 } accept
#       tcp dport { 9100 } counter reject with tcp reset
#     }
#   }
"""

RETURN = r"""
plan:
  description: What the role's tasks act on.
  returned: success
  type: dict
  contains:
    name:
      description: The firewall's name.
      type: str
    table:
      description: The table's name in family inet (C(homelab_<name>)).
      type: str
    unit:
      description: The unit that loads it (C(homelab-nftables@<name>.service)).
      type: str
    path:
      description: The table's file (C(/etc/homelab-nvidia-gpu/nftables/<name>.nft)).
      type: str
    ports:
      description: The ports, sorted and without repeats (C(port), C(protocol)).
      type: list
      elements: dict
    listed:
      description: The ports as words (C(tcp/9100, udp/53)).
      type: str
    allow:
      description: The allowed networks, merged, IPv4 first.
      type: list
      elements: str
    everyone:
      description: C(0.0.0.0/0) and/or C(::/0) when the list admits every address of that family.
      type: list
      elements: str
    text:
      description: The table's file (empty with state absent).
      type: str
    state:
      description: C(present) or C(absent).
      type: str
    present:
      description: Whether the table is loaded (else removed).
      type: bool
    packages:
      description: The packages to install (nftables).
      type: list
      elements: str
    directories:
      description: The directories of the tables and of nftables.service's drop-in.
      type: list
      elements: str
    unit_file:
      description: The unit template's path.
      type: str
    tasks:
      description: The role's task file to run - C(load.yml) or C(remove.yml).
      type: str
    files:
      description:
        - The files to write (C(dest)) - the role's unit template and nftables.service's drop-in (C(src)), then the
          table (C(content)) with its C(validate) command (C(nft -c -f %s)).
      type: list
      elements: dict
    file_set:
      description:
        - The arguments of M(homelab.nvidia_gpu.file_set) that writes them in one step - C(directories) and
          C(files), every file whole (the role's own files read on the controller), owned by root.
      type: dict
    list_argv:
      description: C(nft list table inet <table>) - whether the table is loaded.
      type: list
      elements: str
    delete_argv:
      description: C(nft delete table inet <table>).
      type: list
      elements: str
    summary:
      description: One sentence of what the firewall does.
      type: str
"""

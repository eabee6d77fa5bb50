#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_metrics_plan
short_description: Everything the role gpu_metrics does on one host, decided once on the controller
version_added: 0.3.0
description:
  - The planning step of the role P(homelab.nvidia_gpu.gpu_metrics#role). From the role's variables (without their
    C(gpu_metrics_) prefix) and the fact C(nvidia_gpu_plan) it returns the collector's view of the GPU plan, its
    directories, files, unit and command, node_exporter's and Prometheus's packages and C(ARGS=) lines, the
    addresses each listens on, the firewall tables' states and allow lists, the alert rules and the parts of the
    scrape config; it sets the fact C(gpu_metrics_node_exporter_endpoint) (where node_exporter listens) for the
    Prometheus hosts.
  - A value the role refuses fails the task with one sentence that names the variable. A port widened beyond its
    narrow default is a warning that says what it exposes, and to whom.
  - An action plugin - runs on the controller only, changes nothing. Pure rules in
    C(plugins/module_utils/_roles/_gpu_metrics.py).
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
options:
  gpu_plan:
    description: The fact C(nvidia_gpu_plan) (P(homelab.nvidia_gpu.gpu_plan#role)).
    type: dict
    required: true
  interval:
    description: Seconds between two runs of the collector (5 to 86400).
    type: int
    default: 60
  textfile_dir:
    description: Node_exporter's textfile directory.
    type: str
    default: /var/lib/prometheus/node-exporter
  node_exporter:
    description: Whether Debian's node_exporter runs on the host.
    type: bool
    default: true
  node_exporter_address:
    description:
      - The address node_exporter listens on; empty is refused when node_exporter runs.
      - V(null) - C(127.0.0.1) on a host that is the only member of the group C(prometheus_servers), else
        O(host_address).
    type: str
  host_address:
    description: The host's own address on the cluster network (C(ansible_facts.default_ipv4.address)).
    type: str
    default: ""
  node_exporter_port:
    description: The port node_exporter listens on and Prometheus scrapes.
    type: int
    default: 9100
  node_exporter_listen:
    description: The former single setting, C(ADDRESS:PORT) or C(:PORT); when set it replaces the two above.
    type: str
    default: ""
  node_exporter_allow:
    description:
      - The addresses and networks that may reach node_exporter's port besides loopback.
      - V(null) - every address of the hosts in the group C(prometheus_servers), from their gathered facts.
    type: list
    elements: str
  prometheus:
    description: Whether Prometheus runs on the host.
    type: bool
    default: false
  prometheus_hosts:
    description: The hosts Prometheus scrapes (a list).
    type: list
    elements: str
    default: []
  prometheus_address:
    description: The address Prometheus listens on.
    type: str
    default: 127.0.0.1
  prometheus_port:
    description: The port Prometheus listens on.
    type: int
    default: 9090
  prometheus_allow:
    description: The addresses and networks that may reach Prometheus's port when it listens beyond loopback.
    type: list
    elements: str
    default: []
  firewall:
    description: Whether the role guards the ports with nftables tables of its own.
    type: bool
    default: true
  scrape_interval:
    description: Prometheus's scrape and rule evaluation interval.
    type: str
    default: 30s
  alert_for:
    description: How long a condition must hold before its alert fires (a Prometheus duration).
    type: str
    default: 5m
  alert_temperature:
    description: The GPU temperature alert's threshold in degrees Celsius (30 to 120).
    type: float
    default: 85
notes:
  - The group C(prometheus_servers) and the inventory's hostvars are read from the play, not passed.
"""

EXAMPLES = r"""
- name: GPU metrics plan is made
  homelab.nvidia_gpu.gpu_metrics_plan:
    gpu_plan: "{{ nvidia_gpu_plan }}"
    interval: "{{ gpu_metrics_interval }}"
    node_exporter_address: "{{ gpu_metrics_node_exporter_address }}"
    prometheus: "{{ gpu_metrics_prometheus }}"
    prometheus_hosts: "{{ gpu_metrics_prometheus_hosts }}"
  register: __gpu_metrics_plan

- name: The collector, the pure parts it imports, its view of the GPU plan and its units are in place
  homelab.nvidia_gpu.file_set:
    directories: "{{ __gpu_metrics_plan.plan.collector.file_set.directories }}"
    files: "{{ __gpu_metrics_plan.plan.collector.file_set.files }}"
"""

RETURN = r"""
plan:
  description: What the role's tasks act on.
  returned: success
  type: dict
  contains:
    settings:
      description: The checked options and what follows from them (as the filter
        P(homelab.nvidia_gpu.gpu_metrics_settings#filter) returns them).
      type: dict
    collector:
      description: C(plan) (the collector's view of the GPU plan), C(plan_file), C(lib), C(unit), C(textfile),
        C(dirs), C(exec), C(interval), C(textfile_dir), C(units) (the unit files' paths) and C(file_set) (the
        arguments of M(homelab.nvidia_gpu.file_set) - its directories, collect.py and the pure parts it imports,
        the plan file and the units, whole).
      type: dict
    node_exporter:
      description: V(false), or C(packages), C(args) (its C(ARGS=) line) and C(url).
      type: raw
    firewall:
      description: Node_exporter's table - C(port), C(allow), C(state); null when the role keeps no table.
      type: dict
    prometheus:
      description: V(false), or C(packages), C(args), C(url), C(rules_file), C(rules_dir), C(config_file), C(rules)
        (the alert rules file as a dict), C(scrape) (the scrape config's parts) and C(firewall).
      type: raw
    phases:
      description: Which parts run - C(node_exporter), C(prometheus), C(firewall) (booleans).
      type: dict
    endpoint:
      description: Where node_exporter listens (C(address), C(port)); null when it does not run.
      type: dict
    warnings:
      description: What a widened port exposes (also shown as warnings).
      type: list
      elements: str
ansible_facts:
  description: C(gpu_metrics_node_exporter_endpoint) where node_exporter runs.
  returned: success
  type: dict
"""

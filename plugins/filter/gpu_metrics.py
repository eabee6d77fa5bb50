# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: gpu_metrics_plan
short_description: What the GPU metrics collector needs of the host's GPU plan
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - From the fact C(nvidia_gpu_plan) (P(homelab.nvidia_gpu.gpu_plan#role)) - C(gpu_node), C(kind), C(can_work),
    C(platform), C(architecture), C(flavour), C(branch), C(gpu_names), the problems' codes and severities,
    C(dkms_name) - written as JSON next to the collector, which exports them; the collector never judges the GPU.
  - >-
    Two more filters in this file - C(gpu_metrics_scrape_targets) (hostvars and a list of hosts, optionally the port,
    to Prometheus C(static_configs) - one target per host at C(gpu_metrics_scrape_address), else C(ansible_host),
    else its name, labelled C(node) and C(gpu_node)) and C(gpu_metrics_alert_rules) (a dict of C(for),
    C(temperature), C(stale_after) to the alert rules file - a GPU expected but not enumerated, with the eGPU
    power-order hint; the driver cannot work; the module not loaded; no DKMS build for the running kernel; a
    narrow or slow PCIe link; a hot GPU; node_exporter down; a stale collector).
  - Pure Python in C(plugins/module_utils/_gpu_metrics.py), which the role also installs beside the collector.
options:
  _input:
    description: The fact C(nvidia_gpu_plan).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: The collector's view of the plan is written
  ansible.builtin.copy:
    content: "{{ nvidia_gpu_plan | homelab.nvidia_gpu.gpu_metrics_plan | to_nice_json }}"
    dest: /etc/homelab-gpu-metrics/plan.json
    mode: "0644"
"""

RETURN = r"""
_value:
  description: C(gpu_node), C(kind), C(can_work), C(platform), C(architecture), C(flavour), C(branch), C(gpu_names),
    C(problems), C(dkms_name).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils import _gpu_metrics


def gpu_metrics_plan(plan) -> dict:
    try:
        return _gpu_metrics.plan_summary(plan)
    except _gpu_metrics.MetricsError as exc:
        raise AnsibleFilterError(f"gpu_metrics_plan: {exc}") from exc


def gpu_metrics_scrape_targets(hostvars, hosts, port=9100) -> list:
    try:
        return _gpu_metrics.scrape_targets(hostvars, list(hosts), int(port))
    except (_gpu_metrics.MetricsError, TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"gpu_metrics_scrape_targets: {exc}") from exc


def gpu_metrics_alert_rules(options=None) -> dict:
    try:
        return _gpu_metrics.alert_rules(options)
    except _gpu_metrics.MetricsError as exc:
        raise AnsibleFilterError(f"gpu_metrics_alert_rules: {exc}") from exc


class FilterModule:
    def filters(self):
        return {"gpu_metrics_plan": gpu_metrics_plan, "gpu_metrics_scrape_targets": gpu_metrics_scrape_targets,
                "gpu_metrics_alert_rules": gpu_metrics_alert_rules}

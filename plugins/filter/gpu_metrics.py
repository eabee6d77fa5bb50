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
    More filters in this file - C(gpu_metrics_scrape_targets) (hostvars and a list of hosts, optionally the port and
    the Prometheus host, to Prometheus C(static_configs) - one target per host where its node_exporter listens (the
    fact C(gpu_metrics_node_exporter_endpoint) the role sets; loopback only for the Prometheus host itself), else at
    C(gpu_metrics_scrape_address), else C(ansible_host), else its name, labelled C(node) and C(gpu_node); a group
    name given as a string and a port outside 1-65535 are refused), C(gpu_metrics_alert_rules) (a dict of C(for),
    C(temperature), C(stale_after) to the alert rules file - a GPU expected but not enumerated, with the eGPU
    power-order hint; the driver cannot work; the module not loaded; no DKMS build for the running kernel; a
    narrow or slow PCIe link; a hot GPU; node_exporter down; a stale collector), C(gpu_metrics_listen) (an
    address, a port and the variables' prefix, optionally the old C(ADDRESS:PORT) setting, to where a service
    listens - C(address), C(port), C(listen), C(url), C(loopback), C(wildcard)), C(gpu_metrics_host_addresses)
    (hostvars and a list of hosts to every address a connection from them can come from, for the firewall's allow
    list), C(gpu_metrics_exposure) (the warning for a port widened beyond its narrow default, or an empty string) and
    C(gpu_metrics_settings) (the role's options without their C(gpu_metrics_) prefix, checked, to the listening
    addresses, the allow lists, node_exporter's and Prometheus's C(ARGS=) lines, the collector's C(ExecStart=) and
    the warnings, which it also shows as Ansible warnings), C(gpu_metrics_prometheus_config) (the plan's C(prometheus)
    of M(homelab.nvidia_gpu.gpu_metrics_plan) and hostvars to Prometheus's configuration, once every host has
    published where its node_exporter listens) and C(gpu_metrics_up) (the collector's file to C(up) and C(reason)).
  - Pure Python in C(plugins/module_utils/_roles/_gpu_metrics.py), which the role also installs beside the collector.
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

from ansible.utils.display import Display
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _gpu_metrics
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filter, safe_filters


@safe_filter
def gpu_metrics_plan(plan) -> dict:
    return _gpu_metrics.plan_summary(plan)


@safe_filter
def gpu_metrics_scrape_targets(hostvars, hosts, port=9100, scraper=None) -> list:
    return _gpu_metrics.scrape_targets(hostvars, hosts, port, scraper)


@safe_filter
def gpu_metrics_alert_rules(options=None) -> dict:
    return _gpu_metrics.alert_rules(options)


@safe_filter
def gpu_metrics_settings(options) -> dict:
    result = _gpu_metrics.settings(options)
    for warning in result["warnings"]:
        Display().warning(warning)
    return result


@safe_filter
def gpu_metrics_prometheus_config(prometheus, hostvars) -> dict:
    return _gpu_metrics.prometheus_config(prometheus, hostvars)


@safe_filter
def gpu_metrics_up(text) -> dict:
    return _gpu_metrics.up_status(text)


@safe_filter
def gpu_metrics_listen(address, port, service, legacy="") -> dict:
    return _gpu_metrics.listen(address, port, service, legacy)


@safe_filter
def gpu_metrics_host_addresses(hostvars, hosts, name="gpu_metrics_node_exporter_allow") -> list:
    return _gpu_metrics.host_addresses(hostvars, hosts, name)


@safe_filter
def gpu_metrics_exposure(endpoint, what, variable, firewall, allow=(), allow_variable="", always=False) -> str:
    return _gpu_metrics.exposure(endpoint, what, variable, firewall, allow, allow_variable, bool(always))


class FilterModule:
    def filters(self):
        return safe_filters({
            "gpu_metrics_plan": gpu_metrics_plan, "gpu_metrics_scrape_targets": gpu_metrics_scrape_targets,
            "gpu_metrics_alert_rules": gpu_metrics_alert_rules, "gpu_metrics_listen": gpu_metrics_listen,
            "gpu_metrics_host_addresses": gpu_metrics_host_addresses, "gpu_metrics_exposure": gpu_metrics_exposure,
            "gpu_metrics_settings": gpu_metrics_settings, "gpu_metrics_up": gpu_metrics_up,
            "gpu_metrics_prometheus_config": gpu_metrics_prometheus_config})

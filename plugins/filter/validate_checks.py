# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: validate_check_plan
short_description: The checks validate.yml runs on one GPU node, as data
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Returns the list of checks for one node, each C({check, argv, expect, ok_detail}) to run or
    C({check, why}) not run - with a GPU, C(nvidia-smi) on the host and in containers through Docker and
    containerd and a CUDA sample; without one, the DKMS module per target kernel and a container run
    through the nvidia runtime, the GPU checks listed as not run.
  - The same plugin file has C(validate_check_results) (a plan plus the registered command results give
    C({check, result, detail}) with result V(passed), V(FAILED) or V(not run)), C(validate_tools)
    (C(tool=path) lines to a dict), C(validate_ctr_image) (an image name as containerd wants it),
    C(upgrade_gpu_containers) (the short ids of GPU containers among C(docker inspect) lines),
    C(validate_node_result) (the fact C(validate_node) - driver and CUDA version, why no GPU, a headline - from
    the checked results and the registered C(nvidia-smi) and C(modinfo) results), C(validate_refused_node) (the
    same for a node whose plan refused the GPU stack, from the refusals) and C(validate_report) (the
    GPU inventory report as Markdown, from C(hostvars), the hosts and the time).
options:
  _input:
    description: >-
      The node - C(tools) (dict tool to path, empty when missing), C(engines) (the runtimes the toolkit
      configured), C(gpu_present), C(kernels), C(image), C(sample), C(namespace), C(snapshotter),
      C(runtime_path), C(container_id).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Checks of this node are planned
  ansible.builtin.set_fact:
    __plan: >-
      {{ {'tools': {'docker': '/usr/bin/docker', 'ctr': '', 'containerd': ''}, 'engines': ['docker'],
          'gpu_present': false, 'kernels': [ansible_facts.kernel], 'image': 'busybox', 'sample': '',
          'namespace': 'validate', 'snapshotter': 'overlayfs', 'runtime_path': '/usr/bin/nvidia-container-runtime',
          'container_id': 'validate-1'} | homelab.nvidia_gpu.validate_check_plan }}
"""

RETURN = r"""
_value:
  description: The checks, in the order they run and are reported.
  type: list
  elements: dict
"""

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _validate_checks as checks
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _validate_report
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filter, safe_filters

_NODE_KEYS = ("tools", "engines", "gpu_present", "kernels", "image", "sample", "namespace", "snapshotter",
              "runtime_path", "container_id")
_NODE_OPTIONAL = ("dkms_name", "build_failure")


@safe_filter
def validate_check_plan(node) -> list:
    node = _shapes.mapping(node, "validate_check_plan's input (the node)")
    missing = [key for key in _NODE_KEYS if key not in node]
    if missing:
        raise _values.ValueProblem(f"the node needs {', '.join(map(repr, missing))}")
    optional = {key: node[key] for key in _NODE_OPTIONAL if key in node}
    return checks.check_plan(**{key: node[key] for key in _NODE_KEYS}, **optional)


@safe_filter
def validate_node_result(checks_done, gpu_present, smi_query=None, smi=None, modinfo=None, smi_installed=True,
                         simulated=False, host="") -> dict:
    return checks.node_result(gpu_present, smi_query, smi, modinfo, smi_installed, simulated, checks_done, host)


@safe_filter
def validate_report(hostvars, hosts, written) -> str:
    return _validate_report.report(hostvars, hosts, written)


class FilterModule:
    def filters(self):
        return safe_filters({
            "validate_check_plan": validate_check_plan,
            "validate_check_results": checks.check_results,
            "validate_tools": checks.parse_tools,
            "validate_ctr_image": checks.ctr_image_ref,
            "upgrade_gpu_containers": checks.gpu_containers,
            "validate_report": validate_report,
            "validate_node_result": validate_node_result,
            "validate_refused_node": checks.refused_node,
        })

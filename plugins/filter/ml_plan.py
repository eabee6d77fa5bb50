# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: ml_plan
short_description: The ML layer's choices for a host - CUDA toolkit, cuDNN and PyTorch wheel variant - from its GPU plan
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Reads the host's C(nvidia_gpu_plan) (P(homelab.nvidia_gpu.gpu_plan#role)) and never judges the hardware again.
  - The toolkit - the newest release within the plan's CUDA range (the cards' ceiling and the driver branch's), from
    the versions apt offers when given; a pin outside that range is refused with the range and its reason. Debian's
    C(nvidia-cuda-toolkit) as a second source (11.8 in bookworm, 12.4 in trixie).
  - cuDNN 9 for the toolkit's major version from NVIDIA's CUDA repo (C(cudnn9-cuda-<major>)); refused with Debian's
    toolkit (Debian's C(nvidia-cudnn) downloads while it installs).
  - PyTorch - the newest CUDA wheel variant with kernels for every card (the arch lists of the GPU catalog, with their
    sources) whose CUDA the driver runs - C(cu126) for Maxwell, Pascal and Volta; CPU wheels where the plan gives
    the host no GPU stack or no card is known.
  - How torch is installed (C(torch_install)) - pip from the variant's index with the local label the installed
    torch must carry (C(+cu126)), or Debian's C(python3-torch), refused where the plan wants a CUDA build.
  - Two more filters in this file - C(ml_torch_reinstall) (the installed torch version, then C(torch_install) -
    why it must be reinstalled, empty when it is the right build and release) and C(ml_workstation_summary)
    (ml_python's plan, cuda_toolkit's plan, the fact C(ml_python_installed) - one line per workstation) and
    C(ml_pip_conf(index_url, trusted_hosts, env)) (the lines of an environment's C(pip.conf), each value checked).
  - Pure Python in C(plugins/module_utils/_roles/_ml_plan.py).
options:
  _input:
    description: The host's C(nvidia_gpu_plan).
    type: dict
    required: true
  choices:
    description:
      - C(toolkit_source) (V(cuda_repo) or V(debian)), C(toolkit_version) (V(auto) or C(12.6)), C(release) (the
        Debian codename), C(available) (toolkit versions apt offers) or C(apt_names) (the output lines of
        C(apt-cache pkgnames cuda-toolkit-), read as versions), C(cudnn) (bool), C(torch_variant) (V(auto),
        V(cpu), V(cu126), V(cu128), V(cu130)), C(torch_index) (the wheel index base URL, a mirror's too),
        C(torch_source) (V(pip) or V(debian), Debian's CPU-only C(python3-torch)), C(torch_version) (empty or a
        release such as C(2.8.0)).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: The ML choices of this host are known
  ansible.builtin.set_fact:
    ml: "{{ nvidia_gpu_plan | homelab.nvidia_gpu.ml_plan({'toolkit_version': 'auto'}) }}"
"""

RETURN = r"""
_value:
  description: C(toolkit), C(cudnn), C(torch), C(torch_install) (each with its reason or C(refused) sentence),
    C(nvcc_flags), C(refusals), C(toolkit_summary) (toolkit and cuDNN, each with why), C(torch_summary) (the torch
    build and how it is installed), C(summary) (both).
  type: dict
"""

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_plan
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filter, safe_filters


@safe_filter
def ml_plan(plan, choices=None) -> dict:
    plan = _shapes.mapping(plan, "the input (the host's nvidia_gpu_plan)")
    if not plan:
        raise _values.ValueProblem("the input must be the host's nvidia_gpu_plan, not an empty dict")
    return _ml_plan.ml_plan(plan, dict(_shapes.mapping(choices, "choices")))


@safe_filter
def ml_torch_reinstall(installed, install) -> str:
    install = _shapes.mapping(install, "the argument (ml_plan's torch_install)")
    if not install:
        raise _values.ValueProblem("the argument must be ml_plan's torch_install, not an empty dict")
    install = dict(install)
    if install.get("pip"):
        install["pip"] = _values.string_list(install["pip"], "torch_install.pip")
    if install.get("local") is not None:
        install["local"] = _values.single_line(install["local"], "torch_install.local", allow_empty=True)
    return _ml_plan.torch_reinstall(install, _shapes.plain(installed) if installed is not None else None)


@safe_filter
def ml_workstation_summary(python_plan, toolkit_plan=None, torch_fact=None) -> str:
    if not isinstance(python_plan, dict):
        raise _values.ValueProblem(f"the input must be ml_python_plan, not {_values._shown(python_plan)}")
    return _ml_plan.workstation_summary(python_plan, toolkit_plan if isinstance(toolkit_plan, dict) else None,
                                        torch_fact if isinstance(torch_fact, dict) else None)


@safe_filter
def ml_pip_conf(index_url, trusted_hosts, env) -> str:
    return _ml_plan.pip_conf(index_url, trusted_hosts, env)


class FilterModule:
    def filters(self):
        return safe_filters({"ml_plan": ml_plan, "ml_torch_reinstall": ml_torch_reinstall,
                             "ml_workstation_summary": ml_workstation_summary, "ml_pip_conf": ml_pip_conf})

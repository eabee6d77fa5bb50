# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: llama_cpp_host_build
short_description: The llama.cpp build of one host, from its GPU plan
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - From the fact C(nvidia_gpu_plan) (P(homelab.nvidia_gpu.gpu_plan#role)) and the role's choices - the backend
    (CUDA for the plan's compute capabilities where the GPU stack runs and the driver can work, else the CPU), the
    CMake options and arguments, the targets, the build key (source, options, toolkit, platform), whether other hosts
    of the same key may run it (non-native builds only), and the reason as a sentence.
  - >-
    More filters in this file, used by P(homelab.nvidia_gpu.llama_cpp#role) - C(llama_cpp_build_plan) (per host of
    a play: present, build, or copy from which host or from the controller's cache - a shareable key is built once),
    C(llama_cpp_rpc_servers) (hostvars and the workers - a list, never a group's name as a string - to
    llama-server's --rpc list), C(llama_cpp_services) (both services' final command lines, their whole units rendered
    from checked values, and the exposure check run on those final command lines - extra arguments that set an
    option the role owns are refused), C(llama_cpp_exposure_problems) (sentences for a service that would listen where
    it should not), C(llama_cpp_server_exec) and C(llama_cpp_rpc_exec) (the services' ExecStart= lines),
    C(llama_cpp_archive_digest) (a shared build's recorded sha256, from its sidecar), C(llama_cpp_archive_check)
    (sentences for an archive whose sha256 differs), C(llama_cpp_api_key_problem) (a sentence, never showing the key,
    for an API key that is not one line), C(llama_cpp_rpc_allow) (who may reach the RPC workers' port -
    the servers' addresses, or llama_cpp_rpc_allow; an Ansible warning says what a wider list exposes),
    C(llama_cpp_bench_figures) (llama-bench's JSON to tokens per second; an overflowing number, inf or nan is a
    sentence), C(llama_cpp_stale_builds) (the old builds to remove, keeping the current one and the newest others
    up to C(llama_cpp_keep_builds)), C(llama_cpp_stale_sources) (source tarballs and unpacked sources other than
    the current source's), C(llama_cpp_build_action) (this host's part - present, build or copy, and whether it
    archives its build - read from every play host's registered plan), C(llama_cpp_restarting) (the workers whose
    rpc-server restarts in this run), C(llama_cpp_node) (this node's memory for the split: /proc/meminfo's MemTotal,
    or a CUDA build's card from nvidia-smi), C(llama_cpp_split_nodes) (a server's nodes: its workers in --rpc order,
    then itself), C(llama_cpp_split) (the split planner's --tensor-split, -ngl, refusal and one line per node),
    C(llama_cpp_with_split) (the enabled services with llama-server's command line and unit for a split that fits;
    the planner's refusal otherwise).
  - Pure Python in C(plugins/module_utils/_roles/_llama_cpp.py).
options:
  _input:
    description: The fact C(nvidia_gpu_plan).
    type: dict
    required: true
  choices:
    description: >-
      C(native) (bool), C(cuda) (auto, true, false), C(toolkit) (the CUDA toolkit's version), C(cmake_options)
      (extra CMake cache entries; the ones the plan decides are refused).
    type: dict
  source_sha256:
    description: The source tarball's sha256.
    type: str
    required: true
  platform:
    description: The distribution release and architecture, such as C(Debian-12-x86_64).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The build of this host is decided
  ansible.builtin.set_fact:
    __llama_cpp_host_build: >-
      {{ nvidia_gpu_plan | homelab.nvidia_gpu.llama_cpp_host_build({'native': false}, llama_cpp_source_sha256,
         'Debian-12-x86_64') }}
"""

RETURN = r"""
_value:
  description: C(backend), C(cpu), C(options), C(cmake_args), C(targets), C(reason), C(key), C(shareable), C(platform).
  type: dict
"""

from ansible.utils.display import Display
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _llama_cpp as llama
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filters


def llama_cpp_host_build(plan, choices, source_sha256, platform) -> dict:
    return llama.host_build(plan, choices, source_sha256, platform)


def llama_cpp_build_plan(hostvars, hosts, fact="__llama_cpp_build_state") -> dict:
    return llama.build_plan(hostvars, llama._values.string_list(hosts, "the play's hosts"), str(fact))


def llama_cpp_rpc_servers(hostvars, workers, port=50052) -> str:
    return llama.rpc_servers(hostvars, workers, port)


def llama_cpp_services(settings) -> dict:
    return llama.services(settings)


def llama_cpp_exposure_problems(settings) -> list:
    return llama.exposure_problems(settings)


def llama_cpp_server_exec(settings) -> str:
    return llama.systemd_exec(llama.server_argv(settings), "llama-server's command line")


def llama_cpp_rpc_exec(settings) -> str:
    return llama.systemd_exec(llama.rpc_argv(settings), "rpc-server's command line")


def llama_cpp_archive_digest(text, key) -> str:
    return llama.archive_digest(text, key)


def llama_cpp_archive_check(expected, actual, key, where) -> list:
    return llama.archive_check(expected, actual, key, where)


def llama_cpp_rpc_allow(hostvars, servers, override=None) -> dict:
    result = llama.rpc_allow(hostvars, servers, override)
    if result["warning"]:
        Display().warning(result["warning"])
    return result


def llama_cpp_api_key_problem(key) -> str:
    return llama.api_key_problem(key)


def llama_cpp_bench_figures(stdout) -> list:
    return llama.bench_figures(stdout)


def llama_cpp_stale_builds(found, current, keep=2) -> list:
    return llama.stale_builds(found, current, keep)


def llama_cpp_stale_sources(found, source_sha256) -> list:
    return llama.stale_sources(found, source_sha256)


def llama_cpp_build_action(hostvars, hosts, host) -> dict:
    return llama.build_action(hostvars, hosts, str(host))


def llama_cpp_restarting(hostvars, workers) -> list:
    return llama.restarting(hostvars, workers)


def llama_cpp_node(meminfo, backend, vram="") -> dict:
    return llama.node_memory(meminfo, backend, vram)


def llama_cpp_split_nodes(hostvars, workers, server) -> list:
    return llama.split_nodes(hostvars, workers, str(server))


def llama_cpp_split(model, nodes, ctx_size, reserve_bytes=None) -> dict:
    return llama.split(model, nodes, ctx_size, reserve_bytes)


def llama_cpp_with_split(plan, split) -> list:
    return llama.with_split(plan, split)


class FilterModule:
    def filters(self):
        return safe_filters({
            "llama_cpp_host_build": llama_cpp_host_build, "llama_cpp_build_plan": llama_cpp_build_plan,
            "llama_cpp_rpc_servers": llama_cpp_rpc_servers, "llama_cpp_services": llama_cpp_services,
            "llama_cpp_exposure_problems": llama_cpp_exposure_problems,
            "llama_cpp_server_exec": llama_cpp_server_exec, "llama_cpp_rpc_exec": llama_cpp_rpc_exec,
            "llama_cpp_archive_digest": llama_cpp_archive_digest, "llama_cpp_archive_check": llama_cpp_archive_check,
            "llama_cpp_rpc_allow": llama_cpp_rpc_allow, "llama_cpp_bench_figures": llama_cpp_bench_figures,
            "llama_cpp_api_key_problem": llama_cpp_api_key_problem, "llama_cpp_stale_builds": llama_cpp_stale_builds,
            "llama_cpp_stale_sources": llama_cpp_stale_sources, "llama_cpp_build_action": llama_cpp_build_action,
            "llama_cpp_restarting": llama_cpp_restarting, "llama_cpp_node": llama_cpp_node,
            "llama_cpp_split_nodes": llama_cpp_split_nodes, "llama_cpp_split": llama_cpp_split,
            "llama_cpp_with_split": llama_cpp_with_split,
        })

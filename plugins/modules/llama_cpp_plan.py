#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: llama_cpp_plan
short_description: Everything the role llama_cpp does on one host, decided once on the controller
version_added: 0.3.0
description:
  - The role P(homelab.nvidia_gpu.llama_cpp#role)'s one planning step. From the host's GPU plan, its facts, what is
    installed and the role's variables it returns the build (backend, CMake options and argv, key, the source layout
    under the build root, whether the build is installed here or archived on the controller), the packages, the two
    services' command lines and whole units, the firewall tables, the model, the checks, llama-bench's argv and the
    old builds and sources to remove.
  - Refused with one sentence - a source or model without its sha256, a path that is not absolute, a server without a
    model, a CUDA build without a toolkit, an API key that is not one line, an extra argument that sets an option the
    role owns, a service that would listen where it should not (llama-server beyond loopback without a key,
    rpc-server on every address) unless O(allow_open).
  - Runs on the controller. Only a CUDA build reads a file on the host (the toolkit's C(version.json)).
  - Pure rules in C(plugins/module_utils/_roles/_llama_cpp.py) (C(plan)).
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - homelab.nvidia_gpu.attributes.controller_action
attributes:
  platform:
    platforms: posix
options:
  gpu_plan:
    description: >-
      The host's GPU plan, the fact C(nvidia_gpu_plan) (P(homelab.nvidia_gpu.gpu_plan#role)); read, never re-derived.
    type: dict
    required: true
  facts:
    description: >-
      The host's C(ansible_facts) (distribution, its major version, architecture, processor_vcpus - the build key and
      C(-j)).
    type: dict
    required: true
  found:
    description: >-
      M(ansible.builtin.find)'s C(files) under the builds folder and the build root, depth 2 (installed builds by
      their C(build.json), old builds, sources).
    type: list
    elements: dict
    default: []
  workers:
    description: >-
      The hosts of C(llama_cpp_workers_group) (a list); each one's C(llama_cpp_rpc_endpoint) makes llama-server's
      C(--rpc) list.
    type: list
    elements: str
    default: []
  servers:
    description: >-
      The hosts of C(llama_cpp_servers_group) (a list); their addresses are what the RPC workers' firewall admits.
    type: list
    elements: str
    default: []
  cuda_toolkit_version:
    description: >-
      C(cuda_toolkit_installed.version) where the role cuda_toolkit ran (the toolkit's home C(/usr/local/cuda-
      VERSION)); empty - C(/usr/local/cuda).
    type: str
    default: ""
  source_url:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_source_url), the role's variable.
    type: str
    required: true
  source_sha256:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_source_sha256), the role's variable.
    type: str
    required: true
  source_subdir:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_source_subdir), the role's variable.
    type: str
    default: ""
  native:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_native), the role's variable.
    type: bool
    default: true
  cuda:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_cuda), the role's variable.
    type: raw
    default: auto
  cuda_home:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_cuda_home), the role's variable.
    type: str
    default: ""
  cmake_options:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_cmake_options), the role's variable.
    type: dict
    default: {}
  build_jobs:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_build_jobs), the role's variable.
    type: int
    default: 0
  ccache:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_ccache), the role's variable.
    type: bool
    default: false
  ccache_dir:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_ccache_dir), the role's variable.
    type: str
    default: ""
  prefix:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_prefix), the role's variable.
    type: str
    default: /opt/llama.cpp
  build_root:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_build_root), the role's variable.
    type: str
    default: /var/cache/llama.cpp
  keep_builds:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_keep_builds), the role's variable.
    type: int
    default: 2
  controller_cache:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_controller_cache), the role's variable.
    type: str
    default: ""
  user:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_user), the role's variable.
    type: str
    default: llama
  data_dir:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_data_dir), the role's variable.
    type: str
    default: /var/lib/llama.cpp
  serve:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_serve), the role's variable.
    type: bool
    default: false
  work:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_work), the role's variable.
    type: bool
    default: false
  model_path:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_model_path), the role's variable.
    type: str
    default: ""
  model_url:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_model_url), the role's variable.
    type: str
    default: ""
  model_sha256:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_model_sha256), the role's variable.
    type: str
    default: ""
  model_found:
    description: >-
      Whether O(model_path) is a regular file on the host (M(ansible.builtin.stat)); false refuses a server.
    type: bool
    default: true
  model_on_workers:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_model_on_workers), the role's variable.
    type: bool
    default: false
  server_host:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_server_host), the role's variable.
    type: str
    default: 127.0.0.1
  server_port:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_server_port), the role's variable.
    type: int
    default: 8080
  server_ctx_size:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_server_ctx_size), the role's variable.
    type: int
    default: 4096
  server_gpu_layers:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_server_gpu_layers), the role's variable.
    type: int
    default: 99
  server_threads:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_server_threads), the role's variable.
    type: int
    default: 0
  server_alias:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_server_alias), the role's variable.
    type: str
    default: ""
  server_api_key:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_server_api_key), the role's variable.
    type: str
    default: ""
  server_log_verbosity:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_server_log_verbosity), the role's variable.
    type: raw
    default: ""
  server_extra_args:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_server_extra_args), the role's variable.
    type: list
    elements: raw
    default: []
  server_rpc:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_server_rpc), the role's variable.
    type: bool
    default: true
  server_start_timeout:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_server_start_timeout), the role's variable.
    type: int
    default: 120
  rpc_host:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_rpc_host), the role's variable.
    type: str
    default: 127.0.0.1
  rpc_port:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_rpc_port), the role's variable.
    type: int
    default: 50052
  rpc_threads:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_rpc_threads), the role's variable.
    type: int
    default: 0
  rpc_cache:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_rpc_cache), the role's variable.
    type: bool
    default: true
  rpc_cache_dir:
    description: >-
      O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_rpc_cache_dir), the role's variable
      (empty: C(DATA_DIR/rpc-cache)).
    type: str
    default: ""
  cross_build:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_cross_build), the role's variable.
    type: bool
    default: true
  allow_open:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_allow_open), the role's variable.
    type: bool
    default: false
  firewall:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_firewall), the role's variable.
    type: bool
    default: true
  rpc_allow:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_rpc_allow), the role's variable.
    type: raw
  server_allow:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_server_allow), the role's variable.
    type: raw
  bench_prompt:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_bench_prompt), the role's variable.
    type: int
    default: 64
  bench_gen:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_bench_gen), the role's variable.
    type: int
    default: 16
  bench_repetitions:
    description: O(homelab.nvidia_gpu.llama_cpp#role:main:llama_cpp_bench_repetitions), the role's variable.
    type: int
    default: 3
"""

EXAMPLES = r"""
- name: The llama.cpp plan is made
  homelab.nvidia_gpu.llama_cpp_plan:
    gpu_plan: "{{ nvidia_gpu_plan }}"
    facts: "{{ ansible_facts }}"
    found: "{{ __llama_cpp_found.files }}"
    workers: "{{ groups['llm_workers'] | default([]) }}"
    servers: "{{ groups['llm_servers'] | default([]) }}"
    source_url: https://files.pythonhosted.org/packages/source/l/llama_cpp_python/llama_cpp_python-0.3.36.tar.gz
    source_sha256: 832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
    source_subdir: llama_cpp_python-0.3.36/vendor/llama.cpp
    serve: true
    model_path: /var/lib/llama.cpp/models/model.gguf
  register: __llama_cpp_plan
"""

RETURN = r"""
plan:
  description:
    - C(build) - C(key), C(backend), C(cpu), C(reason), C(options), C(cmake_args), C(targets), C(shareable),
      C(installed), C(cached), C(source) (C(url), C(sha256), C(tarball), C(dir), C(subdir), C(strip), C(tree),
      C(archive)), C(dest), C(packages), C(ccache_dir), C(configure) and C(compile) (argv), C(environment),
      C(record) (build.json), C(arch), C(release) (distribution and major version), C(cross) (an arm64 CPU build
      that an amd64 host of the same release may cross-compile), C(can_cross) (this host can, an amd64 Debian host).
    - C(packages) (the binaries' runtime), C(builds), C(current), C(build_root), C(keep_builds), C(cross_found)
      (cross-compiled builds under the build root), C(folders), C(cleanup) (paths to remove).
    - C(services), C(enabled) (the services of this host, the worker first), C(user), C(data_dir),
      C(folders_of_services), C(model) (C(path), C(url), C(sha256), C(fetch)), C(services_settings) (what the units
      are made from, for the split to make llama-server's again).
    - C(serve) and C(worker) - C(enabled), C(unit), C(text) (the whole unit), C(argv), C(restart) (the handler),
      C(firewall) (C(name), C(port), C(state), C(allow), C(exposes)); C(serve) also C(url), C(model), C(api_key_file),
      C(api_key) (whether one is set), C(rpc), C(workers), C(rpc_workers) (the workers in C(--rpc), in its order),
      C(health_retries); C(worker) also C(endpoint), C(port),
      C(listening) (a pattern for C(ss)'s output), C(cache_dir) (its tensor cache, LLAMA_CACHE; empty for none).
    - C(bench) - C(argv), C(model). C(summary) - one line of what this host builds and runs.
  type: dict
  returned: success
"""

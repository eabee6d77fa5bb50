#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nvidia_ctk
short_description: Register the NVIDIA container runtime with docker, containerd or cri-o, and write CDI specs
version_added: 0.1.0
description:
  - With O(command=configure), does what C(nvidia-ctk runtime configure) (NVIDIA Container Toolkit 1.20)
    does to the runtime's config files, in Python, with check mode, diff mode, backups and atomic writes,
    and without upstream's defects. Judged on parsed content, the result equals upstream's for the same
    flags, except where upstream is defective (listed below).
  - V(docker) - merges C(runtimes.<runtime_name>) into C(daemon.json), an entry holding C(args) (an empty
    list) and C(path) (O(runtime_path)), replaced whole as upstream does; every other key survives.
    O(cdi=true) sets C(features.cdi) and keeps the other C(features) keys (upstream replaces the whole
    C(features) object). The file is rewritten (4-space indent, sorted keys, as upstream) only when its
    content changes.
  - V(containerd) - writes the drop-in O(drop_in_path) holding a copy of config.toml's CRI plugin section
    plus the NVIDIA runtime (the runtime's settings are copied from the default, C(runc) or C(crun) runtime,
    for example C(SystemdCgroup)), and adds its directory glob to C(imports) in config.toml, as upstream.
    containerd before 2.1 replaces an imported plugin section whole, hence the copy. The drop-in is
    regenerated from config.toml on every run, so edits of the CRI section in config.toml
    (M(homelab.nvidia_gpu.containerd_config)) reach the drop-in on the next run of this module. With
    O(drop_in_path=) (empty, what the C(nvidia_container_toolkit) role passes by default) there is no copy
    and no order between the two.
  - config.toml is edited with tomlkit, so its comments, layout and unrelated tables survive (upstream
    rewrites the file and drops every comment).
  - A version-1 containerd config (a non-empty config.toml without C(version)) is configured in place in
    config.toml (C(plugins.cri)); upstream writes a drop-in that nothing imports, so containerd never reads it.
  - O(drop_in_path=) (empty) configures the runtime in config.toml itself; upstream adds
    C(imports = ["/etc/containerd/*.toml"]), a glob that matches config.toml, and configures nothing.
  - A copied runtime table without C(runtime_type) (a bare C(runc.options) table, for example) gets
    C(runtime_type = "io.containerd.runc.v2") in the copy; upstream copies it without one, and the CRI plugin
    then ignores the copy's C(BinaryName), so the nvidia runtime would run plain runc.
  - V(crio) - writes the drop-in C(crio.conf.d/99-nvidia.toml) with C(crio.runtime.runtimes.<runtime_name>)
    (settings copied from the default, C(runc) or C(crun) runtime of crio.conf when it has one), as upstream.
  - O(state=absent) removes what O(state=present) adds. docker - the runtime entry, C(default-runtime)
    when it names this runtime, C(features.cdi) only when O(cdi=true) is given too, and C(runtimes) or
    C(features) when that leaves them empty. containerd and cri-o - the drop-in file; the C(imports) entry
    only when this module added it (the drop-in records that) and no other file matches it any more, and
    config.toml itself when this module created it and nothing but C(version) is left. In place - the
    runtime table, the default runtime when it names this runtime, C(enable_cdi) with O(cdi=true), and the
    tables this leaves empty.
  - Invalid JSON or TOML, an empty C(daemon.json) or a wrong type fails with the file, line, column and
    reason, and nothing is written (upstream also refuses these, exit status 1). So do JSON that dockerd
    refuses although Python reads it (V(NaN), V(Infinity), V(1e400), lone surrogates, absurd nesting), a
    C(containerd) or C(runtimes) key that is not a table, and a O(config_version) that contradicts the
    file's C(version) (or, for V(3), the installed containerd 1.x) - the runtime would land where containerd
    does not read it.
  - O(runtime_name) must be 1-63 letters, digits, C(.), C(_) or C(-) and not a built-in or low-level
    runtime (C(runc), C(crun), C(io.containerd.runc.v2), ...); O(runtime_path) must be absolute (for
    docker, a bare command name looked up on E(PATH) is allowed too); O(config_path), O(drop_in_path)
    and O(cdi_output) must be absolute.
  - Values are compared with their types (V(1) is not V(true)), so a wrong type is a change.
  - With a drop-in, the drop-in is written before config.toml imports it, so a failure between the two
    writes leaves nothing half-active; the error says which file was written.
  - Another imported file with a CRI plugin section that containerd reads before the drop-in is merged
    into the drop-in's copy (containerd before 2.1 would let the drop-in replace it whole), with a warning
    that names it; one read after the drop-in is named in a warning (it would hide the NVIDIA runtime).
  - Symlinked config files are followed (the target is written, the link stays); dangling links, loops,
    directories, FIFOs and devices are refused before they are opened. An exclusive lock on
    C(.<config name>.lock) beside the engine's config is held from read to write, so that concurrent runs
    (this module, M(homelab.nvidia_gpu.docker_daemon_config), M(homelab.nvidia_gpu.containerd_config))
    lose no update.
  - With O(command=cdi_generate), runs the real C(nvidia-ctk cdi generate) into a temporary file and
    replaces O(cdi_output) only when the content differs. That needs the NVIDIA driver and a GPU; without
    them, or without C(nvidia-ctk), the module fails and says which is missing.
  - Restart the runtime when RV(restart_required) is true (the module restarts nothing).
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - homelab.nvidia_gpu.attributes.config_file
requirements:
  - python3-tomlkit on the managed host for containerd and cri-o (not for docker).
  - nvidia-ctk (package nvidia-container-toolkit-base), the NVIDIA driver and a GPU for O(command=cdi_generate).
options:
  command:
    description:
      - V(configure) edits the runtime's config; V(cdi_generate) writes the CDI spec O(cdi_output).
    type: str
    choices: [configure, cdi_generate]
    default: configure
  runtime:
    description:
      - The container engine to configure. Required with O(command=configure).
    type: str
    choices: [docker, containerd, crio]
  state:
    description:
      - V(present) registers the runtime, V(absent) removes what V(present) adds (see the description).
      - Ignored by O(command=cdi_generate).
    type: str
    choices: [present, absent]
    default: present
  runtime_name:
    description:
      - Name of the runtime entry (C(--nvidia-runtime-name)).
    type: str
    default: nvidia
  runtime_path:
    description:
      - Path of the NVIDIA runtime binary (C(--nvidia-runtime-path)). Default as upstream -
        C(nvidia-container-runtime) for docker (looked up on E(PATH) by dockerd),
        C(/usr/bin/nvidia-container-runtime) for containerd and cri-o.
    type: str
  set_as_default:
    description:
      - V(true) makes the runtime the default (docker C(default-runtime), containerd
        C(default_runtime_name), cri-o C(default_runtime)).
      - V(false) removes a default that names this runtime (in daemon.json, the containerd drop-in or an
        in-place config); a default naming another runtime is left alone.
      - Omitted, an existing default is left as it is, as upstream does without C(--set-as-default).
    type: bool
  cdi:
    description:
      - Enable CDI in the runtime (C(--cdi.enabled)). docker - C(features.cdi=true), other C(features)
        keys are kept. containerd - C(enable_cdi=true) in the CRI plugin section, skipped with a warning
        when the installed containerd is older than 1.7 (no CDI support there). cri-o - nothing to do
        (always enabled where supported).
      - With O(state=absent), V(true) also removes what V(true) sets.
      - V(false) leaves any existing CDI setting alone.
    type: bool
    default: false
  config_path:
    description:
      - The runtime's main config. Default C(/etc/docker/daemon.json), C(/etc/containerd/config.toml)
        or C(/etc/crio/crio.conf).
    type: path
  drop_in_path:
    description:
      - The drop-in file (containerd and cri-o; ignored for docker). Default
        C(/etc/containerd/conf.d/99-nvidia.toml) or C(/etc/crio/crio.conf.d/99-nvidia.toml).
      - An empty string edits O(config_path) in place instead (containerd - a drop-in this module wrote on an
        earlier run, C(conf.d/99-nvidia.toml) beside O(config_path), is then removed with the C(imports) entry it
        added, since its copy of the CRI section would shadow config.toml's).
    type: str
  config_version:
    description:
      - containerd config version (1, 2 or 3) that decides the CRI plugin name (C(cri),
        C(io.containerd.grpc.v1.cri), C(io.containerd.cri.v1.runtime)).
      - Default - the C(version) in config.toml; 1 for a non-empty config.toml without one (containerd's
        rule); for a missing or empty file, 3 when C(containerd --version) says 2.x, 2 when it says 1.x,
        else 2.
    type: int
    choices: [1, 2, 3]
  backup:
    description:
      - Keep a timestamped copy of each file before changing or removing it.
    type: bool
    default: false
  cdi_output:
    description:
      - Where O(command=cdi_generate) writes the CDI spec.
    type: path
    default: /etc/cdi/nvidia.yaml
  nvidia_ctk_path:
    description:
      - Path of C(nvidia-ctk) for O(command=cdi_generate). Default - C(nvidia-ctk) on E(PATH).
    type: path
  command_timeout:
    description:
      - Seconds C(nvidia-ctk cdi generate) may run before it is killed and the module fails (a GPU that
        stopped answering can hang the driver's queries). C(containerd --version) gets 30 seconds.
    type: int
    default: 120
notes:
  - The module restarts nothing; notify a handler on RV(restart_required).
  - Without O(set_as_default) and with O(cdi=false), a later run neither removes a default nor a CDI
    setting that an earlier run added (upstream behaves the same); pass V(false) to remove the default.
seealso:
  - module: homelab.nvidia_gpu.docker_daemon_config
  - module: homelab.nvidia_gpu.containerd_config
  - name: NVIDIA Container Toolkit installation guide
    description: The upstream C(nvidia-ctk runtime configure) this module reimplements.
    link: https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html
"""

EXAMPLES = r"""
- name: NVIDIA runtime registered with docker, CDI enabled
  homelab.nvidia_gpu.nvidia_ctk:
    runtime: docker
    cdi: true
  notify: Restart docker

- name: NVIDIA runtime registered with containerd as the default runtime
  homelab.nvidia_gpu.nvidia_ctk:
    runtime: containerd
    set_as_default: true
    backup: true
  register: __nvidia_ctk_containerd
  notify: Restart containerd

- name: NVIDIA runtime configured in config.toml itself, no drop-in
  homelab.nvidia_gpu.nvidia_ctk:
    runtime: containerd
    drop_in_path: ""

- name: NVIDIA runtime gone from cri-o
  homelab.nvidia_gpu.nvidia_ctk:
    runtime: crio
    state: absent

- name: CDI spec for the installed GPUs is current
  homelab.nvidia_gpu.nvidia_ctk:
    command: cdi_generate
    cdi_output: /etc/cdi/nvidia.yaml
"""

RETURN = r"""
files:
  description: Files written or removed (in check mode, the ones that would be).
  returned: always
  type: list
  elements: str
  sample: [/etc/containerd/conf.d/99-nvidia.toml, /etc/containerd/config.toml]
backup_files:
  description: Backup copies made (O(backup=true)).
  returned: always
  type: list
  elements: str
  sample: [/etc/containerd/config.toml.12345.2026-11-21@18:00:09~]
diff:
  description: One C(before)/C(after) pair per changed file, with C(before_header)/C(after_header) naming the file.
  returned: in diff mode
  type: list
  elements: dict
restart_required:
  description: Whether the runtime must be restarted (or, for cdi_generate, nothing; always false there).
  returned: always
  type: bool
  sample: true
config_version:
  description: containerd config version used.
  returned: when O(runtime=containerd) and O(command=configure)
  type: int
  sample: 2
mode:
  description: How the runtime was configured - V(merge) (docker), V(drop-in) or V(in-place).
  returned: when O(command=configure)
  type: str
  sample: drop-in
error:
  description: Where a config file could not be parsed (C(path), C(line), C(column), C(reason)).
  returned: on a parse failure
  type: dict
  sample: {path: /etc/docker/daemon.json, line: 1, column: 28, reason: "invalid JSON: Expecting property name"}
"""

import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _commands
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _config_files as cf
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _nvidia_ctk as ctk


def containerd_version(module: AnsibleModule) -> tuple[int, int] | None:
    binary = module.get_bin_path("containerd")
    if not binary:
        return None
    try:
        rc, out, _err = _commands.run([binary, "--version"], timeout=30)
    except (_commands.CommandTimeout, _commands.CommandNotRunnable) as exc:
        module.warn(f"containerd version unknown: {exc}")
        return None
    return ctk.parse_containerd_version(out) if rc == 0 else None


def configure(module: AnsibleModule) -> dict:
    params = module.params
    runtime = params["runtime"]
    if runtime != "docker" and not cf.has_tomlkit():
        module.fail_json(msg=missing_required_lib("tomlkit") + " " + cf.TOMLKIT_HINT,
                         exception=cf.TOMLKIT_IMPORT_ERROR)
    if runtime == "docker" and params["drop_in_path"]:
        module.warn("drop_in_path is ignored for docker (daemon.json has no drop-ins).")
    req = ctk.Request(
        runtime=runtime, state=params["state"], runtime_name=params["runtime_name"],
        runtime_path=params["runtime_path"], set_as_default=params["set_as_default"], cdi=params["cdi"],
        config_path=params["config_path"], drop_in_path=params["drop_in_path"],
        config_version=params["config_version"],
        containerd_version=containerd_version(module) if runtime == "containerd" else None,
    )
    try:
        ctk.check_request(req)
        # One lock for the engine's config: the drop-in is only ever written together with it.
        with cf.file_lock([req.config], module.check_mode):
            plan = ctk.plan_configure(req)
            result = cf.apply_changes(module, plan.changes, params["backup"])
    except ctk.RequestError as exc:
        module.fail_json(msg=str(exc), changed=False, files=[])
    except (cf.ConfigFileError, cf.WriteFailed) as exc:
        cf.fail_module(module, exc)
    for warning in plan.warnings:
        module.warn(warning)
    result.update(restart_required=result["changed"], mode=plan.mode)
    if runtime == "containerd":
        result["config_version"] = plan.config_version
    return result


def cdi_generate(module: AnsibleModule) -> dict:
    params = module.params
    binary = params["nvidia_ctk_path"] or module.get_bin_path("nvidia-ctk")
    if not binary or not os.access(binary, os.X_OK):
        module.fail_json(msg=f"nvidia-ctk not found ({params['nvidia_ctk_path'] or 'not on PATH'}): install "
                             "nvidia-container-toolkit-base (role homelab.nvidia_gpu.nvidia_container_toolkit).")
    output = params["cdi_output"]
    try:
        cf.require_absolute(output, "cdi_output")
    except cf.ConfigFileError as exc:
        module.fail_json(msg=str(exc), changed=False)
    workdir = tempfile.mkdtemp(prefix="nvidia_ctk_cdi.")
    try:
        generated = os.path.join(workdir, os.path.basename(output) or "nvidia.yaml")
        try:
            rc, out, err = _commands.run([binary, "cdi", "generate", f"--output={generated}"],
                                         timeout=params["command_timeout"])
        except (_commands.CommandTimeout, _commands.CommandNotRunnable) as exc:
            module.fail_json(msg=f"nvidia-ctk cdi generate: {exc} (a GPU that stopped answering can hang the "
                                 "driver's queries; check nvidia-smi)")
        if rc != 0 or not os.path.isfile(generated):
            detail = (err or out or "").strip()
            module.fail_json(
                msg=f"nvidia-ctk cdi generate failed (rc {rc}): it needs the NVIDIA driver (libnvidia-ml, "
                    f"nvidia-smi) and a GPU; is the driver installed and loaded? {detail}",
                rc=rc, stdout=out, stderr=err)
        try:
            after = cf.read_text(generated)
            before = cf.read_text(output)
        except cf.ConfigFileError as exc:
            module.fail_json(msg=str(exc))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    try:
        result = cf.apply_changes(module, [cf.FileChange(output, before, after)], params["backup"])
    except cf.WriteFailed as exc:
        cf.fail_module(module, exc)
    result["restart_required"] = False
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "command": {"type": "str", "choices": ["configure", "cdi_generate"], "default": "configure"},
            "runtime": {"type": "str", "choices": list(ctk.RUNTIMES)},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "runtime_name": {"type": "str", "default": "nvidia"},
            "runtime_path": {"type": "str"},
            "set_as_default": {"type": "bool"},
            "cdi": {"type": "bool", "default": False},
            "config_path": {"type": "path"},
            "drop_in_path": {"type": "str"},
            "config_version": {"type": "int", "choices": [1, 2, 3]},
            "backup": {"type": "bool", "default": False},
            "cdi_output": {"type": "path", "default": "/etc/cdi/nvidia.yaml"},
            "nvidia_ctk_path": {"type": "path"},
            "command_timeout": {"type": "int", "default": 120},
        },
        required_if=[("command", "configure", ["runtime"])],
        supports_check_mode=True,
    )
    if module.params["command"] == "cdi_generate":
        module.exit_json(**cdi_generate(module))
    module.exit_json(**configure(module))


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: containerd_facts
short_description: Read containerd's version and the config version of its config.toml
version_added: 0.1.0
description:
  - Reports the installed containerd (C(containerd --version)) and what its C(config.toml) is - whether it
    exists, the C(version) it declares, the config version containerd reads it as, the CRI plugin name of
    that version and C(disabled_plugins).
  - The config version is decided by the same function that M(homelab.nvidia_gpu.nvidia_ctk) uses - the
    file's C(version); 1 for a non-empty file without one (containerd's rule); for a missing or empty file
    what C(containerd config default) of the installed containerd writes (1.x gives 2, 2.x gives 3; 2 when
    containerd is not installed). So the roles and the module never disagree about which plugin names to
    write.
  - Reads only; never changes a file.
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
  - homelab.nvidia_gpu.attributes.facts
requirements:
  - python3-tomlkit on the managed host when config.toml exists.
options:
  config_path:
    description:
      - containerd's config.toml, an absolute path.
    type: path
    default: /etc/containerd/config.toml
  containerd_path:
    description:
      - The containerd binary. Default - C(containerd) on E(PATH).
    type: path
  command_timeout:
    description:
      - Seconds C(containerd --version) may run before it is killed and the module fails.
    type: int
    default: 30
seealso:
  - module: homelab.nvidia_gpu.containerd_config
  - module: homelab.nvidia_gpu.nvidia_ctk
"""

EXAMPLES = r"""
- name: Containerd and its config version are known
  homelab.nvidia_gpu.containerd_facts:

- name: The CRI plugin's runc options are set under the right plugin name
  homelab.nvidia_gpu.containerd_config:
    settings: "{{ {__key: true} }}"
  vars:
    __key: plugins."{{ ansible_facts.containerd.config.cri_plugin }}".containerd.runtimes.runc.options.SystemdCgroup
"""

RETURN = r"""
ansible_facts:
  description: Facts about containerd.
  returned: always
  type: dict
  contains:
    containerd:
      description: The installed containerd and its config file.
      type: dict
      contains:
        installed:
          description: Whether a containerd binary was found.
          type: bool
          sample: true
        version:
          description: Major and minor version from C(containerd --version), or null.
          type: list
          elements: int
          sample: [1, 7]
        config:
          description: The config file.
          type: dict
          contains:
            path:
              description: Its path.
              type: str
              sample: /etc/containerd/config.toml
            exists:
              description: Whether it exists.
              type: bool
            empty:
              description: Whether it holds no key at all (missing, empty or comments only).
              type: bool
            declared_version:
              description: The C(version) it declares, or null.
              type: int
            version:
              description: The config version containerd reads it as (or that C(containerd config default) writes).
              type: int
              sample: 2
            cri_plugin:
              description: The CRI runtime plugin name of that version.
              type: str
              sample: io.containerd.grpc.v1.cri
            disabled_plugins:
              description: Its C(disabled_plugins) list.
              type: list
              elements: str
              sample: [cri]
            runc_runtimes:
              description:
                - The CRI runtimes in the file that run through the runc shim (C(runtime_type =
                  "io.containerd.runc.v2")), sorted; the C(nvidia) entry of M(homelab.nvidia_gpu.nvidia_ctk) is one.
              type: list
              elements: str
              sample: [nvidia, runc]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _commands
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _config_files as cf
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _containerd_settings
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _nvidia_ctk as ctk


def config_facts(path: str, text: str | None, containerd_version: tuple[int, int] | None) -> dict:
    """What the config file is (pure); raises ConfigFileError on a file that cannot be read as TOML."""
    plain = cf.to_plain(cf.load_toml(path, text)) if text is not None else {}
    version = ctk.config_version(plain, containerd_version, path=path)
    disabled = plain.get("disabled_plugins", [])
    if not isinstance(disabled, list) or not all(isinstance(name, str) for name in disabled):
        raise cf.ConfigFileError(path, f"disabled_plugins must be an array of plugin names, not {disabled!r}")
    return {
        "path": path,
        "exists": text is not None,
        "empty": not plain,
        "declared_version": plain.get("version"),
        "version": version,
        "cri_plugin": ctk.CRI_PLUGINS[version],
        "disabled_plugins": disabled,
        "runc_runtimes": _containerd_settings.runc_runtimes(plain, version),
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "config_path": {"type": "path", "default": "/etc/containerd/config.toml"},
            "containerd_path": {"type": "path"},
            "command_timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    params = module.params
    binary = params["containerd_path"] or module.get_bin_path("containerd")
    version = None
    if binary:
        try:
            rc, out, err = _commands.run([binary, "--version"], timeout=params["command_timeout"])
        except (_commands.CommandTimeout, _commands.CommandNotRunnable) as exc:
            module.fail_json(msg=f"containerd --version: {exc}")
        if rc != 0:
            module.fail_json(msg=f"{binary} --version failed (rc {rc}): {err.strip()}", rc=rc, stderr=err)
        version = ctk.parse_containerd_version(out)
    try:
        cf.require_absolute(params["config_path"], "config_path")
        text = cf.read_text(params["config_path"])
        if text is not None and not cf.has_tomlkit():
            module.fail_json(msg=missing_required_lib("tomlkit") + " " + cf.TOMLKIT_HINT,
                             exception=cf.TOMLKIT_IMPORT_ERROR)
        config = config_facts(params["config_path"], text, version)
    except cf.ConfigFileError as exc:
        module.fail_json(msg=str(exc), error=exc.as_dict())
    module.exit_json(changed=False, ansible_facts={"containerd": {
        "installed": bool(binary), "version": list(version) if version else None, "config": config}})


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: containerd_config
short_description: Set or unset keys in containerd's config.toml, keeping its comments and layout
version_added: 0.1.0
description:
  - Sets (O(state=present)) or removes (O(state=absent)) keys in containerd's C(config.toml), named by
    TOML dotted keys with quoted segments, for example
    C(plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options.SystemdCgroup).
  - Edits with tomlkit, so comments, key order and unrelated tables survive, and the file is written only
    when its content changes.
  - With O(create_default=true) a missing file starts as the output of C(containerd config default).
  - Invalid TOML fails with the file, line, column and reason; nothing is written then. So do a key
    that would have to go through a value that is not a table, a null value with O(state=present) and
    nesting deeper than 64 levels.
  - Values are compared with their types - V(1) is not V(true) and V(3.0) is not V(3) (containerd decodes
    into typed fields), so a wrong type is a change.
  - A table written inline (C(key = { ... })) is edited inline.
  - A symlinked O(path) is followed - the target is written, the link stays; a dangling link, a link loop,
    a directory, FIFO or device is refused before it is opened. An exclusive lock on C(.config.toml.lock)
    beside the file is held from read to write, so concurrent runs lose no update.
  - Writes through a temporary file in the same directory and an atomic rename that keeps the file's
    mode and owner.
  - With M(homelab.nvidia_gpu.nvidia_ctk) in place (O(homelab.nvidia_gpu.nvidia_ctk#module:drop_in_path=), as the
    C(nvidia_container_toolkit) role does by default) both edit config.toml, each its own keys, in any order.
    A drop-in of nvidia_ctk's holds a copy of config.toml's CRI plugin section instead (containerd before 2.1
    replaces an imported plugin section whole), so a CRI key set here stays shadowed until nvidia_ctk runs
    again; the module warns when an imported file shadows a section it changed.
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - homelab.nvidia_gpu.attributes.config_file
requirements:
  - python3-tomlkit on the managed host.
options:
  path:
    description:
      - The config.toml to edit, an absolute path.
    type: path
    default: /etc/containerd/config.toml
  settings:
    description:
      - Dotted key to value. A value that is a dict is merged into the table key by key; any other value
        (string, number, bool, list) replaces the old one.
      - With O(state=absent), the keys to remove (the values are ignored). Tables that this leaves empty
        are removed too.
    type: dict
    required: true
  state:
    description:
      - V(present) sets the keys, V(absent) removes them.
    type: str
    choices: [present, absent]
    default: present
  create_default:
    description:
      - When O(path) does not exist, start from C(containerd config default) (needs the containerd
        binary; it gets 60 seconds) before applying O(settings). Without it a missing file is created
        holding only O(settings);
        then include C(version) in them, containerd reads a file without one as version 1.
    type: bool
    default: false
  containerd_path:
    description:
      - Path of the containerd binary for O(create_default). Default - C(containerd) on E(PATH).
    type: path
  backup:
    description:
      - Keep a timestamped copy of the file before changing it.
    type: bool
    default: false
notes:
  - containerd reads config.toml only at start; restart it when RV(restart_required) is true.
seealso:
  - module: homelab.nvidia_gpu.nvidia_ctk
"""

EXAMPLES = r"""
- name: containerd runs runc with the systemd cgroup driver
  homelab.nvidia_gpu.containerd_config:
    create_default: true
    settings:
      plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options.SystemdCgroup: true
      plugins."io.containerd.grpc.v1.cri".sandbox_image: registry.k8s.io/pause:3.9
  notify: Restart containerd

- name: containerd has no custom sandbox image
  homelab.nvidia_gpu.containerd_config:
    state: absent
    settings:
      plugins."io.containerd.grpc.v1.cri".sandbox_image:
"""

RETURN = r"""
files:
  description: The file, when it was (or in check mode would be) written.
  returned: always
  type: list
  elements: str
  sample: [/etc/containerd/config.toml]
backup_files:
  description: Backup copies made (O(backup=true)).
  returned: always
  type: list
  elements: str
diff:
  description: C(before)/C(after) of the file, with C(before_header)/C(after_header).
  returned: in diff mode
  type: list
  elements: dict
restart_required:
  description: Whether containerd must be restarted to apply the change.
  returned: always
  type: bool
  sample: true
shadowed_by:
  description: Imported files that hold a plugin section this run changed (their copy wins in containerd < 2.1).
  returned: always
  type: list
  elements: str
  sample: [/etc/containerd/conf.d/99-nvidia.toml]
error:
  description: Where the file could not be parsed or written (C(path), C(line), C(column), C(reason)).
  returned: on failure
  type: dict
"""

import glob
import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _commands
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _config_files as cf


def edit(path: str, before: str | None, start: str | None, settings: dict, state: str) -> cf.FileChange:
    """The change to config.toml (pure). `start` is the text to begin from when the file is missing."""
    if before is None and start is None and state == "absent":
        return cf.FileChange(path, None, None)
    cf.check_settings(path, settings, state)
    base = before if before is not None else start
    doc = cf.load_toml(path if before is not None else "containerd config default", base)
    original = cf.to_plain(doc)
    for key, value in settings.items():
        try:
            keys = cf.parse_dotted_key(key)
        except ValueError as exc:
            raise cf.ConfigFileError(path, str(exc)) from exc
        if state == "present":
            container = cf.ensure_tables(doc, keys[:-1], path)
            cf.set_deep(container, keys[-1], value)
        else:
            cf.remove_and_prune(doc, keys)
    if before is not None and cf.same(cf.to_plain(doc), original):
        return cf.FileChange(path, before, before)
    return cf.FileChange(path, before, cf.dump_toml(doc))


def shadowing_imports(path: str, text: str | None, changed_plugins: set[str]) -> list[str]:
    """Imported files that define one of `changed_plugins` (they replace that section in containerd < 2.1)."""
    if not text or not changed_plugins:
        return []
    try:
        imports = cf.to_plain(cf.load_toml(path, text)).get("imports", [])
    except cf.ConfigFileError:
        return []
    found = []
    for pattern in imports if isinstance(imports, list) else []:
        if not isinstance(pattern, str):
            continue
        for name in sorted(glob.glob(os.path.join(os.path.dirname(path), pattern))):
            if os.path.abspath(name) == os.path.abspath(path):
                continue
            try:
                plugins = cf.to_plain(cf.load_toml(name, cf.read_text(name))).get("plugins", {})
            except cf.ConfigFileError:
                continue
            if isinstance(plugins, dict) and changed_plugins & set(plugins):
                found.append(name)
    return found


def changed_plugin_sections(settings: dict) -> set[str]:
    sections = set()
    for key in settings:
        try:
            keys = cf.parse_dotted_key(key)
        except ValueError:
            continue
        if len(keys) >= 2 and keys[0] == "plugins":
            sections.add(keys[1])
        elif keys == ["plugins"] and isinstance(settings[key], dict):
            sections.update(settings[key])
    return sections


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/etc/containerd/config.toml"},
            "settings": {"type": "dict", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "create_default": {"type": "bool", "default": False},
            "containerd_path": {"type": "path"},
            "backup": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    if not cf.has_tomlkit():
        module.fail_json(msg=missing_required_lib("tomlkit") + " " + cf.TOMLKIT_HINT,
                         exception=cf.TOMLKIT_IMPORT_ERROR)
    params = module.params
    path = params["path"]
    try:
        cf.require_absolute(path, "path")
        with cf.file_lock([path], module.check_mode):
            before = cf.read_text(path)
            start = None
            if before is None and params["create_default"]:
                start = default_config(module, params["containerd_path"])
            change = edit(path, before, start, params["settings"], params["state"])
            shadowed = shadowing_imports(path, change.after, changed_plugin_sections(params["settings"])) \
                if change.changed else []
            result = cf.apply_changes(module, [change], params["backup"])
    except (cf.ConfigFileError, cf.WriteFailed) as exc:
        cf.fail_module(module, exc)
    for name in shadowed:
        module.warn(f"{name} holds its own copy of a plugin section changed here; containerd before 2.1 uses that "
                    "copy. If it is the nvidia_ctk drop-in, run homelab.nvidia_gpu.nvidia_ctk again to refresh it.")
    module.exit_json(restart_required=result["changed"], shadowed_by=shadowed, **result)


def default_config(module: AnsibleModule, containerd_path: str | None) -> str:
    """`containerd config default`, with a time limit."""
    binary = containerd_path or module.get_bin_path("containerd")
    if not binary or not os.access(binary, os.X_OK):
        module.fail_json(msg=f"create_default needs containerd ({containerd_path or 'not on PATH'}); "
                             "install containerd first.")
    try:
        rc, out, err = _commands.run([binary, "config", "default"])
    except (_commands.CommandTimeout, _commands.CommandNotRunnable) as exc:
        module.fail_json(msg=f"create_default: {exc}")
    if rc != 0:
        module.fail_json(msg=f"containerd config default failed (rc {rc}): {err.strip()}", rc=rc, stderr=err)
    return out


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_daemon_config
short_description: Merge settings into docker's daemon.json, or remove them, keeping every other key
version_added: 0.1.0
description:
  - Merges O(settings) into C(daemon.json) (O(state=present)) or removes the keys it names (O(state=absent)),
    and leaves every other key alone, so that several roles can share the file (for example log options
    next to the C(nvidia) runtime written by M(homelab.nvidia_gpu.nvidia_ctk)).
  - Nested objects merge key by key; any other value (string, number, list) replaces the old one.
  - The file is rewritten (4-space indent, sorted keys, as C(nvidia-ctk) writes it) only when its
    content changes; a file whose content already matches keeps its bytes and its layout.
  - Invalid JSON, an empty file (dockerd refuses one) or a top level that is not an object fails with
    the file, line, column and reason; nothing is written then. So do what dockerd refuses although
    Python reads it - V(NaN), V(Infinity), numbers beyond a 64-bit float (V(1e400)), lone surrogate
    escapes, nesting deeper than 64 levels. Duplicate keys are read as dockerd reads them (the last
    one wins) with a warning that names them.
  - Values are compared with their types - V(1) is not V(true) and V(3.0) is not V(3); dockerd decodes
    daemon.json into typed fields, so a wrong type is a change.
  - A symlinked O(path) is followed - the link's target is written and the link stays. A dangling link,
    a link loop, a directory, FIFO or device is refused before it is opened.
  - An exclusive lock on C(.daemon.json.lock) beside the file is held from read to write, so that
    concurrent runs (this module, M(homelab.nvidia_gpu.nvidia_ctk)) lose no update.
  - Writes through a temporary file in the same directory and an atomic rename that keeps the file's
    mode and owner.
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - homelab.nvidia_gpu.attributes.config_file
options:
  path:
    description:
      - The daemon.json to edit, an absolute path. A missing file is created with O(state=present).
    type: path
    default: /etc/docker/daemon.json
  settings:
    description:
      - With O(state=present), the keys and values to merge in. A null value is refused (daemon.json
        has no use for one; remove the key with O(state=absent)).
      - With O(state=absent), the keys to remove. A non-empty object names keys inside that key (an
        object this leaves empty is removed too); any other value is ignored, only the name counts.
    type: dict
    required: true
  state:
    description:
      - V(present) merges O(settings), V(absent) removes the keys it names.
    type: str
    choices: [present, absent]
    default: present
  backup:
    description:
      - Keep a timestamped copy of the file before changing it.
    type: bool
    default: false
notes:
  - dockerd reads daemon.json only at start; restart it when RV(restart_required) is true.
seealso:
  - module: homelab.nvidia_gpu.nvidia_ctk
"""

EXAMPLES = r"""
- name: Docker logs rotate at 10 MiB, 3 files
  homelab.nvidia_gpu.docker_daemon_config:
    settings:
      log-driver: json-file
      log-opts:
        max-size: 10m
        max-file: "3"
  notify: Restart docker

- name: Docker no longer limits the log file count
  homelab.nvidia_gpu.docker_daemon_config:
    state: absent
    settings:
      log-opts:
        max-file:
"""

RETURN = r"""
files:
  description: The file, when it was (or in check mode would be) written.
  returned: always
  type: list
  elements: str
  sample: [/etc/docker/daemon.json]
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
  description: Whether dockerd must be restarted to apply the change.
  returned: always
  type: bool
  sample: true
config:
  description: The resulting daemon.json content.
  returned: success
  type: dict
  sample: {log-driver: json-file, runtimes: {nvidia: {args: [], path: nvidia-container-runtime}}}
error:
  description: Where the file could not be parsed or written (C(path), C(line), C(column), C(reason)).
  returned: on failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _config_files as cf


def plan(path: str, before: str | None, settings: dict, state: str,
         warnings: list[str] | None = None) -> tuple[cf.FileChange, dict]:
    """The change to daemon.json (pure); raises ConfigFileError on a file or settings that cannot be used."""
    cf.check_settings(path, settings, state)
    if before is None and state == "absent":
        return cf.FileChange(path, None, None), {}
    data = {} if before is None else cf.load_json_object(path, before, warnings)
    new = cf.deep_merge(data, settings) if state == "present" else cf.deep_remove(data, settings)
    after = before if before is not None and cf.same(new, data) else cf.dump_json(new)
    return cf.FileChange(path, before, after), new


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "default": "/etc/docker/daemon.json"},
            "settings": {"type": "dict", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "backup": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    path = params["path"]
    warnings: list[str] = []
    try:
        cf.require_absolute(path, "path")
        with cf.file_lock([path], module.check_mode):
            change, config = plan(path, cf.read_text(path), params["settings"], params["state"], warnings)
            result = cf.apply_changes(module, [change], params["backup"])
    except (cf.ConfigFileError, cf.WriteFailed) as exc:
        cf.fail_module(module, exc)
    for warning in warnings:
        module.warn(warning)
    module.exit_json(restart_required=result["changed"], config=config, **result)


if __name__ == "__main__":
    main()

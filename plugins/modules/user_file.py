#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: user_file
short_description: Read or write a file under a user's home as root, following no link the user controls
version_added: 0.2.0
description:
  - Root acting in a user's home must not be turned against root. A check and then a write in two tasks leaves a
    window in which the user swaps C(~/.ssh) for a link to C(/root/.ssh); this module holds file descriptors from
    the home down instead of paths, so what it checked is what it writes.
  - The home (from the passwd entry, root's choice) is opened once; each directory below it is opened without
    following links and must be owned by the user or root; the file is read without following links or blocking
    (a FIFO is refused, not waited on), must be a regular file owned by the user or root with one name only.
  - With O(state=present) a missing directory is made (owned by the user, O(directory_mode)), and the file is
    replaced atomically by a new file made in that directory and renamed over it; a link in its place is refused,
    never written through.
  - Used by P(homelab.nvidia_gpu.ssh_access#role) for C(~/.ssh/authorized_keys).
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - homelab.nvidia_gpu.attributes.config_file
options:
  user:
    description: The user whose home holds the file (a name in the passwd database).
    type: str
    required: true
  path:
    description: The file's path relative to the home, such as C(.ssh/authorized_keys); no C(.), C(..) or empty part.
    type: str
    required: true
  state:
    description:
      - C(read) returns the file's text (RV(content)) and changes nothing.
      - C(present) makes the file hold O(content), owned by the user with O(mode).
      - C(absent) removes the file (the name in the directory that was checked, never a link's target).
    type: str
    choices: [read, present, absent]
    default: read
  content:
    description: The file's text with O(state=present).
    type: str
  mode:
    description: The file's mode, as an octal string.
    type: str
    default: "0600"
  directory_mode:
    description: The mode of a directory this module makes, as an octal string.
    type: str
    default: "0700"
notes:
  - A refusal (a link, another user's directory or file, a hard link, a FIFO) fails the module with a sentence that
    names the user and the path; nothing is read or written past the refused step.
"""

EXAMPLES = r"""
- name: Alice's authorized_keys is read without following links
  homelab.nvidia_gpu.user_file:
    user: alice
    path: .ssh/authorized_keys
  register: alice_keys

- name: Alice's authorized_keys holds her keys
  homelab.nvidia_gpu.user_file:
    user: alice
    path: .ssh/authorized_keys
    state: present
    content: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFBhEXFaqytRdHiZj9gYySDbaoODO6Z1e4HcdY29p6tz alice@laptop\n"
"""

RETURN = r"""
path:
  description: The file's absolute path.
  returned: always
  type: str
  sample: /home/alice/.ssh/authorized_keys
exists:
  description: Whether the file existed before this run.
  returned: always
  type: bool
content:
  description: The file's text before this run (bytes that are not UTF-8 as U+FFFD); empty when it did not exist.
  returned: when O(state=read)
  type: str
created_directories:
  description: The directories made (or that would be in check mode), relative to the home.
  returned: always
  type: list
  elements: str
"""

import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _user_files as uf


def _mode(module: AnsibleModule, name: str) -> int:
    text = module.params[name]
    try:
        value = int(text, 8)
    except (TypeError, ValueError):
        value = -1
    if not 0 <= value <= 0o7777:
        module.fail_json(msg=f"{name} must be an octal mode such as 0600, not {text!r}")
    return value


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "user": {"type": "str", "required": True},
            "path": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["read", "present", "absent"], "default": "read"},
            "content": {"type": "str"},
            "mode": {"type": "str", "default": "0600"},
            "directory_mode": {"type": "str", "default": "0700"},
        },
        required_if=[("state", "present", ["content"])],
        supports_check_mode=True,
    )
    params = module.params
    mode, dir_mode = _mode(module, "mode"), _mode(module, "directory_mode")
    try:
        parts = uf.split_relative(params["path"])
    except uf.UnsafePath as exc:
        module.fail_json(msg=f"path: {exc}")
    try:
        entry = pwd.getpwnam(params["user"])
    except KeyError:
        module.fail_json(msg=f"user {params['user']!r} is not in the passwd database")
    user, uid, gid, home = entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir
    full = os.path.join(home, *parts)
    result = {"changed": False, "path": full, "exists": False, "created_directories": []}
    present = params["state"] == "present"
    where = "~/" + "/".join(parts)
    try:
        home_fd = uf.open_home(home, user, uid)
        try:
            dir_fd, created = uf.walk(home_fd, parts, user, uid, gid, dir_mode if present else None,
                                      module.check_mode)
        finally:
            os.close(home_fd)
        result["created_directories"] = created
        before, st = (None, None)
        if dir_fd is not None:
            try:
                before, st = uf.read_file(dir_fd, parts[-1], where, user, uid)
                result["exists"] = before is not None
                if params["state"] == "read":
                    result["content"] = (before or b"").decode("utf-8", "replace")
                    module.exit_json(**result)
                if params["state"] == "absent":
                    result["changed"] = before is not None
                    if before is not None and not module.check_mode:
                        os.unlink(parts[-1], dir_fd=dir_fd)
                    module.exit_json(**result)
                after = params["content"].encode("utf-8", "surrogateescape")
                same = (before == after and st is not None and st.st_uid == uid and st.st_gid == gid
                        and (st.st_mode & 0o7777) == mode)
                if not same and not module.check_mode:
                    uf.write_file(dir_fd, parts[-1], after, uid, gid, mode)
            finally:
                os.close(dir_fd)
        elif not present:
            if params["state"] == "read":
                result["content"] = ""
            module.exit_json(**result)
        else:
            same = False  # check mode, the directory would be made
        result["changed"] = bool(created) or not same
        if module._diff and result["changed"]:
            result["diff"] = {"before_header": full, "after_header": full,
                              "before": (before or b"").decode("utf-8", "replace"),
                              "after": params["content"]}
    except uf.UnsafePath as exc:
        module.fail_json(msg=f"{exc}. Nothing was changed at {full}.", **result)
    except OSError as exc:
        module.fail_json(msg=f"{user}'s {where}: {exc.strerror or exc}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

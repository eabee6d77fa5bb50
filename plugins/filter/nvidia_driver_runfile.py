# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: nvidia_driver_runfile_problems
short_description: What is wrong with a runfile URL and checksum, as sentences
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Returns the reasons the P(homelab.nvidia_gpu.nvidia_driver#role) role refuses to download and run an NVIDIA
    runfile, one sentence each; an empty list when the URL and checksum are acceptable.
  - The checksum must be an inline digest, V(sha256:<64 hex>) or V(sha512:<128 hex>). A checksum URL is refused
    (a checksum fetched from the same server proves nothing a tampered server could not change too), and so are
    md5 and sha1.
  - The URL must be V(https://); V(http://) only when O(allow_http) is true (a local mirror; the inline digest
    still checks the file). Its file name must be C(NVIDIA-Linux-<arch>-<version>.run), which names the version.
  - The same plugin file has C(nvidia_driver_runfile_version) - the version in that file name (the same function
    the GPU plan reads the runfile's branch with), or an empty string.
options:
  _input:
    description: The runfile URL.
    type: str
    required: true
  checksum:
    description: The checksum as the role takes it.
    type: str
    required: true
  allow_http:
    description: Accept an V(http://) URL.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: The runfile URL and checksum are acceptable
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join(' ') }}"
  vars:
    __problems: >-
      {{ nvidia_driver_runfile_url
         | homelab.nvidia_gpu.nvidia_driver_runfile_problems(nvidia_driver_runfile_checksum) }}
"""

RETURN = r"""
_value:
  description: One sentence per problem; empty when there is none.
  type: list
  elements: str
"""

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu._gpu_plan import runfile_version
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _nvidia_driver_runtime
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filter, safe_filters


@safe_filter
def nvidia_driver_runfile_problems(url, checksum, allow_http=False) -> list[str]:
    """Sentences saying why the runfile URL or checksum is refused; [] when both are acceptable."""
    return _nvidia_driver_runtime.runfile_problems(url, checksum, allow_http)


@safe_filter
def nvidia_driver_runfile_version(url) -> str:
    """The version in NVIDIA-Linux-<arch>-<version>.run at the end of the URL, else ''."""
    return runfile_version(_values.single_line(url or "", "the runfile URL", allow_empty=True).strip()) or ""


class FilterModule:
    def filters(self):
        return safe_filters({"nvidia_driver_runfile_problems": nvidia_driver_runfile_problems,
                             "nvidia_driver_runfile_version": nvidia_driver_runfile_version})

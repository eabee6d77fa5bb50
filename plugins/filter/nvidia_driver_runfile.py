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

import re

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu._gpu_plan import runfile_version
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filter, safe_filters

_DIGEST_HEX = {"sha256": 64, "sha512": 128}
_WEAK = ("md5", "sha1", "sha224")


@safe_filter
def nvidia_driver_runfile_problems(url, checksum, allow_http=False) -> list[str]:
    """Sentences saying why the runfile URL or checksum is refused; [] when both are acceptable."""
    problems = []
    url = _values.single_line(url or "", "nvidia_driver_runfile_url", allow_empty=True).strip()
    checksum = _values.single_line(checksum or "", "nvidia_driver_runfile_checksum", allow_empty=True).strip()
    allow_http = _values.boolean(allow_http, "nvidia_driver_runfile_allow_http")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not url:
        problems.append("nvidia_driver_runfile_url is empty: name the NVIDIA-Linux-<arch>-<version>.run to install.")
    elif scheme == "http" and not allow_http:
        problems.append(f"nvidia_driver_runfile_url {url} is http: use https, or set nvidia_driver_runfile_allow_http: "
                        "true for a local mirror (the inline digest still checks the file).")
    elif scheme not in ("https", "http"):
        problems.append(f"nvidia_driver_runfile_url {url} is not an https URL.")
    if url and not runfile_version(url):
        problems.append(f"nvidia_driver_runfile_url {url} does not end in NVIDIA-Linux-<arch>-<version>.run, the name "
                        "the driver's version is read from.")

    algo, _sep, value = checksum.partition(":")
    algo = algo.strip().lower()
    value = value.strip()
    if not checksum:
        problems.append("nvidia_driver_runfile_checksum is empty: a runfile is never run unchecked; give its digest "
                        "inline as sha256:<64 hex> or sha512:<128 hex>, taken from NVIDIA's published checksum.")
    elif "://" in value:
        problems.append(f"nvidia_driver_runfile_checksum {checksum} is a checksum URL: a checksum fetched from a "
                        "server proves nothing a tampered server could not change too; give the digest inline as "
                        "sha256:<64 hex> or sha512:<128 hex>.")
    elif algo in _WEAK:
        problems.append(f"nvidia_driver_runfile_checksum uses {algo}, which is too weak to trust a file that runs as "
                        "root: give sha256:<64 hex> or sha512:<128 hex>.")
    elif algo not in _DIGEST_HEX or not re.fullmatch(rf"[0-9a-fA-F]{{{_DIGEST_HEX[algo]}}}", value):
        problems.append(f"nvidia_driver_runfile_checksum {checksum!r} is not sha256:<64 hex> or sha512:<128 hex>.")
    return problems


@safe_filter
def nvidia_driver_runfile_version(url) -> str:
    """The version in NVIDIA-Linux-<arch>-<version>.run at the end of the URL, else ''."""
    return runfile_version(_values.single_line(url or "", "the runfile URL", allow_empty=True).strip()) or ""


class FilterModule:
    def filters(self):
        return safe_filters({"nvidia_driver_runfile_problems": nvidia_driver_runfile_problems,
                             "nvidia_driver_runfile_version": nvidia_driver_runfile_version})

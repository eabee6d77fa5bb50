# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: distro_sources
short_description: The distribution's own apt sources from one mirror URL, as deb822 with the distro's keyring
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Debian (Raspberry Pi OS reports Debian) and Ubuntu (ports.ubuntu.com on arm64). The file's content (the release,
    its updates, the security archive; C(Signed-By) the distribution's archive keyring), and the files of the
    distribution's own that it replaces, so that the caller keeps a copy of them and disables them.
  - An unknown distribution, a release that is not a codename, a URL that is not an http(s) URL on one line, or
    components that are not a list of words (a string such as V(main) is refused, never read letter by letter) is an
    error whose sentence names the role variable (C(distro_mirror_url), C(distro_mirror_security_url),
    C(distro_mirror_components)). The file is rendered whole by C(module_utils/_files/_apt_sources.py) and read back
    before it is returned - no value can add a field such as C(Trusted).
  - One more filter in this file - C(distro_mirror_originals) (the results of C(slurp) over C(replaces) -> the paths
    that are the distribution's own files, not missing and not this role's stub in place of sources.list).
  - Pure Python in C(plugins/module_utils/_roles/_distro_mirror.py).
options:
  _input:
    description: C(distribution), C(release) (the codename), C(architecture).
    type: dict
    required: true
  mirror:
    description: The archive's URL; empty for the distribution's own servers.
    type: str
    default: ""
  security_mirror:
    description: The security archive's URL; empty for the distribution's own (Ubuntu's ports archive on arm64).
    type: str
    default: ""
  components:
    description: The components, a list of words; empty (or omitted) for the distribution's usual set.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Debian's archive comes from the local mirror
  ansible.builtin.set_fact:
    sources: >-
      {{ {'distribution': ansible_facts.distribution, 'release': ansible_facts.distribution_release}
         | homelab.nvidia_gpu.distro_sources('http://mirror.example/debian') }}
"""

RETURN = r"""
_value:
  description: >-
    C(path), C(content), C(mirror), C(security_mirror), C(keyring), C(replaces), C(default_mirror),
    C(disabled_dir), C(stub), C(stub_mark).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _distro_mirror
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filters


def distro_sources(facts, mirror="", security_mirror="", components=None) -> dict:
    if not isinstance(facts, dict):
        raise AnsibleFilterError("distro_sources: the input must be a dict (distribution, release, architecture)")
    return _distro_mirror.distro_sources(facts, mirror, security_mirror, components)


def distro_mirror_originals(slurped) -> list:
    if not isinstance(slurped, list):
        raise AnsibleFilterError("distro_mirror_originals: the input must be the results list of slurp")
    return _distro_mirror.originals(slurped)


class FilterModule:
    def filters(self):
        return safe_filters({"distro_sources": distro_sources, "distro_mirror_originals": distro_mirror_originals})

# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: apt_sources
short_description: A whole deb822 apt sources file, every field checked and no value able to add a field
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Renders the stanzas given (mappings of C(Types), C(URIs), C(Suites), C(Components), C(Architectures),
    C(Signed-By); no other field) as the text of a C(.sources) file, after the comment lines given.
  - C(Types) is a list of V(deb)/V(deb-src); C(URIs) a list of http(s) URLs; C(Suites), C(Components) and
    C(Architectures) lists of words (a string is refused, never read letter by letter as C(m a i n)); a suite that ends
    with C(/) stands alone without C(Components); C(Signed-By) an absolute path, always required. Every value is one
    line, so a newline in an inventory value cannot add C(Trusted) set to C(yes); the text is read back before it is
    returned and must hold exactly the fields given.
  - A bad value is an error whose sentence names the variable that O(names) gives for its field.
  - Two more filters in this file - C(apt_preferences) (a list of pins, each C(Package), C(Pin) - a selector that
    starts with C(release), C(origin) or C(version) - and C(Pin-Priority), a non-zero whole number; same O(names) and
    O(comments)) and C(apt_comments) (text -> C(# ) lines, each line of it a comment, for a template's header such as
    C(ansible_managed)).
  - Pure Python in C(plugins/module_utils/_files/_apt_sources.py).
options:
  _input:
    description: The stanzas, a list of mappings (one mapping is one stanza).
    type: list
    elements: dict
    required: true
  names:
    description: >-
      The variable that feeds each field, for example C({'URIs': 'container_runtime_docker_repo_base_url'}).
    type: dict
  comments:
    description: Comment lines at the top of the file (each line of each entry becomes a C(# ) line).
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Docker's source is one checked stanza
  ansible.builtin.copy:
    dest: /etc/apt/sources.list.d/docker.sources
    mode: "0644"
    content: >-
      {{ [{'Types': ['deb'], 'URIs': ['https://download.docker.com/linux/debian'], 'Suites': ['bookworm'],
           'Components': [channel], 'Signed-By': '/etc/apt/keyrings/docker.gpg'}]
         | homelab.nvidia_gpu.apt_sources(names={'Components': 'channel'}) }}
"""

RETURN = r"""
_value:
  description: The text of the file.
  type: str
"""

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_sources
from ansible_collections.homelab.nvidia_gpu.plugins.plugin_utils._filter_errors import safe_filters


def apt_sources(stanzas, names=None, comments=None) -> str:
    return _apt_sources.sources_file(stanzas, names, comments)


def apt_preferences(pins, names=None, comments=None) -> str:
    return _apt_sources.preferences_file(pins, names, comments)


def apt_comments(text) -> str:
    return "".join(line + "\n" for line in _apt_sources.comment_lines(text))


class FilterModule:
    def filters(self):
        return safe_filters({"apt_sources": apt_sources, "apt_preferences": apt_preferences,
                             "apt_comments": apt_comments})

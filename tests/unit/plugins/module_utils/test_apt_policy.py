# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.apt_policy import FilterModule

F = FilterModule().filters()
POLICY = """\
nvidia-container-toolkit:
  Installed: 1.17.8-1
  Candidate: 1.18.1-1
  Version table:
     1.18.1-1 500
        500 http://mirror.lab/libnvidia-container/stable/deb/amd64  Packages
 *** 1.17.8-1 500
        500 http://mirror.lab/libnvidia-container/stable/deb/amd64  Packages
        100 /var/lib/dpkg/status
nvidia-driver-pinning-580:
  Installed: (none)
  Candidate: (none)
  Version table:
cuda-drivers:
  Installed: (none)
  Candidate: 580.95.05-1
  Version table:
     590.48.01-1 -1
        500 http://mirror.lab/compute/cuda/repos/debian12/x86_64  Packages
     580.95.05-1 600
        600 http://mirror.lab/compute/cuda/repos/debian12/x86_64  Packages
"""


def test_installed_candidate_and_versions_of_several_packages():
    got = F["apt_policy"](POLICY, ["nvidia-kernel-dkms"])
    assert got["nvidia-container-toolkit"] == {"installed": "1.17.8-1", "candidate": "1.18.1-1",
                                               "versions": ["1.18.1-1", "1.17.8-1"]}
    assert got["nvidia-driver-pinning-580"] == {"installed": "", "candidate": "(none)", "versions": []}
    # a pin with a negative priority: apt knows 590 but would not install it
    assert got["cuda-drivers"]["candidate"] == "580.95.05-1" and got["cuda-drivers"]["versions"][0] == "590.48.01-1"
    assert got["nvidia-kernel-dkms"] == {"installed": "", "candidate": "(none)", "versions": []}  # unknown to apt


def test_one_field():
    assert F["apt_policy"](POLICY, ["cuda-drivers"], "candidate")["cuda-drivers"] == "580.95.05-1"
    with pytest.raises(AnsibleFilterError, match="field must be"):
        F["apt_policy"](POLICY, [], "priority")


def test_empty_output_and_bad_input():
    assert F["apt_policy"]("", ["a"]) == {"a": {"installed": "", "candidate": "(none)", "versions": []}}
    with pytest.raises(AnsibleFilterError, match="apt_policy"):
        F["apt_policy"](None)


@pytest.mark.parametrize(("version", "upstream"), [
    ("1:580.95.05-1", "580.95.05"), ("535.216.01-1~deb12u1", "535.216.01"), ("580.95.05", "580.95.05"),
    ("1.2-3-4", "1.2-3"), ("", ""), (None, "")])
def test_upstream_version(version, upstream):
    assert F["apt_upstream_version"](version) == upstream

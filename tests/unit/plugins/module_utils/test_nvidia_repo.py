# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The repo map (was YAML data and a Jinja loop in roles/nvidia_repo/vars/main.yml)."""
from __future__ import annotations

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.filter.nvidia_repo import FilterModule

TARGET = FilterModule().filters()["nvidia_repo_target"]


@pytest.mark.parametrize(("distro", "version", "arch", "tree", "key", "deb"), [
    ("Debian", "12.8", "x86_64", "debian12/x86_64", "3bf863cc.pub", "amd64"),
    ("Debian", "13", "aarch64", "debian13/sbsa", "8793F200.pub", "arm64"),  # sbsa, never Jetson's arm64 tree
    ("Raspbian", "12", "aarch64", "debian12/sbsa", "3bf863cc.pub", "arm64"),  # Raspberry Pi OS counts as Debian
    ("Ubuntu", "24.04", "x86_64", "ubuntu2404/x86_64", "3bf863cc.pub", "amd64"),
])
def test_supported_hosts(distro, version, arch, tree, key, deb):
    got = TARGET(distro, version, arch)
    assert (got["tree"], got["key_file"], got["deb_arch"], got["problem"]) == (tree, key, deb, "")
    assert len(got["key_fingerprint"]) == 40


@pytest.mark.parametrize(("distro", "version", "arch", "cuda", "toolkit"), [
    ("Fedora", "40", "x86_64", True, True),
    ("Ubuntu", "20.04", "x86_64", True, True),
    ("Debian", "12", "armv7l", True, False),
    ("Debian", "12", "armv7l", False, True),  # the toolkit needs a Debian arch too
])
def test_unsupported_hosts_name_what_is_and_every_supported_combination(distro, version, arch, cuda, toolkit):
    problem = TARGET(distro, version, arch, cuda, toolkit)["problem"]
    assert problem.startswith(f"NVIDIA's repos have no tree for {distro} {version} on {arch}. Supported: ")
    assert "Debian 12 on x86_64/aarch64 (debian12/x86_64, debian12/sbsa)" in problem
    assert "Ubuntu 24.04 on x86_64/aarch64 (ubuntu2404/x86_64, ubuntu2404/sbsa)" in problem
    assert "Jetson arm64 tree is not for discrete GPUs" in problem


def test_only_the_wanted_repos_count():
    assert TARGET("Fedora", "40", "x86_64", cuda=False)["problem"] == ""  # toolkit only: any Debian arch works
    assert TARGET("Debian", "12", "x86_64", cuda=False)["tree"] == ""

# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action nvidia_repo_plan, checked against NVIDIA's published repository layout (not the repo map itself).

NVIDIA's own pages (read late 2026; ../shared/reference/upstream-facts.md):
- CUDA: https://developer.download.nvidia.com/compute/cuda/repos/<distro>/<arch>/, <arch> x86_64 or sbsa; the
  trees seen are debian12, debian13, ubuntu2204, ubuntu2404 (each x86_64 and sbsa); ubuntu2204/arm64 is Jetson's.
  Key 3bf863cc.pub in the tree, fingerprint EB69 3B30 35CD 5710 E231 E123 A4B4 6996 3BF8 63CC (debian12, ubuntu);
  debian13 8793F200.pub, 0218 2E60 104F CDC2 6EAE 1B85 97A5 D4CB 8793 F200. The flat repo's suite is "/".
- Container Toolkit install guide:
  ``deb [signed-by=...] https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /``
  (experimental: .../experimental/deb/$(ARCH)), key https://nvidia.github.io/libnvidia-container/gpgkey,
  fingerprint C95B 321B 61E8 8C18 09C4 F759 DDCA E044 F796 ECB0.
- NVIDIA's cuda-repo pin file: Package *, Pin release l=NVIDIA CUDA, Pin-Priority 600.
"""

from __future__ import annotations

import re
from unittest.mock import MagicMock

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.action.nvidia_repo_plan import ActionModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_sources

CUDA = "https://developer.download.nvidia.com/compute/cuda/repos"
TOOLKIT = "https://nvidia.github.io/libnvidia-container"
OLD_KEY = ("3bf863cc.pub", "EB693B3035CD5710E231E123A4B469963BF863CC")
NEW_KEY = ("8793F200.pub", "02182E60104FCDC26EAE1B8597A5D4CB8793F200")
TOOLKIT_KEY = "C95B321B61E88C1809C4F759DDCAE044F796ECB0"
PUBLISHED = [  # (Ansible facts) -> NVIDIA's tree, key, dpkg arch
    ("Debian", "12.8", "x86_64", "debian12/x86_64", OLD_KEY, "amd64"),
    ("Debian", "12", "aarch64", "debian12/sbsa", OLD_KEY, "arm64"),
    ("Debian", "13.1", "x86_64", "debian13/x86_64", NEW_KEY, "amd64"),
    ("Debian", "13", "aarch64", "debian13/sbsa", NEW_KEY, "arm64"),
    ("Ubuntu", "22.04", "x86_64", "ubuntu2204/x86_64", OLD_KEY, "amd64"),
    ("Ubuntu", "22.04", "aarch64", "ubuntu2204/sbsa", OLD_KEY, "arm64"),
    ("Ubuntu", "24.04", "x86_64", "ubuntu2404/x86_64", OLD_KEY, "amd64"),
    ("Ubuntu", "24.04", "aarch64", "ubuntu2404/sbsa", OLD_KEY, "arm64"),
]
HOST = {"distribution": "Debian", "distribution_version": "12", "architecture": "x86_64"}


def run(args):
    task = MagicMock(args=args, async_val=0, check_mode=False, diff=False)
    action = ActionModule(task, MagicMock(), MagicMock(check_mode=False), MagicMock(), MagicMock(), MagicMock())
    return action.run(task_vars={})


def plan(**args):
    result = run({**HOST, **args})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    return result["plan"]


def refusal(**args):
    result = run({**HOST, **args})
    assert result.get("failed") is True and "plan" not in result and "Traceback" not in result["msg"]
    return result["msg"]


def written(got, path):
    (text,) = [f["content"] for f in got["write"] if f["path"] == path]
    assert text.startswith("# Ansible managed (homelab.nvidia_gpu.nvidia_repo)\n")
    return [dict(stanza) for stanza in _apt_sources.parse(text)]


@pytest.mark.parametrize(("distribution", "version", "machine", "tree", "key", "deb_arch"), PUBLISHED)
def test_each_host_gets_nvidias_published_tree_key_and_toolkit_arch(distribution, version, machine, tree, key,
                                                                    deb_arch):
    got = plan(distribution=distribution, distribution_version=version, architecture=machine)
    assert got["tree"] == tree
    assert got["signing_keys"] == [
        {"name": "cuda", "url": f"{CUDA}/{tree}/{key[0]}", "fingerprint": key[1],
         "keyring": "/etc/apt/keyrings/nvidia-cuda.gpg"},
        {"name": "toolkit", "url": f"{TOOLKIT}/gpgkey", "fingerprint": TOOLKIT_KEY,
         "keyring": "/etc/apt/keyrings/nvidia-container-toolkit.gpg"}]
    assert written(got, "/etc/apt/sources.list.d/nvidia-cuda.sources") == [
        {"Types": "deb", "URIs": f"{CUDA}/{tree}/", "Suites": "/", "Signed-By": "/etc/apt/keyrings/nvidia-cuda.gpg"}]
    assert got["uris"] == [f"{CUDA}/{tree}", f"{TOOLKIT}/stable/deb/{deb_arch}"]


def test_the_toolkit_source_is_the_install_guides_line_in_deb822():
    got = plan(toolkit_experimental=True)
    keyring = "/etc/apt/keyrings/nvidia-container-toolkit.gpg"
    assert written(got, "/etc/apt/sources.list.d/nvidia-container-toolkit.sources") == [
        {"Types": "deb", "URIs": f"{TOOLKIT}/{channel}/deb/$(ARCH)", "Suites": "/", "Signed-By": keyring}
        for channel in ("stable", "experimental")]


def test_the_default_pin_is_nvidias_own_pin_file():
    assert written(plan(), "/etc/apt/preferences.d/nvidia-cuda.pref") == [
        {"Package": "*", "Pin": "release l=NVIDIA CUDA", "Pin-Priority": "600"}]
    assert written(plan(pin="debian"), "/etc/apt/preferences.d/nvidia-cuda.pref")[0]["Pin-Priority"] == "100"
    assert "/etc/apt/preferences.d/nvidia-cuda.pref" in plan(pin="none")["absent"]


def test_a_disabled_repo_leaves_neither_source_nor_keyring_nor_pin():
    got = plan(cuda_enabled=False)
    assert got["absent"] == ["/etc/apt/sources.list.d/nvidia-cuda.sources", "/etc/apt/keyrings/nvidia-cuda.gpg",
                             "/etc/apt/preferences.d/nvidia-cuda.pref"]
    assert [f["path"] for f in got["write"]] == ["/etc/apt/sources.list.d/nvidia-container-toolkit.sources"]
    assert plan(cuda_enabled=False, toolkit_enabled=False)["stale"]["find"] is False


@pytest.mark.parametrize(("line", "stale"), [
    # NVIDIA's cuda-keyring package writes cuda-debian12-x86_64.list with this line
    ("deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] "
     "https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/ /", True),
    # the Container Toolkit guide's list, and the retired nvidia-docker repo
    (f"deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] {TOOLKIT}/stable/deb/$(ARCH) /", True),
    ("deb https://nvidia.github.io/nvidia-docker/debian10/$(ARCH) /", True),
    ("# deb https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/ /", False),
    ("deb https://developer.download.nvidia.com/compute/cuda/repos/debian12/sbsa/ /", False),  # another tree
])
def test_stale_sources_are_the_ones_nvidias_own_instructions_leave(line, stale):
    regex = plan()["stale"]["regex"]
    assert bool(re.search(regex, f"# a file\n{line}\n")) is stale


@pytest.mark.parametrize(("args", "start"), [
    ({"distribution": "Fedora", "distribution_version": "40"}, "NVIDIA's repos have no tree for Fedora 40 on x86_64."),
    ({"architecture": "armv7l"}, "NVIDIA's repos have no tree for Debian 12 on armv7l."),
    ({"pin_selector": "release l=NVIDIA CUDA\nPin-Priority: 1001"}, "nvidia_repo_pin_selector must be a single line"),
    ({"toolkit_base_url": f"{TOOLKIT}\nTrusted: yes"}, "nvidia_repo_toolkit_base_url must be a single line"),
    ({"toolkit_key_fingerprint": "F796ECB0"}, "nvidia_repo_toolkit_key_fingerprint: "),
    ({"pin": "always"}, "nvidia_repo_pin must be nvidia, debian or none"),
])
def test_refusals_name_the_variable(args, start):
    assert refusal(**args).startswith(start)


def test_the_cuda_tree_is_the_roles_public_fact():
    assert run({**HOST, "architecture": "aarch64"})["ansible_facts"] == {"nvidia_repo_cuda_tree": "debian12/sbsa"}

"""What nvidia_repo leaves on a lab container: deb822 sources, checked keyrings, pinning, no stale sources."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

MIRROR = "http://mirror.lab"
FINGERPRINTS = yaml.safe_load(
    (Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / ".cache/lab/mirror/fingerprints.yml").read_text()
)
SOURCES = "/etc/apt/sources.list.d"


@pytest.fixture
def tree(host):
    distro = {"bookworm": "debian12", "trixie": "debian13"}[host.system_info.codename]
    arch = {"x86_64": "x86_64", "aarch64": "sbsa"}[host.system_info.arch]
    return f"{distro}/{arch}"


@pytest.fixture
def deb_arch(host):
    return host.check_output("dpkg --print-architecture")


def primary_fingerprints(host, path):
    out = host.check_output(f"gpg --homedir /tmp --batch --show-keys --with-colons {path} 2>/dev/null")
    return re.findall(r"^pub:[^\n]*\nfpr:+([0-9A-F]{40}):", out, re.M)


def test_cuda_source_is_deb822_signed_by_its_own_keyring(host, tree):
    f = host.file(f"{SOURCES}/nvidia-cuda.sources")
    assert f.is_file and f.user == "root" and f.mode == 0o644
    assert f"URIs: {MIRROR}/compute/cuda/repos/{tree}/\n" in f.content_string
    assert "Suites: /\n" in f.content_string
    assert "Signed-By: /etc/apt/keyrings/nvidia-cuda.gpg\n" in f.content_string


def test_toolkit_source_is_deb822_signed_by_its_own_keyring(host):
    content = host.file(f"{SOURCES}/nvidia-container-toolkit.sources").content_string
    assert f"URIs: {MIRROR}/libnvidia-container/stable/deb/$(ARCH)\n" in content
    assert "Signed-By: /etc/apt/keyrings/nvidia-container-toolkit.gpg\n" in content
    experimental = f"URIs: {MIRROR}/libnvidia-container/experimental/deb/$(ARCH)\n" in content
    assert experimental == (host.system_info.codename == "trixie")  # converge enables it on trixie only


@pytest.mark.parametrize(
    ("keyring", "name"),
    [("nvidia-cuda.gpg", "lab_cuda_key_fingerprint"), ("nvidia-container-toolkit.gpg", "lab_toolkit_key_fingerprint")],
)
def test_keyrings_are_binary_and_hold_only_the_pinned_key(host, keyring, name):
    path = f"/etc/apt/keyrings/{keyring}"
    f = host.file(path)
    assert f.is_file and f.user == "root" and f.mode == 0o644
    assert not f.content.startswith(b"-----BEGIN"), "keyring must be dearmored"
    assert primary_fingerprints(host, path) == [FINGERPRINTS[name]]


def test_stale_nvidia_sources_are_gone_and_others_survive(host, tree):
    stale_cuda = f"cuda-{tree.replace('/', '-')}.list"
    for name in ("nvidia-docker.list", "nvidia-container-toolkit.list", stale_cuda):
        assert not host.file(f"{SOURCES}/{name}").exists, name
    for name in ("cuda-ubuntu2204-x86_64.list", "local-notes.list"):
        assert host.file(f"{SOURCES}/{name}").exists, name


def test_no_apt_key_and_no_legacy_trusted_keys(host):
    assert not host.file("/etc/apt/trusted.gpg").exists
    assert host.check_output("ls /etc/apt/trusted.gpg.d/ | grep -ci nvidia || true") == "0"


def test_pin_gives_nvidia_cuda_priority_600(host):
    content = host.file("/etc/apt/preferences.d/nvidia-cuda.pref").content_string
    assert "Package: *\nPin: release l=NVIDIA CUDA\nPin-Priority: 600\n" in content


def test_apt_update_is_clean(host):
    out = host.run("apt-get update 2>&1")
    assert out.rc == 0, out.stdout
    assert not re.search(r"^(W|E): ", out.stdout, re.M), out.stdout


def candidate_origin(host, package):
    """Candidate version and the source lines under it in `apt-cache policy`."""
    out = host.check_output(f"apt-cache policy {package}")
    candidate = re.search(r"Candidate: (\S+)", out).group(1)
    block = re.search(rf"^ (?:\*\*\*| {{3}}) {re.escape(candidate)} (\d+)\n((?:\s{{8}}.*\n?)+)", out, re.M)
    assert block, out
    return candidate, int(block.group(1)), block.group(2)


def test_cuda_mirror_is_the_candidate_origin_with_the_pin(host, tree):
    candidate, priority, sources = candidate_origin(host, "nvidia-kernel-dkms")
    assert f"{MIRROR}/compute/cuda/repos/{tree}" in sources
    assert priority == 600
    assert re.search(r"^\s+600 ", sources, re.M), sources
    assert candidate.startswith("590."), candidate  # the newest branch of the stand-ins


def test_toolkit_mirror_is_the_candidate_origin(host, deb_arch):
    candidate, _unused, sources = candidate_origin(host, "nvidia-container-toolkit")
    channel = "experimental" if host.system_info.codename == "trixie" else "stable"
    assert f"{MIRROR}/libnvidia-container/{channel}/deb/{deb_arch}" in sources
    assert candidate == ("1.19.0~rc.1-1" if channel == "experimental" else "1.18.1-1")


def deb822(text):
    """(field, value) lists of each stanza: blank lines separate stanzas, # lines are comments; a line that starts
    with a space (a continuation) is kept so that a test sees it."""
    stanzas, current = [], []
    for line in text.split("\n"):
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current = []
        else:
            current.append(tuple(part.strip() for part in line.split(":", 1)) if not line[0].isspace() else ("", line))
    return stanzas + ([current] if current else [])


@pytest.mark.parametrize("path", [f"{SOURCES}/nvidia-cuda.sources", f"{SOURCES}/nvidia-container-toolkit.sources"])
def test_sources_hold_exactly_their_fields(host, path):
    stanzas = deb822(host.file(path).content_string)
    assert stanzas, path
    for stanza in stanzas:
        assert [field for field, _value in stanza] == ["Types", "URIs", "Suites", "Signed-By"], stanza


def test_pin_file_holds_one_pin_with_one_priority(host):
    stanzas = deb822(host.file("/etc/apt/preferences.d/nvidia-cuda.pref").content_string)
    assert stanzas == [[("Package", "*"), ("Pin", "release l=NVIDIA CUDA"), ("Pin-Priority", "600")]]

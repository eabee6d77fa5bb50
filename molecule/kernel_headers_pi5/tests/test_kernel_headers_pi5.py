"""What kernel_headers leaves on a pretend Pi 5 with an NVIDIA GPU: Pi archive, headers of both kernels, boot config."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

MIRROR = "http://mirror.lab/raspberrypi/debian"
FINGERPRINTS = yaml.safe_load(
    (Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / ".cache/lab/mirror/fingerprints.yml").read_text()
)
RELEASES = ("6.12.47+rpt-rpi-2712", "6.12.47+rpt-rpi-v8")
CONFIG = "/boot/firmware/config.txt"
BLOCK = (
    "# BEGIN homelab.nvidia_gpu.kernel_headers: Pi 5 with an NVIDIA GPU\n"
    "[all]\n"
    "kernel=kernel8.img\n"
    "dtparam=pciex1\n"
    "dtparam=pciex1_gen=3\n"
    "# END homelab.nvidia_gpu.kernel_headers: Pi 5 with an NVIDIA GPU\n"
)


def test_boot_config_keeps_every_original_line_and_ends_with_the_block(host):
    original = host.file("/opt/config.txt.orig").content_string
    config = host.file(CONFIG).content_string
    assert config == original + BLOCK


def test_boot_config_was_backed_up_once(host):
    backups = host.check_output(f"ls {CONFIG}.*~ 2>/dev/null || true").split()
    assert len(backups) == 1, backups
    assert host.file(backups[0]).content_string == host.file("/opt/config.txt.orig").content_string


def test_4k_page_kernel_is_on_the_boot_partition(host):
    assert host.file("/boot/firmware/kernel8.img").exists
    assert host.package("linux-image-rpi-v8").is_installed


@pytest.mark.parametrize("release", RELEASES)
def test_headers_of_both_kernels_are_ready(host, release):
    flavour = release.split("+rpt-")[1]
    assert host.package(f"linux-headers-{flavour}").is_installed
    assert host.package(f"linux-headers-{release}").is_installed
    assert host.file(f"/lib/modules/{release}/build/Makefile").exists


def test_pi_archive_is_a_deb822_source_signed_by_its_checked_keyring(host):
    content = host.file("/etc/apt/sources.list.d/raspberrypi-archive.sources").content_string
    assert f"URIs: {MIRROR}\n" in content
    assert "Suites: bookworm\nComponents: main\n" in content
    assert "Signed-By: /etc/apt/keyrings/raspberrypi-archive.gpg\n" in content
    keyring = host.file("/etc/apt/keyrings/raspberrypi-archive.gpg")
    assert keyring.mode == 0o644 and not keyring.content.startswith(b"-----BEGIN")
    out = host.check_output(f"gpg --homedir /tmp --batch --show-keys --with-colons {keyring.path}")
    found = re.findall(r"^pub:[^\n]*\nfpr:+([0-9A-F]{40}):", out, re.M)
    assert found == [FINGERPRINTS["lab_raspberrypi_key_fingerprint"]]


@pytest.mark.parametrize("package", ["linux-headers-rpi-2712", "linux-headers-rpi-v8"])
def test_pi_archive_is_the_candidate_origin_of_the_headers(host, package):
    out = host.check_output(f"apt-cache policy {package}")
    candidate = re.search(r"Candidate: (\S+)", out).group(1)
    block = re.search(rf"^ (?:\*\*\*| {{3}}) {re.escape(candidate)} \d+\n((?:\s{{8}}.*\n?)+)", out, re.M)
    assert block, out
    assert f"{MIRROR} bookworm/main arm64 Packages" in block.group(1), out

"""What kernel_headers leaves on a lab container: the lab kernel's headers, ready for DKMS."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def release(host):
    return json.loads(host.file("/etc/ansible/facts.d/lab.fact").content_string)["kernel_release"]


def test_headers_package_of_the_target_kernel_is_installed(host, release):
    assert host.package(f"linux-headers-{release}").is_installed


def test_build_dir_of_the_target_kernel_exists(host, release):
    build = host.file(f"/lib/modules/{release}/build")
    assert build.exists and build.is_directory  # a symlink into /usr/src, followed
    assert host.file(f"/lib/modules/{release}/build/Makefile").exists
    assert host.file(f"/lib/modules/{release}/build/.config").exists


def test_headers_come_from_debian(host, release):
    out = host.check_output(f"apt-cache policy linux-headers-{release}")
    assert "deb.debian.org/debian" in out or "security.debian.org" in out, out


def test_no_metapackage_by_default(host, release):
    flavour = release.rsplit("-", 1)[-1]
    assert not host.package(f"linux-headers-{flavour}").is_installed


def test_boot_config_left_alone_on_a_board_that_is_not_a_pi5(host):
    assert not host.file("/boot/firmware/config.txt").exists


def test_refused_raspberry_pi_archive_left_nothing(host):
    assert not host.file("/etc/apt/keyrings/raspberrypi-archive.gpg").exists
    assert not host.file("/etc/apt/sources.list.d/raspberrypi-archive.sources").exists

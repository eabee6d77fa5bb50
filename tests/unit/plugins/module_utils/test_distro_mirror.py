# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The distro's own apt sources from one mirror URL (module_utils._distro_mirror)."""

from __future__ import annotations

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _distro_mirror as dm


def _stanzas(content):
    blocks = [b for b in content.split("\n\n") if b.strip()]
    return [dict(line.split(": ", 1) for line in b.splitlines() if not line.startswith("#")) for b in blocks]


def test_debian_bookworm_from_a_mirror_keeps_debians_keyring():
    out = dm.distro_sources({"distribution": "Debian", "release": "bookworm", "architecture": "aarch64"},
                            "https://mirrors.example.cn/debian/", "https://mirrors.example.cn/debian-security")
    main, security = _stanzas(out["content"])
    assert main == {"Types": "deb", "URIs": "https://mirrors.example.cn/debian", "Suites": "bookworm bookworm-updates",
                    "Components": "main contrib non-free non-free-firmware",
                    "Signed-By": "/usr/share/keyrings/debian-archive-keyring.gpg"}
    assert security["Suites"] == "bookworm-security" and security["URIs"].endswith("/debian-security")
    assert out["replaces"] == ["/etc/apt/sources.list", "/etc/apt/sources.list.d/debian.sources"]
    assert out["path"] == "/etc/apt/sources.list.d/homelab-distro.sources"


def test_defaults_are_the_distributions_own_servers():
    trixie = _stanzas(dm.distro_sources({"distribution": "Debian", "release": "trixie"})["content"])
    assert trixie[0]["URIs"] == "http://deb.debian.org/debian"
    assert trixie[1]["URIs"] == "http://deb.debian.org/debian-security"
    noble = _stanzas(dm.distro_sources({"distribution": "Ubuntu", "release": "noble",
                                        "architecture": "x86_64"})["content"])
    assert noble[0]["Suites"] == "noble noble-updates noble-backports"
    assert noble[0]["Components"] == "main restricted universe multiverse"
    assert noble[1]["URIs"] == "http://security.ubuntu.com/ubuntu"
    arm = _stanzas(dm.distro_sources({"distribution": "Ubuntu", "release": "jammy",
                                      "architecture": "aarch64"})["content"])
    assert arm[0]["URIs"] == arm[1]["URIs"] == "http://ports.ubuntu.com/ubuntu-ports"  # arm64 lives on ports


def test_bullseye_has_no_non_free_firmware():
    out = dm.distro_sources({"distribution": "Debian", "release": "bullseye"})
    assert "non-free-firmware" not in out["content"]


@pytest.mark.parametrize(("facts", "mirror", "message"), [
    ({"distribution": "Fedora", "release": "f41"}, "", "knows Debian, Ubuntu, not Fedora"),
    ({"distribution": "Debian", "release": "Bookworm 12"}, "", "codename"),
    ({"distribution": "Debian", "release": "bookworm"}, "ftp://mirror/debian", "http"),
    ({"distribution": "Debian", "release": "bookworm"}, "http://mirror/debian\nTypes: deb-src", "http"),
    ({"distribution": "Debian", "release": "bookworm"}, "http://mirror/debian [trusted=yes]", "http"),
])
def test_what_apt_would_misread_is_refused(facts, mirror, message):
    with pytest.raises(dm.DistroMirrorError, match=message):
        dm.distro_sources(facts, mirror)


def test_originals_are_the_files_that_exist_and_are_not_the_stub():
    import base64

    out = dm.distro_sources({"distribution": "Debian", "release": "bookworm"}, "http://mirror.lab/debian")

    def b64(text):
        return base64.b64encode(text.encode()).decode()

    slurped = [{"item": "/etc/apt/sources.list", "content": b64(out["stub"])},
               {"item": "/etc/apt/sources.list.d/debian.sources", "content": b64("Types: deb\n")},
               {"item": "/etc/apt/sources.list.d/gone.sources", "failed": True, "msg": "file not found"}]
    assert dm.originals(slurped) == ["/etc/apt/sources.list.d/debian.sources"]
    assert out["stub"].startswith(out["stub_mark"]) and out["disabled_dir"] in out["stub"]
    slurped[0]["content"] = b64("deb http://deb.debian.org/debian bookworm main\n")
    assert dm.originals(slurped)[0] == "/etc/apt/sources.list" and dm.originals(None) == []

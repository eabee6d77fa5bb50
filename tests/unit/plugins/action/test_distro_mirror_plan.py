# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action distro_mirror_plan, checked against the distributions' own sources (not the planner's table).

- Debian 12/13's debian.sources as the installer writes it (and as the lab images carry it): URIs
  http://deb.debian.org/debian with Suites <codename> <codename>-updates, and http://deb.debian.org/debian-security
  with <codename>-security; Components main (plus contrib non-free non-free-firmware when chosen);
  Signed-By /usr/share/keyrings/debian-archive-keyring.gpg (package debian-archive-keyring).
- Ubuntu 24.04's ubuntu.sources: http://archive.ubuntu.com/ubuntu (ports.ubuntu.com/ubuntu-ports on arm64), Suites
  <codename> <codename>-updates <codename>-backports and <codename>-security, Components main restricted universe
  multiverse, Signed-By /usr/share/keyrings/ubuntu-archive-keyring.gpg.
"""

from __future__ import annotations

from pathlib import Path
from unittest.mock import MagicMock

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.action.distro_mirror_plan import ActionModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_sources
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _distro_mirror

ROOT = Path(__file__).resolve().parents[4]
DEBIAN = {"distribution": "Debian", "release": "bookworm", "architecture": "x86_64"}
KEYRINGS = "".join(f"keyring\t/usr/share/keyrings/{d}-archive-keyring.gpg\n" for d in ("debian", "ubuntu"))
OWN = "own\t/etc/apt/sources.list.d/debian.sources\tTypes: deb\nown\t/etc/apt/sources.list\t# deb cdrom:[Debian]\n"


def run(args):
    task = MagicMock(args=args, async_val=0, check_mode=False, diff=False)
    action = ActionModule(task, MagicMock(), MagicMock(check_mode=False), MagicMock(), MagicMock(), MagicMock())
    return action.run(task_vars={"inventory_hostname": "node1"})


def plan(**args):
    result = run({**DEBIAN, "host_state": KEYRINGS + OWN, **args})
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    return result["plan"]


def stanzas(text):
    return [dict(stanza) for stanza in _apt_sources.parse(text)]


def test_nothing_to_do_without_a_mirror():
    assert plan() == {"active": False, "configure": False, "restore": False}


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_debians_own_sources_from_the_mirror(release):
    got = plan(url="http://mirror.example/debian/", security_url="http://mirror.example/debian-security",
               components=["main"], release=release)
    keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert stanzas(got["content"]) == [
        {"Types": "deb", "URIs": "http://mirror.example/debian", "Suites": f"{release} {release}-updates",
         "Components": "main", "Signed-By": keyring},
        {"Types": "deb", "URIs": "http://mirror.example/debian-security", "Suites": f"{release}-security",
         "Components": "main", "Signed-By": keyring}]
    assert got["default_mirror"] == "http://deb.debian.org/debian" and got["mirror"] == "http://mirror.example/debian"


def test_ubuntu_arm64_takes_ports():
    got = plan(url="http://mirror.example/ubuntu-ports", distribution="Ubuntu", release="noble",
               architecture="aarch64")
    assert got["default_mirror"] == "http://ports.ubuntu.com/ubuntu-ports"
    assert [s["Suites"] for s in stanzas(got["content"])] == ["noble noble-updates noble-backports", "noble-security"]
    assert stanzas(got["content"])[0]["Components"] == "main restricted universe multiverse"


def test_the_own_files_are_kept_then_disabled_and_the_stub_is_no_original():
    got = plan(url="http://mirror.example/debian")
    assert got["keep"] == [{"src": "/etc/apt/sources.list", "dest": "/etc/apt/homelab-disabled/sources.list"},
                           {"src": "/etc/apt/sources.list.d/debian.sources",
                            "dest": "/etc/apt/homelab-disabled/debian.sources"}]
    assert got["stub_sources_list"] is True and got["disable"] == ["/etc/apt/sources.list.d/debian.sources"]
    stubbed = KEYRINGS + f"own\t/etc/apt/sources.list\t{got['stub'].splitlines()[0]}\n"
    again = plan(url="http://mirror.example/debian", host_state=stubbed)
    assert again["keep"] == [] and again["stub_sources_list"] is False and again["disable"] == []


def test_absent_puts_the_kept_copies_back_where_they_were():
    got = plan(state="absent")
    assert got["restore"] is True and got["configure"] is False
    assert got["kept_to_original"] == {"sources.list": "/etc/apt/sources.list",
                                       "debian.sources": "/etc/apt/sources.list.d/debian.sources"}
    assert got["status"] == {"state": "absent", "mirror": None,
                             "path": "/etc/apt/sources.list.d/homelab-distro.sources", "kept_in": None}


def test_a_missing_keyring_is_refused_naming_its_package():
    result = run({**DEBIAN, "url": "http://mirror.example/debian", "host_state": OWN})
    assert result["failed"] is True
    assert result["msg"] == ("node1: /usr/share/keyrings/debian-archive-keyring.gpg is missing (package "
                             "debian-archive-keyring): apt could not check the mirror's signatures. Nothing was "
                             "changed.")


@pytest.mark.parametrize(("args", "named"), [
    ({"url": "ftp://mirror.example/debian"}, "distro_mirror_url"),
    ({"url": "http://m/debian", "components": "main"}, "distro_mirror_components"),
    ({"url": "http://m/debian", "distribution": "Fedora"}, "not Fedora"),
    ({"state": "gone"}, "distro_mirror_state"),
])
def test_refusals_name_the_variable(args, named):
    result = run({**DEBIAN, "host_state": KEYRINGS, **args})
    assert result["failed"] is True and named in result["msg"] and "Traceback" not in result["msg"]


def test_host_state_reads_every_own_file_and_keyring_the_planner_knows():
    script = (ROOT / "roles/distro_mirror/files/host_state.sh").read_text()
    for distro in _distro_mirror.DISTROS.values():
        assert all(path in script for path in distro["own"]) and distro["keyring"] in script


def test_the_scripts_output_over_an_ssh_tty_reads_the_same():
    crlf = (KEYRINGS + OWN).replace("\n", "\r\n")
    assert plan(url="http://mirror.example/debian", host_state=crlf) == plan(url="http://mirror.example/debian")

# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action kernel_headers_plan, checked against sources outside the planner.

- Debian's archive: tests/unit/fixtures/kernel_headers/debian.json (refresh.py beside it) records, from
  deb.debian.org's Packages indexes of bookworm and trixie (amd64, arm64; the -security suites too), every
  linux-image-<release> and linux-headers-<release> package and what the flavour metapackages linux-image-<arch>
  and linux-headers-<arch> depend on. ``uname -r`` is the part after linux-image-.
- The Raspberry Pi archive (archive.raspberrypi.com/debian, bookworm main arm64, read late 2026;
  ../shared/reference/upstream-facts.md): ``uname -r`` 6.12.47+rpt-rpi-2712 / +rpt-rpi-v8, headers
  linux-headers-rpi-2712 / linux-headers-rpi-v8 (and -rt) plus the versioned linux-headers-<release>; the 4K-page
  kernel8.img from linux-image-rpi-v8; the key raspberrypi.gpg.key with fingerprint
  CF8A 1AF5 02A2 AA2D 763B AE7E 82B1 2992 7FA3 303E; Raspberry Pi's documentation's config.txt lines
  ``kernel=kernel8.img``, ``dtparam=pciex1``, ``dtparam=pciex1_gen=3``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.action.kernel_headers_plan import ActionModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_sources
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[4]
DEBIAN = json.loads((ROOT / "tests/unit/fixtures/kernel_headers/debian.json").read_text())["suites"]
WITH_METAPACKAGES = sorted(k for k, v in DEBIAN.items() if v["metapackages"])
RPI_KEY = "CF8A 1AF5 02A2 AA2D 763B AE7E 82B1 2992 7FA3 303E"
HOST = {"distribution": "Debian", "distribution_release": "bookworm"}


def run(args, check_mode=False):
    task = MagicMock(args=args, async_val=0, check_mode=check_mode, diff=False)
    action = ActionModule(task, MagicMock(), MagicMock(check_mode=check_mode), MagicMock(), MagicMock(), MagicMock())
    return action.run(task_vars={})


def plan(check_mode=False, **args):
    result = run({**HOST, **args}, check_mode)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is False
    return result["plan"]


def refusal(**args):
    result = run({**HOST, **args})
    assert result.get("failed") is True and "plan" not in result and "Traceback" not in result["msg"]
    return result["msg"]


def depends(suite, name):
    """linux-headers-6.1.0-50-amd64 of 'linux-headers-6.1.0-50-amd64 (= 6.1.176-1)'."""
    return re.match(r"[^ ,]+", DEBIAN[suite]["metapackages"][name]).group(0)


@pytest.mark.parametrize("suite", WITH_METAPACKAGES)
def test_the_current_debian_kernel_gets_the_headers_debians_metapackage_names(suite):
    arch = suite.split("/")[1]
    release = depends(suite, f"linux-image-{arch}").removeprefix("linux-image-")
    got = plan(running_release=release, metapackage=True)
    assert got["packages"] == [depends(suite, f"linux-headers-{arch}"), f"linux-headers-{arch}"]
    assert got["releases"] == [release]


@pytest.mark.parametrize("suite", WITH_METAPACKAGES)
def test_every_debian_kernel_image_has_the_headers_package_the_plan_names(suite):
    """The uname -r of each image (plain, cloud and rt flavours) -> a headers package the index carries. The
    -security suites keep older images than headers (what the role's missing-headers refusal is for)."""
    images = [name.removeprefix("linux-image-") for name in DEBIAN[suite]["images"] if not name.endswith("-unsigned")]
    with_headers = [r for r in images if f"linux-headers-{r}" in DEBIAN[suite]["headers"]]
    assert len(with_headers) >= 3 and {r.split("-")[-2] for r in with_headers} >= {"cloud", "rt"}
    if not suite.split("/")[0].endswith("-security"):
        assert with_headers == images
    for release in with_headers:
        assert plan(running_release=release)["headers"] == [f"linux-headers-{release}"]


@pytest.mark.parametrize("suite", WITH_METAPACKAGES)
def test_a_newer_installed_kernel_of_the_running_flavour_only_is_prepared(suite):
    arch = suite.split("/")[1]
    releases = [n.removeprefix("linux-image-") for n in DEBIAN[suite]["images"] if not n.endswith("-unsigned")]
    plain = sorted((r for r in releases if re.fullmatch(rf"[0-9.]+(-[0-9]+)?(\+deb[0-9]+)?-{arch}", r)),
                   key=lambda r: [int(n) for n in re.findall(r"[0-9]+", r)])
    older, newer = plain[0], plain[-1]
    others = [r for r in releases if r.endswith((f"-cloud-{arch}", f"-rt-{arch}"))]
    state = "".join(f"pending\t{r}\n" for r in [newer, *others])
    got = plan(running_release=older, host_state=state)
    assert got["releases"] == [older, newer]
    assert got["reboot_required"] is True and got["reboot_into"] == [newer]
    assert plan(running_release=older, host_state=state, include_pending=False)["releases"] == [older]


def test_a_kernel_without_a_package_name_is_refused_by_name():
    msg = refusal(running_release="6.1.0-26-amd64", kernels=["../../etc"])
    assert msg.startswith("kernel_headers_kernels must be a list of kernel releases such as 6.1.0-26-amd64")
    assert refusal(running_release="6.1.0-26-amd64", kernels=[5]).startswith("kernel_headers_kernels must be")


def test_no_kernel_to_prepare_is_refused():
    assert refusal(running_release="6.1.0-26-amd64", include_running=False).startswith("No target kernel:")


def test_the_missing_headers_sentence_names_debians_archive_and_release():
    (target,) = plan(running_release="6.12.48+deb13-arm64", distribution_release="trixie")["targets"]
    assert target["repo"] == "the Debian archive (trixie main, or trixie-updates/-security for a newer ABI)"


PI5 = {"running_release": "6.12.47+rpt-rpi-2712", "pi5_gpu": True, "raspberrypi_manage_repo": True,
       "raspberrypi_key_fingerprint": RPI_KEY, "pciex1_gen": 3,
       "host_state": "marker\t/etc/rpi-issue\nmodel\tRaspberry Pi 5 Model B Rev 1.0\x00\n"}


def test_a_pi5_with_a_gpu_gets_both_flavours_headers_and_the_4k_page_kernel():
    got = plan(**PI5)
    assert got["packages"] == ["linux-headers-rpi-2712", "linux-headers-6.12.47+rpt-rpi-2712",
                               "linux-headers-rpi-v8", "linux-headers-6.12.47+rpt-rpi-v8", "linux-image-rpi-v8"]
    assert got["pi5_boot"] is True and got["reboot_required"] is True
    assert got["reboot_into"] == ["6.12.47+rpt-rpi-v8"]
    assert got["boot"]["block"] == "[all]\nkernel=kernel8.img\ndtparam=pciex1\ndtparam=pciex1_gen=3\n"
    assert got["boot"]["kernel_path"] == "/boot/firmware/kernel8.img"
    assert plan(**{**PI5, "pciex1_gen": 0})["boot"]["block"] == "[all]\nkernel=kernel8.img\ndtparam=pciex1\n"


def test_the_pi_archive_is_the_deb822_form_of_the_documented_source_line():
    archive = plan(**PI5)["archive"]
    (stanza,) = _apt_sources.parse(archive["sources"])
    assert dict(stanza) == {"Types": "deb", "URIs": "http://archive.raspberrypi.com/debian", "Suites": "bookworm",
                            "Components": "main", "Signed-By": "/etc/apt/keyrings/raspberrypi-archive.gpg"}
    assert archive["key_url"] == "http://archive.raspberrypi.com/debian/raspberrypi.gpg.key"
    assert archive["fingerprint"] == RPI_KEY.replace(" ", "")
    assert archive["sources"].startswith("# Ansible managed (homelab.nvidia_gpu.kernel_headers)\n")


def test_an_archive_about_to_be_added_refreshes_the_lists_and_check_mode_cannot_look_it_up():
    fresh = plan(**{**PI5, "host_state": PI5["host_state"] + "fresh\t/var/lib/apt/lists\n"}, check_mode=True)
    assert fresh["resolvable"] is False and fresh["refresh_lists"] is True
    sources = plan(**PI5)["archive"]["sources"]
    state = PI5["host_state"] + "".join(f"source\t/etc/apt/sources.list.d/raspberrypi-archive.sources\t{line}\n"
                                        for line in sources.split("\n")[:-1])
    in_place = plan(**{**PI5, "host_state": state}, check_mode=True)
    assert in_place["resolvable"] is True and in_place["refresh_lists"] is True
    assert plan(**{**PI5, "host_state": state + "fresh\t/var/lib/apt/lists\n"})["refresh_lists"] is False


RASPI_LIST = "source\t/etc/apt/sources.list.d/raspi.list\t{}deb http://archive.raspberrypi.com/debian/ bookworm main\n"


def test_a_second_source_of_the_pi_archive_is_refused():
    state = PI5["host_state"] + RASPI_LIST.format("")
    msg = refusal(**{**PI5, "host_state": state})
    assert msg.startswith("/etc/apt/sources.list.d/raspi.list already configure http://archive.raspberrypi.com/debian")
    commented = PI5["host_state"] + RASPI_LIST.format("#")
    assert plan(**{**PI5, "host_state": commented})["raspberrypi_archive"] is True


@pytest.mark.parametrize("fingerprint", ["", "7FA3303E", "0x" + "0" * 39])
def test_managing_the_archive_without_a_full_fingerprint_is_refused(fingerprint):
    msg = refusal(**{**PI5, "raspberrypi_key_fingerprint": fingerprint})
    assert msg.startswith("kernel_headers_raspberrypi_manage_repo is true but kernel_headers_raspberrypi_key_fing")
    assert msg.endswith("Nothing is trusted without it.")


def test_a_pi5_on_a_debian_kernel_is_refused_and_another_board_is_left_alone():
    msg = refusal(**{**PI5, "running_release": "6.1.0-26-arm64", "raspberrypi_manage_repo": False})
    assert msg.startswith("This Pi 5 runs kernel 6.1.0-26-arm64, not a Raspberry Pi OS kernel")
    result = run({**HOST, **PI5, "host_state": "model\tRaspberry Pi 4 Model B Rev 1.5\n"})
    assert result["plan"]["pi5_boot"] is False and result["plan"]["packages"][-1] != "linux-image-rpi-v8"
    assert "not a Raspberry Pi 5" in result["warnings"][0]


def test_an_unknown_option_is_refused_by_the_argument_spec():
    assert "Unsupported parameters" in refusal(running_release="6.1.0-26-amd64", kernel_headers_kernels=[])


def test_the_scripts_output_over_an_ssh_tty_reads_the_same():
    state = PI5["host_state"] + "pending\t6.12.50+rpt-rpi-2712\n"
    assert plan(**{**PI5, "host_state": state.replace("\n", "\r\n")}) == plan(**{**PI5, "host_state": state})


SMUGGLED = st.builds(lambda a, sep, b: a + sep + b,
                     st.sampled_from(["http://archive.raspberrypi.com/debian", "/etc/apt/keyrings"]),
                     st.sampled_from(["\n", "\r\n", "\r", "\x0b", "\x85", "\u2028", " ", "\t", "\n ", "\n#", "\x00"]),
                     st.sampled_from(["Trusted: yes", "Signed-By: /tmp/evil.gpg", "[trusted=yes]", ""]))


@settings(max_examples=100, deadline=None)
@given(variable=st.sampled_from(["raspberrypi_base_url", "raspberrypi_keyring_dir"]),
       value=st.one_of(SMUGGLED, st.text(max_size=30)))
def test_a_hostile_archive_value_is_refused_by_name_or_stays_in_its_field(variable, value):
    """Was the hostile test of the role's raspberrypi-archive.sources.j2 (tests/unit/hostile, issue #31)."""
    result = run({**HOST, **PI5, variable: value})
    if result.get("failed"):
        assert f"kernel_headers_{variable}" in result["msg"] and "Traceback" not in result["msg"], result["msg"]
        return
    (stanza,) = _apt_sources.parse(result["plan"]["archive"]["sources"])
    assert [field for field, _value in stanza] == ["Types", "URIs", "Suites", "Components", "Signed-By"]


def test_headers_dpkg_has_already_are_neither_refreshed_nor_looked_up():
    """A no-op run: host_state.sh's installed lines (dpkg-query's own output, rewritten) cover every planned package."""
    running = "6.1.0-26-amd64"
    first = plan(running_release=running, host_state="")
    assert first["missing"] == first["packages"] and first["resolvable"] is True and first["refresh_lists"] is True
    installed = "".join(f"installed\t{name}\n" for name in first["packages"])
    again = plan(running_release=running, host_state=installed)
    assert again["missing"] == [] and again["resolvable"] is False and again["refresh_lists"] is False
    one_short = plan(running_release=running, host_state="".join(installed.splitlines(True)[1:]))
    assert one_short["missing"] == first["packages"][:1] and one_short["resolvable"] is True

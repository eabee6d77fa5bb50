# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import shutil
import subprocess

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.apt_policy import FilterModule
from ansible_collections.homelab.nvidia_gpu.plugins.filter.apt_unsatisfied import FilterModule as UnsatisfiedFilters

F = FilterModule().filters()
F_UNSAT = UnsatisfiedFilters().filters()
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


def test_apt_missing_lists_the_wanted_names_without_a_candidate_in_order():
    got = F["apt_missing"](POLICY, ["cuda-drivers", "nvidia-kernel-dkms", "nvidia-driver-pinning-580",
                                    "nvidia-container-toolkit"])
    assert got == ["nvidia-kernel-dkms", "nvidia-driver-pinning-580"]
    assert F["apt_missing"]("", ["gpg"]) == ["gpg"]
    with pytest.raises(AnsibleFilterError, match="apt_missing"):
        F["apt_missing"](POLICY, "cuda-drivers")
    with pytest.raises(AnsibleFilterError, match="apt_policy"):
        F["apt_missing"](None, ["gpg"])


DPKG = (
    "ii \tgpg\t2.2.40-1.1\n"
    "hi \tnvidia-kernel-dkms\t580.95.05-1\n"
    "rc \tcontainerd\t1.6.20~ds1-1\n"
    "iU \tdocker.io\t20.10.24+dfsg1-1\n"
    "un \tpciutils\t\n"
    "iiR\tbroken\t1.0-1\n"
    "ii \tlibc6\t2.36-9\n"
    "ii \tlibc6\t2.36-9\n"
)


def test_apt_unsatisfied_keeps_only_specs_dpkg_does_not_have():
    got = F_UNSAT["apt_unsatisfied"](DPKG, [
        "gpg", "nvidia-kernel-dkms=580.*", "containerd", "docker.io", "pciutils", "broken", "absent", "libc6=2.36-9",
    ])
    # held counts as installed; config files only, unpacked, unknown, reinstall-required and absent do not
    assert got == ["containerd", "docker.io", "pciutils", "broken", "absent"]


def test_apt_dpkg_status_gives_selection_state_and_version_per_name():
    got = F_UNSAT["apt_dpkg_status"](DPKG, ["nvidia-kernel-dkms", "gpg", "containerd", "absent"])
    assert got == {"nvidia-kernel-dkms": "hi 580.95.05-1", "gpg": "ii 2.2.40-1.1", "containerd": "rc 1.6.20~ds1-1",
                   "absent": ""}
    with pytest.raises(AnsibleFilterError, match="apt_dpkg_status"):
        F_UNSAT["apt_dpkg_status"](DPKG, "gpg")
    with pytest.raises(AnsibleFilterError, match="apt_dpkg_status"):
        F_UNSAT["apt_dpkg_status"](None, ["gpg"])


def test_apt_unsatisfied_versions_exact_and_glob():
    f = F_UNSAT["apt_unsatisfied"]
    assert f(DPKG, ["nvidia-kernel-dkms=580.95.05-1"]) == []
    assert f(DPKG, ["nvidia-kernel-dkms=580.95.06-1"]) == ["nvidia-kernel-dkms=580.95.06-1"]
    assert f(DPKG, ["nvidia-kernel-dkms=570.*"]) == ["nvidia-kernel-dkms=570.*"]
    assert f(DPKG, ["nvidia-kernel-dkms=58*"]) == []
    # a spec it does not parse goes to apt
    assert f(DPKG, ["gpg>=2", "gpg:amd64"]) == ["gpg>=2", "gpg:amd64"]
    assert f("", ["gpg"]) == ["gpg"]


@pytest.mark.parametrize("text, specs", [(None, ["gpg"]), ("", "gpg"), ("", None), (["ii"], ["gpg"])])
def test_apt_unsatisfied_refuses_bad_input(text, specs):
    with pytest.raises(AnsibleFilterError, match="apt_unsatisfied"):
        F_UNSAT["apt_unsatisfied"](text, specs)


def test_dpkg_query_argv_names_each_package_once_without_versions():
    argv = F_UNSAT["apt_dpkg_query_argv"](["gpg", "cuda-drivers=580.*", "gpg", "libc6:amd64"])
    assert argv[:2] == ["dpkg-query", "-W"] and argv[3] == "--"
    assert argv[4:] == ["gpg", "cuda-drivers", "libc6"]


@pytest.mark.parametrize("packages", [[], "gpg", None])
def test_dpkg_query_argv_refuses_no_list_or_an_empty_one(packages):
    # an empty list would make dpkg-query list every package on the host
    with pytest.raises(AnsibleFilterError, match="apt_dpkg_query_argv"):
        F_UNSAT["apt_dpkg_query_argv"](packages)


def test_dpkg_query_format_matches_the_parser():
    # what dpkg-query prints for the argv's -f format (it expands \t and \n itself) is what the parser reads
    fmt = F_UNSAT["apt_dpkg_query_argv"](["gpg"])[2][len("-f="):]
    line = fmt.replace("${db:Status-Abbrev}", "ii ").replace("${Package}", "gpg").replace("${Version}", "2.2")
    line = line.replace("\\t", "\t").replace("\\n", "\n")
    assert F_UNSAT["apt_unsatisfied"](line, ["gpg=2.2", "gpg=2.3"]) == ["gpg=2.3"]


@pytest.mark.skipif(not shutil.which("dpkg-query"), reason="needs a Debian host's dpkg-query")
def test_the_real_dpkg_query_answers_in_the_parsed_format():
    # dpkg is installed on every Debian host; the second name is one no archive has
    argv = F_UNSAT["apt_dpkg_query_argv"](["dpkg", "homelab-no-such-package"])
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 1  # some name unknown: the roles' failed_when allows rc 1 only
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "dpkg"], capture_output=True, text=True,
                             check=True).stdout
    specs = ["dpkg", f"dpkg={version}", "dpkg=0.0-0", "homelab-no-such-package"]
    assert F_UNSAT["apt_unsatisfied"](done.stdout, specs) == ["dpkg=0.0-0", "homelab-no-such-package"]

# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""State after the nvidia_driver_debian scenario, read from Debian's own data (dpkg, the package's dkms.conf,
DKMS, modinfo): bookworm's real nvidia-kernel-dkms built for the target kernel; on trixie, contrib's open
nvidia-open-kernel-dkms did not build, and the host's packages are as before the role tried."""

from __future__ import annotations

import json
import re

import pytest


@pytest.fixture(scope="module")
def kernel(host):
    return json.loads(host.file("/etc/ansible/facts.d/lab.fact").content_string)["kernel_release"]


@pytest.fixture(scope="module")
def codename(host):
    return host.system_info.codename


def dkms_conf(host, package):
    """PACKAGE_NAME, PACKAGE_VERSION and the first module's DEST_MODULE_NAME (else BUILT_MODULE_NAME) and
    DEST_MODULE_LOCATION from the package's own dkms.conf ($PACKAGE_NAME expanded, as DKMS does)."""
    path = next(p for p in host.check_output(f"dpkg-query -L {package}").splitlines()
                if re.fullmatch(r"/usr/src/[^/]+/dkms\.conf", p))
    text = host.file(path).content_string

    def value(key):
        match = re.search(rf'^{re.escape(key)}="?([^"\n]*)"?$', text, re.M)
        return match.group(1) if match else None

    name = value("PACKAGE_NAME")
    module = (value("DEST_MODULE_NAME[0]") or value("BUILT_MODULE_NAME[0]")).replace("$PACKAGE_NAME", name)
    return {"name": name, "version": value("PACKAGE_VERSION"), "module": module,
            "location": value("DEST_MODULE_LOCATION[0]")}


def test_bookworm_module_is_nvidias_real_proprietary_build_for_the_target_kernel(host, codename, kernel):
    if codename != "bookworm":
        pytest.skip("the proprietary build runs on the bookworm host")
    package = host.package("nvidia-kernel-dkms")
    assert package.is_installed
    version = package.version.split("-")[0]  # Debian's upstream version of the package, as apt installed it
    assert version.startswith("535.")
    conf = dkms_conf(host, "nvidia-kernel-dkms")
    assert conf["version"] == version
    name = conf["name"]
    out = host.check_output(f"dkms status -m {name} -v {version}")
    assert re.search(rf"^{re.escape(name)}/{re.escape(version)}, {re.escape(kernel)}, [^:]+: installed", out, re.M), out
    # Where the package's dkms.conf tells DKMS to put it (Debian's: /updates/dkms/nvidia-current.ko).
    ko = f"/lib/modules/{kernel}{conf['location']}/{conf['module']}.ko"
    assert host.file(ko).exists, host.check_output(f"find /lib/modules/{kernel} -name '*.ko*'")
    assert host.check_output(f"modinfo -F version {ko}") == version
    assert host.check_output(f"modinfo -F vermagic {ko}").startswith(kernel + " ")
    assert host.check_output(f"modinfo -F license {ko}") == "NVIDIA"  # the proprietary flavour
    # The role's fact names the same DKMS module.
    fact = json.loads(host.file("/etc/ansible/facts.d/nvidia_driver.fact").content_string)
    assert (fact["dkms_module"], fact["version"]) == (name, version)
    assert not host.file("/etc/ansible/facts.d/nvidia_driver_build_failure.fact").exists


def test_bookworm_packages_are_held_and_non_free_enabled(host, codename):
    if codename != "bookworm":
        pytest.skip("the driver is installed on the bookworm host")
    holds = host.check_output("apt-mark showhold").split()
    assert {"nvidia-kernel-dkms", "nvidia-smi", "libcuda1"} <= set(holds)
    sources = host.file("/etc/apt/sources.list.d/nvidia-driver-debian-non-free.sources").content_string
    assert "Components: contrib non-free non-free-firmware" in sources


def installed(host):
    rows = {}
    query = "dpkg-query -W -f='${db:Status-Abbrev}|${binary:Package}|${Version}\\n'"
    for line in host.check_output(query).splitlines():
        status, name, version = line.split("|")
        rows[name] = (status.strip(), version)
    return rows


def test_trixie_dpkg_is_clean_and_nothing_that_was_there_is_gone(host, codename):
    if codename != "trixie":
        pytest.skip("the open flavour's build fails on the trixie host")
    now = installed(host)
    assert host.check_output("dpkg --audit") == ""
    assert [n for n, (status, _v) in now.items() if status not in ("ii", "rc", "un", "pn")] == []
    before = {}
    for line in host.file("/var/lib/lab-dpkg-before-converge.txt").content_string.splitlines():
        status, name, version = line.split("|")
        if status.strip() == "ii":
            before[name] = version  # an upgrade that apt pulled in may stay
    assert [n for n in before if now.get(n, ("", ""))[0] != "ii"] == []
    # The failed install's packages are gone (dkms too: it came with them); patch, which dkms wants, was there: stays.
    driver = re.compile(r"nvidia|cuda|glx|dkms")
    assert sorted(n for n, (status, _v) in now.items() if status == "ii" and driver.search(n) and n not in before) == []
    assert now["patch"][0] == "ii"
    assert host.run("apt-get install --simulate hello").rc == 0  # apt goes on
    assert not host.file("/var/lib/dkms/nvidia-current-open").exists  # DKMS's tree went with the package


def test_trixie_failure_is_recorded_with_dkms_own_first_error(host, codename, kernel):
    if codename != "trixie":
        pytest.skip("the open flavour's build fails on the trixie host")
    record = json.loads(host.file("/etc/ansible/facts.d/nvidia_driver_build_failure.fact").content_string)
    assert record["package"] == "nvidia-open-kernel-dkms"
    # The version apt offers (Debian's data), and the kernel DKMS's own make.log names in its header.
    candidate = re.search(r"Candidate: (\S+)", host.check_output("apt-cache policy nvidia-open-kernel-dkms")).group(1)
    assert record["version"] == candidate
    log = host.file(record["make_log"])
    assert log.exists
    first = log.content_string.splitlines()[0]
    assert f" for kernel {kernel} " in first, first
    error = host.check_output(f"grep -m1 -E ': (fatal )?error: ' {record['make_log']}")
    assert error.endswith(record["first_error"]), (error, record["first_error"])
    assert record["kernel"] == kernel
    assert f"does not build for kernel {kernel}: {record['first_error']}" in record["message"]
    assert not host.file("/etc/ansible/facts.d/nvidia_driver.fact").exists

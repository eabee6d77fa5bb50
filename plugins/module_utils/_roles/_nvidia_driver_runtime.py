# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia_driver's runtime decisions after install: why a reboot is needed, why the module is not
loaded here, and what nvidia-smi said (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_policy
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu._gpu_plan import parse_branch, runfile_version

# Containers share the host's kernel: never load modules, reboot or run nvidia-smi there.
CONTAINER_TYPES = ("docker", "podman", "container", "containerd", "lxc", "systemd-nspawn", "openvz", "wsl")


def in_container(virtualization_role: str | None, virtualization_type: str | None) -> bool:
    return (virtualization_role or "") == "guest" and (virtualization_type or "") in CONTAINER_TYPES


def reboot_reasons(*, container: bool, gpu_present: bool, headers_reboot: bool, kernel: str,
                   kernels: Sequence[str], nouveau_loaded: bool, loaded_version: str | None,
                   installed_version: str) -> list[str]:
    """Why the running kernel cannot load the installed module (only judged with a GPU, never in a container)."""
    kernel = _shapes.text(kernel, "kernel")
    kernels = _values.string_list(kernels, "kernels")
    loaded_version = _shapes.text(loaded_version, "loaded_version")
    installed_version = _shapes.text(installed_version, "installed_version")
    if container or not gpu_present:
        return []
    reasons = []
    if headers_reboot:
        reasons.append("kernel_headers prepared a kernel or boot configuration that is not running yet")
    if kernel not in kernels:
        reasons.append(f"the running kernel {kernel} is not a target kernel of the module")
    if nouveau_loaded:
        reasons.append("nouveau is loaded")
    loaded = (loaded_version or "").strip()
    if loaded and installed_version and loaded != installed_version:
        reasons.append(f"nvidia {loaded} is loaded, {installed_version} is installed")
    return reasons


def runtime_skip(*, container: bool, virtualization_type: str | None, gpu_present: bool, simulated: bool,
                 reasons: Sequence[str], rebooted: bool, check_mode: bool, installed_version: str) -> str:
    """Why the module is not loaded and nvidia-smi not run here; '' when both should happen."""
    virtualization_type = _shapes.text(virtualization_type, "virtualization_type")
    reasons = [_shapes.text(r, f"reasons[{i}]") for i, r in enumerate(_shapes.sequence(reasons, "reasons"))]
    installed_version = _shapes.text(installed_version, "installed_version")
    if container:
        return f"this host is a container ({virtualization_type}), whose kernel belongs to its host"
    if not gpu_present:
        return "no NVIDIA GPU is enumerated"
    if simulated:
        return "the GPU is simulated (gpu_plan_fake_hardware replaced the live PCI bus with a dump)"
    if reasons and not rebooted:
        return f"a reboot is required first ({'; '.join(reasons)}); set nvidia_driver_reboot: true"
    if check_mode and not installed_version:
        return "check mode, and the driver is not installed yet"
    return ""


def smi_facts(query_lines: Sequence[str] | None, smi_stdout: str | None, skip_reason: str) -> dict:
    """`nvidia-smi --query-gpu=name,driver_version --format=csv,noheader` lines and the plain `nvidia-smi`
    output -> {ran, reason, gpu_names, driver_version, cuda_version}; not run -> the reason."""
    if query_lines is None:
        return {"ran": False, "reason": _shapes.text(skip_reason, "skip_reason"), "gpu_names": [],
                "driver_version": None, "cuda_version": None}
    query_lines = _shapes.lines(query_lines, "query_lines (nvidia-smi --query-gpu's stdout_lines)")
    smi_stdout = _shapes.text(smi_stdout, "smi_stdout")
    names = [line.rsplit(",", 1)[0].strip() for line in query_lines]
    driver = query_lines[0].split(",")[-1].strip() if query_lines else ""
    cuda = re.search(r"CUDA Version:\s*([0-9.]+)", smi_stdout or "")
    return {"ran": True, "reason": None, "gpu_names": names, "driver_version": driver,
            "cuda_version": cuda.group(1) if cuda else None}


_DKMS_INSTALLED = re.compile(r":\s*installed")


def dkms_missing(results: Sequence[Mapping] | None) -> list[str]:
    """The kernels whose registered `dkms status -k` result does not say installed (skipped results left out)."""
    return [_shapes.plain(r.get("item")) for r in _shapes.registered_list(results, "the dkms status results")
            if not r.get("skipped") and not _DKMS_INSTALLED.search(_shapes.plain(r.get("stdout") or ""))]


def dkms_failure(*, name: str, version: str, kernels: Sequence[str], missing: Sequence[str],
                 installs: Sequence[Mapping] | None = None, make_logs: Sequence[Mapping] | None = None) -> str:
    """Why the DKMS module is missing: each failed `dkms install` and the tail of each make.log, in words."""
    name, version = _shapes.text(name, "name"), _shapes.text(version, "version")
    kernels, missing = _values.string_list(kernels, "kernels"), _values.string_list(missing, "missing")
    lines = [f"DKMS has no installed {name}/{version} for {', '.join(missing)} (targets: {', '.join(kernels)})."]
    for run in _shapes.registered_list(installs, "installs (the dkms install results)"):
        if run.get("item") in missing:
            said = [line for key in ("stderr_lines", "stdout_lines")
                    for line in _shapes.lines(run.get(key), f"installs' {key}") if line]
            lines.append(f"dkms install -k {_shapes.plain(run.get('item'))} (rc {_shapes.plain(run.get('rc', '?'))}):"
                         f" {said[-1] if said else ''}")
    for log in _shapes.registered_list(make_logs, "make_logs (the make.log results)"):
        kernel = _shapes.plain(log.get("item"))
        lines.append(_shapes.plain(log.get("stdout") or "")
                     or f"(no make.log: were the headers of {kernel} installed? /lib/modules/{kernel}/build)")
    return "\n".join(lines)


# A DKMS build that failed inside apt: what dpkg and DKMS say, the host put back, the sentence for the operator.
# gcc's diagnostic (`file:line[:col]: [fatal ]error: text`), else kbuild's modpost `ERROR:` or make's `*** ... Error`.
_COMPILER_ERROR = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+)(?::\d+)?: (?:fatal )?error: .+$", re.M)
_OTHER_ERROR = re.compile(r"^(?:ERROR: .+|.*\*\*\* .*Error \d+.*)$", re.M)
# dkms 3.x: "DKMS (dkms-3.2.2) make.log for nvidia-current-open/550.163.01 for kernel 6.12.118+deb13-amd64 (x86_64)"
_MAKE_LOG_HEADER = re.compile(r"make\.log for (?P<module>\S+?)/(?P<version>\S+) for kernel (?P<kernel>\S+)")
# dpkg's current-state letter (2nd of db:Status-Abbrev): the package's files are on disk in these states.
_DPKG_PRESENT = "iUFHWt"
_DPKG_INSTALLED = "iWt"


def first_build_error(make_log: str | None) -> str:
    """The first compiler error of a DKMS make.log, its path relative to DKMS's build directory; else the first
    modpost or make error line; '' when the log names none."""
    text = _shapes.text(make_log, "make_log") or ""
    found = _COMPILER_ERROR.search(text) or _OTHER_ERROR.search(text)
    if not found:
        return ""
    line = found.group(0).strip()
    return re.sub(r"^/var/lib/dkms/[^/\s]+/[^/\s]+/build/", "", line)


def make_log_kernel(make_log: str | None) -> str:
    """The kernel a DKMS make.log was written for (its header line), '' when it does not say."""
    found = _MAKE_LOG_HEADER.search(_shapes.text(make_log, "make_log") or "")
    return found.group("kernel") if found else ""


def _dpkg_rows(lines: Sequence[str], what: str) -> dict[str, tuple[str, str]]:
    """`${db:Status-Abbrev}|${binary:Package}|${Version}` lines -> {package: (status, version)}."""
    rows = {}
    for line in _shapes.lines(lines, what):
        fields = line.split("|")
        if len(fields) != 3 or len(fields[0].strip()) < 2 or not fields[1]:
            continue
        rows[fields[1]] = (fields[0].strip(), fields[2])
    return rows


def install_rollback(before: Sequence[str], after: Sequence[str]) -> dict[str, list[str]]:
    """What puts dpkg back where it was before a failed apt install, from `dpkg-query -W
    -f='${db:Status-Abbrev}|${binary:Package}|${Version}\\n'` before and after: purge what was not on the host
    (not even as config files), remove what had only config files left, install again at its version what was
    installed and is gone (an upgrade the install pulled in stays: apt's own choice, never a downgrade); `broken`
    lists what dpkg leaves unconfigured now."""
    old = _dpkg_rows(before, "the dpkg lines before the install")
    new = _dpkg_rows(after, "the dpkg lines after the install")
    purge, remove, restore, broken = [], [], [], []
    for name, (status, _version) in sorted(new.items()):
        if status[1] not in _DPKG_PRESENT:
            continue
        if status[1] not in _DPKG_INSTALLED:
            broken.append(name)
        was = old.get(name)
        if was is None or was[0][1] in "n":
            purge.append(name)
        elif was[0][1] not in _DPKG_PRESENT:
            remove.append(name)
    for name, (status, version) in sorted(old.items()):
        if status[1] in _DPKG_INSTALLED:
            now = new.get(name)
            if now is None or now[0][1] not in _DPKG_PRESENT:
                restore.append(f"{name}={version}")
    return {"purge": purge, "remove": remove, "restore": restore, "broken": broken}


def build_way_out(flavour: str, source: str, platform: str = "") -> list[str]:
    """The ways out of a driver module that does not build for a kernel, for this flavour and source."""
    flavour, source = _shapes.text(flavour, "flavour"), _shapes.text(source, "source")
    ways = []
    if flavour == "open" and (_shapes.text(platform, "platform") or "") != "raspberry_pi_5":
        ways.append("the proprietary flavour (nvidia_driver_module_flavour: proprietary) where the card allows it"
                    " (Maxwell to Ada Lovelace; Blackwell needs the open modules)")
    if source == "debian":
        ways.append("another source or branch (nvidia_driver_source: cuda_repo, NVIDIA's repository, or runfile)")
    elif source == "cuda_repo":
        ways.append("another branch (nvidia_driver_branch) or source (nvidia_driver_source: debian or runfile)")
    else:
        ways.append("another runfile (nvidia_driver_runfile_url) or source (nvidia_driver_source: cuda_repo)")
    ways.append("or the previous kernel: keep booting one the module builds for, and leave the new kernel out of"
                " nvidia_driver_kernels (kernel_headers_kernels) until a fixed package arrives")
    return ways


def build_failure(*, package: str, version: str, flavour: str, source: str, dkms_name: str,
                  kernels: Sequence[str], make_log: str | None, log_path: str, platform: str = "",
                  rollback: Mapping | None = None, left: str | None = "") -> dict[str, Any]:
    """What the role records and says when apt's DKMS build of the driver failed: the kernel (from make.log, else
    the targets), the first compiler error, the ways out, what was put back (the roll-back) and what is not back
    (`left`: dpkg --audit's output, a re-install that failed; empty when nothing), and one message."""
    package, version = _shapes.text(package, "package"), _shapes.text(version, "version")
    dkms_name, log_path = _shapes.text(dkms_name, "dkms_name"), _shapes.text(log_path, "log_path")
    kernels = _values.string_list(kernels, "kernels")
    kernel = make_log_kernel(make_log) or ", ".join(kernels)
    error = first_build_error(make_log)
    ways = build_way_out(flavour, source, platform)
    rollback = _shapes.mapping(rollback or {}, "rollback")
    put_back = [f"{verb} {', '.join(_values.string_list(rollback[key], f'rollback.{key}'))}" for key, verb in
                (("purge", "purged"), ("remove", "removed"), ("restore", "installed again"))
                if rollback.get(key)]
    said = (f"NVIDIA's {flavour} kernel module ({package} {version}, DKMS module {dkms_name}) does not build for"
            f" kernel {kernel}: " + (f"{error} (the first error in DKMS's make.log, kept at {log_path})." if error
                                     else f"DKMS's make.log names no error; read {log_path}." if make_log
                                     else "DKMS left no make.log (are the kernel's headers installed?)."))
    left = " ".join((_shapes.text(left, "left") or "").split())
    done = f" ({'; '.join(put_back)})" if put_back else ""
    state = (f"The host's packages are as before the install{done}." if not left
             else f"The roll-back{done} left: {left}")
    message = f"{said} Way out: {'; '.join(ways)}. {state}"
    return {"package": package, "version": version, "flavour": _shapes.text(flavour, "flavour"),
            "source": _shapes.text(source, "source"), "dkms_name": dkms_name, "kernels": kernels, "kernel": kernel,
            "first_error": error, "make_log": log_path, "way_out": ways, "rolled_back": put_back,
            "rolled_back_fully": not left, "host_state": state, "message": message}


# ---------------------------------------------------------------------------------------------------------------
# The role's plan (the action homelab.nvidia_gpu.nvidia_driver_plan): everything the tasks act on, decided once.
# ---------------------------------------------------------------------------------------------------------------

# NVIDIA's .run installer: exactly these flags (unattended, DKMS-registered, no questions, no X check).
RUNFILE_FLAGS = ("--silent", "--dkms", "--no-questions", "--ui=none", "--no-x-check")
RUNFILE_PREREQS = ("dkms", "make", "gcc")
# apt's DKMS packages (CUDA repo and Debian): the runfile refuses a host that has one (both would own the module).
APT_DKMS_PACKAGES = ("nvidia-kernel-dkms", "nvidia-kernel-open-dkms", "nvidia-open-kernel-dkms")
# Debian's non-free packages need contrib (nvidia-installer-cleanup), non-free and non-free-firmware (GSP firmware).
DEBIAN_COMPONENTS = ("contrib", "non-free", "non-free-firmware")
PATHS = {
    "debian_sources": "/etc/apt/sources.list.d/nvidia-driver-debian-non-free.sources",
    "build_log_dir": "/var/log/nvidia_driver",
    "build_failure_fact": "/etc/ansible/facts.d/nvidia_driver_build_failure.fact",
    "local_fact": "/etc/ansible/facts.d/nvidia_driver.fact",
    "blacklist": "/etc/modprobe.d/blacklist-nouveau.conf",
    "module_options": "/etc/modprobe.d/nvidia-options.conf",
}
# What the local fact keeps (nothing that changes between two runs of the same install).
LOCAL_FACT_KEYS = ("branch", "flavour", "version", "source", "package_set", "packages", "dkms_module", "kernels")
# Every instance of these names, in one dpkg query: the driver's packages, the pinning packages, DKMS.
DPKG_PATTERNS = ("nvidia-*", "libcuda1", "cuda-drivers*", "dkms")
# A whole-host dpkg listing, before and after a Debian install whose DKMS build may fail (what a roll-back needs).
DPKG_ALL_ARGV = ("dpkg-query", "-W", "-f=${db:Status-Abbrev}|${binary:Package}|${Version}\n")

_DIGEST_HEX = {"sha256": 64, "sha512": 128}
_WEAK = ("md5", "sha1", "sha224")


class DriverPlanError(ValueError):
    """A refusal: one sentence saying what is wrong and what is supported."""


def runfile_problems(url: str, checksum: str, allow_http: bool = False) -> list[str]:
    """Sentences saying why the runfile URL or checksum is refused; [] when both are acceptable."""
    problems = []
    url = _values.single_line(url or "", "nvidia_driver_runfile_url", allow_empty=True).strip()
    checksum = _values.single_line(checksum or "", "nvidia_driver_runfile_checksum", allow_empty=True).strip()
    allow_http = _values.boolean(allow_http, "nvidia_driver_runfile_allow_http")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not url:
        problems.append("nvidia_driver_runfile_url is empty: name the NVIDIA-Linux-<arch>-<version>.run to install.")
    elif scheme == "http" and not allow_http:
        problems.append(f"nvidia_driver_runfile_url {url} is http: use https, or set nvidia_driver_runfile_allow_http: "
                        "true for a local mirror (the inline digest still checks the file).")
    elif scheme not in ("https", "http"):
        problems.append(f"nvidia_driver_runfile_url {url} is not an https URL.")
    if url and not runfile_version(url):
        problems.append(f"nvidia_driver_runfile_url {url} does not end in NVIDIA-Linux-<arch>-<version>.run, the name "
                        "the driver's version is read from.")
    algo, _sep, value = checksum.partition(":")
    algo, value = algo.strip().lower(), value.strip()
    if not checksum:
        problems.append("nvidia_driver_runfile_checksum is empty: a runfile is never run unchecked; give its digest "
                        "inline as sha256:<64 hex> or sha512:<128 hex>, taken from NVIDIA's published checksum.")
    elif "://" in value:
        problems.append(f"nvidia_driver_runfile_checksum {checksum} is a checksum URL: a checksum fetched from a "
                        "server proves nothing a tampered server could not change too; give the digest inline as "
                        "sha256:<64 hex> or sha512:<128 hex>.")
    elif algo in _WEAK:
        problems.append(f"nvidia_driver_runfile_checksum uses {algo}, which is too weak to trust a file that runs as "
                        "root: give sha256:<64 hex> or sha512:<128 hex>.")
    elif algo not in _DIGEST_HEX or not re.fullmatch(rf"[0-9a-fA-F]{{{_DIGEST_HEX[algo]}}}", value):
        problems.append(f"nvidia_driver_runfile_checksum {checksum!r} is not sha256:<64 hex> or sha512:<128 hex>.")
    return problems


def _dpkg_tab_rows(text: str | None) -> dict[str, tuple[str, str]]:
    """dpkg-query lines in the apt_packages format (status<TAB>name<TAB>version) -> {name: (status, version)}."""
    rows = {}
    for line in (text or "").splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and len(parts[0].strip()) >= 2:
            rows.setdefault(parts[1], (parts[0].strip(), parts[2]))
    return rows


def _installed(rows: Mapping[str, tuple[str, str]], name: str) -> str:
    status, version = rows.get(name, ("", ""))
    return version if len(status) >= 2 and status[1] == "i" else ""


def _branch_of(version: str) -> int | None:
    match = re.match(r"^(?:[0-9]+:)?([0-9]+)\.", version or "")
    return int(match.group(1)) if match else None


def plan(*, gpu_plan: Mapping, source: str, package_set: str, branch: Any, pin: bool, kernels: Sequence[str],
         kernel: str, os_family: str, distribution: str, distribution_release: str, virtualization_role: str,
         virtualization_type: str, runfile_url: str, runfile_checksum: str, runfile_allow_http: bool,
         runfile_dir: str, debian_manage_components: bool, blacklist_nouveau: bool, module_options: Mapping,
         persistence_mode: bool, reboot: bool, check_mode: bool) -> dict[str, Any]:
    """What the nvidia_driver role does on this host, before anything is read from it: the refusals (raised as
    DriverPlanError), the packages, the branch, the runfile's file and argv, the files and the phases."""
    gpu_plan = _shapes.mapping(gpu_plan, "gpu_plan (nvidia_gpu_plan)")
    if os_family != "Debian":
        raise DriverPlanError(f"nvidia_driver needs a Debian-family host ({os_family} found).")
    if source == "runfile":
        problems = runfile_problems(runfile_url, runfile_checksum, runfile_allow_http)
        if problems:
            raise DriverPlanError("Refusing the runfile: " + " ".join(problems))
    if gpu_plan.get("refusals"):
        raise DriverPlanError(_shapes.text(gpu_plan.get("refused"), "gpu_plan.refused") or "The GPU plan refuses.")
    driver = _shapes.mapping(gpu_plan.get("driver") or {}, "gpu_plan.driver")
    flavour = _shapes.text(gpu_plan.get("flavour"), "gpu_plan.flavour")
    kernels = _values.string_list(kernels, "nvidia_driver_kernels")
    packages = _values.string_list(driver.get("packages") or [], "gpu_plan.driver.packages")
    branch_number = gpu_plan.get("branch")
    version = ""
    runfile = None
    if source == "runfile":
        version = runfile_version(runfile_url) or ""
        if _branch_of(version) != branch_number:
            raise DriverPlanError(f"nvidia_driver_branch is {branch}, but the runfile {runfile_url} is version"
                                  f" {version}: pin the runfile's branch (or auto), or name a runfile of that branch.")
        name = runfile_url.rsplit("/", 1)[-1]
        target = kernels[0] if kernels else kernel
        path = f"{runfile_dir.rstrip('/')}/{name}"
        runfile = {"version": version, "name": name, "path": path, "dir": runfile_dir, "kernel": target,
                   "marker": f"{runfile_dir.rstrip('/')}/installed.json", "prereqs": list(RUNFILE_PREREQS),
                   "argv": [path, *RUNFILE_FLAGS, f"--kernel-module-type={flavour}", f"--kernel-name={target}"],
                   "marker_content": {"version": version, "flavour": flavour, "url": runfile_url}}
    container = in_container(virtualization_role, virtualization_type)
    pinning = driver.get("pinning_package") or ""
    debian = source == "debian"
    return {
        "source": source,
        "flavour": flavour,
        # Debian's branch is the one apt offers: None until the observed plan (nvidia_driver_debian_branch) says it.
        "branch": None if debian else branch_number,
        "branch_pinned": parse_branch(branch, "nvidia_driver_branch"),
        "package_set": None if source == "runfile" else package_set,
        "packages": packages,
        "dkms_package": driver.get("dkms_package"),
        "dkms_name": driver.get("dkms_name"),
        "pinning_package": pinning,
        "pin": bool(pin),
        "install_recommends": package_set == "full",
        "kernels": kernels,
        "kernel": kernel,
        "apt": source != "runfile",
        "runfile": runfile,
        "debian": {"components": list(DEBIAN_COMPONENTS), "manage": bool(debian_manage_components)
                   and distribution == "Debian", "release": distribution_release} if debian else None,
        # What the host is asked before the install: its dpkg state and apt's candidates (pins applied).
        "dpkg_argv": ["dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Package}\t${Version}\n", "--",
                      *DPKG_PATTERNS],
        "policy_argv": (["apt-cache", "policy", "--", *([pinning] if pinning else []), *packages]
                        if source != "runfile" else []),
        "dpkg_all_argv": list(DPKG_ALL_ARGV),
        "paths": dict(PATHS),
        "blacklist_nouveau": bool(blacklist_nouveau),
        "module_options_line": " ".join(f"{k}={v}" for k, v in sorted((module_options or {}).items())),
        "write_sources": False,  # Debian's components file: the observed plan says
        "persistence": bool(persistence_mode) and source != "runfile",  # the .run installer ships no unit for it
        "container": container,
        "virtualization_type": virtualization_type or "",
        "gpu_present": bool(gpu_plan.get("gpu_present")),
        "gpu_simulated": bool(gpu_plan.get("gpu_simulated")),
        "reboot_allowed": bool(reboot),
        "check_mode": bool(check_mode),
        "local_fact_keys": list(LOCAL_FACT_KEYS),
    }


def observe(base: Mapping, *, dpkg: str | None, policy: str | None, runfile_installer: str | None,
            runfile_marker: str | None, failure_record: str | None, debian_sources_exists: bool,
            kernels: Sequence[str] | None = None) -> dict[str, Any]:
    """The plan after reading the host (dpkg's state, apt's candidates, the runfile's installer and marker, a
    recorded build failure): the install steps, and Debian's branch. Refusals raise DriverPlanError."""
    out = dict(base)
    if kernels is not None:  # known once kernel_headers has run (kernel_headers_targets): after the first plan
        out["kernels"] = _values.string_list(kernels, "nvidia_driver_kernels")
    rows = _dpkg_tab_rows(dpkg)
    out["installed_version"] = ""
    source = out["source"]
    if source == "runfile":
        apt_owned = [name for name in APT_DKMS_PACKAGES if _installed(rows, name)]
        if apt_owned:
            raise DriverPlanError(f"{', '.join(apt_owned)} installed from apt: remove the apt driver first"
                                  " (apt-get purge '*nvidia*'), or keep nvidia_driver_source: cuda_repo/debian; the"
                                  " runfile and apt must not both own the module.")
        runfile = dict(out["runfile"])
        runfile["kernel"] = out["kernels"][0] if out["kernels"] else out["kernel"]
        runfile["argv"] = [*runfile["argv"][:-1], f"--kernel-name={runfile['kernel']}"]
        now = ((runfile_installer or "").split("version")[-1].split() or [""])[0] if runfile_installer else ""
        try:
            marker = json.loads(runfile_marker or "{}")
        except ValueError:
            marker = {}
        marker = marker if isinstance(marker, Mapping) else {}
        runfile["install"] = now != runfile["version"] or marker.get("flavour") != out["flavour"]
        out["runfile"] = runfile
        out["installed_version"] = runfile["version"]
        out["specs"] = list(runfile["prereqs"])
        return out

    candidates = _apt_policy.parse(policy or "", [*([out["pinning_package"]] if out["pinning_package"] else []),
                                                  *out["packages"]])
    missing = [name for name in out["packages"] if candidates[name]["candidate"] == _apt_policy.NONE]
    out["missing"] = missing
    # Check mode on a fresh host: the repo or component is not there yet, so apt cannot judge the packages.
    out["apt_blind"] = bool(missing) and out["check_mode"]
    dkms_package = out["dkms_package"]
    out["installed_version"] = _apt_policy.upstream_version(_installed(rows, dkms_package)) if dkms_package else ""
    if source == "debian":
        debian = dict(out["debian"])
        debian["write_sources"] = debian["manage"] and (debian_sources_exists or bool(missing))
        out["debian"] = debian
        out["write_sources"] = debian["write_sources"]
        out["specs"] = list(out["packages"])
        out["hold"] = out["pin"]  # false releases holds an earlier run set
        candidate = candidates[dkms_package]["candidate"] if dkms_package else _apt_policy.NONE
        out["candidate"] = "" if candidate == _apt_policy.NONE else candidate
        out["branch"] = _branch_of(out["candidate"])
        out["install"] = bool(_apt_policy.unsatisfied(dpkg or "", out["specs"]))
        # Missing with this role's components file in place (or not to be written): enabling them does not help.
        if missing and not out["check_mode"] and (debian_sources_exists or not debian["manage"]):
            raise DriverPlanError(_debian_missing(out, missing))
        if out["branch"] is not None and out["branch_pinned"] not in (None, out["branch"]):
            raise DriverPlanError(
                f"nvidia_driver_branch is {out['branch_pinned']}, but Debian {debian['release']} ships branch"
                f" {out['branch']} ({dkms_package} {out['candidate']}). Set nvidia_driver_branch: auto (or"
                f" {out['branch']}), or use nvidia_driver_source: cuda_repo for other branches.")
        record = _failure_record(failure_record)
        if (out["install"] and record.get("package") == dkms_package and record.get("version") == out["candidate"]
                and sorted(record.get("kernels") or []) == sorted(out["kernels"])):
            raise DriverPlanError(
                f"{record.get('message', '')} Not built again: {dkms_package} {out['candidate']} failed for the same"
                f" kernels on {record.get('recorded', 'an earlier run')}. Delete {out['paths']['build_failure_fact']}"
                " to try again (or pick a way out).")
        out["build_version"] = _apt_policy.upstream_version(out["candidate"])
        return out

    # NVIDIA's CUDA repo: the pinning package keeps the branch; without it (or without nvidia_driver_pin) a hold does.
    if missing and not out["check_mode"]:
        raise DriverPlanError(
            f"The apt sources have no {', '.join(missing)}: configure NVIDIA's CUDA repo (nvidia_driver_manage_repo:"
            " true, or your own source) and run apt-get update. Branch"
            f" {out['branch']} {out['package_set']} packages wanted: {', '.join(out['packages'])}.")
    pinning = out["pinning_package"]
    pinned_by_package = out["pin"] and candidates[pinning]["candidate"] != _apt_policy.NONE
    out["pinning_specs"] = [pinning] if pinned_by_package else []
    # Purged, not removed: a removed pinning package leaves its pin file, a conffile, which keeps pinning.
    out["stale_pinning"] = sorted(name for name, (status, _v) in rows.items()
                                  if name.startswith("nvidia-driver-pinning-") and name not in out["pinning_specs"]
                                  and (status[1] == "i" or status[:2] == "rc"))
    # name=<BR>.* for every package: installs, keeps or downgrades to the branch even without a pinning package.
    out["specs"] = out["pinning_specs"] + [f"{name}={out['branch']}.*" for name in out["packages"]]
    # True holds; False (nvidia_driver_pin off) releases earlier holds; None (the pinning package keeps the branch)
    # leaves holds as they are.
    out["hold"] = None if pinned_by_package else out["pin"]
    return out


def _debian_missing(out: Mapping, missing: Sequence[str]) -> str:
    open_note = ""
    if out["flavour"] == "open":
        open_note = (f"Debian {out['debian']['release']} has no open kernel module package (nvidia-open-kernel-dkms):"
                     " use nvidia_driver_source: cuda_repo, or proprietary modules on a pre-Turing card. ")
    return (f"The apt sources have no {', '.join(missing)}. {open_note}Enable Debian's contrib, non-free and"
            " non-free-firmware components (nvidia-installer-cleanup is in contrib, the GSP firmware in"
            " non-free-firmware) or set nvidia_driver_debian_manage_components: true.")


def _failure_record(text: str | None) -> dict:
    try:
        record = json.loads(text or "{}")
    except ValueError:
        return {}
    return dict(record) if isinstance(record, Mapping) else {}


def installed(base: Mapping, *, package_versions: Mapping | None, dkms_status: str | None, loaded_version: str | None,
              nouveau_loaded: bool, headers_reboot: bool) -> dict[str, Any]:
    """The plan after the install: DKMS's missing kernels, the reboot and its reasons, whether the module is loaded
    and nvidia-smi run here, and the fact nvidia_driver_installed."""
    out = dict(base)
    # package_versions: apt_packages' versions after the install ({name: version}); the runfile's is its own.
    versions = _shapes.mapping(package_versions or {}, "package_versions")
    version = (_apt_policy.upstream_version(_shapes.text(versions.get(out["dkms_package"]) or "", "the version"))
               if out["apt"] else out["runfile"]["version"])
    if out["apt"] and version and out["branch"] is not None and _branch_of(version) != out["branch"]:
        raise DriverPlanError(
            f"{out['dkms_package']} {version} is installed, not branch {out['branch']}: an apt pin or hold outside this"
            f" role may keep another version (apt-cache policy {out['dkms_package']}).")
    out["installed_version"] = version
    # dkms_status: `dkms status -m NAME` (None when dkms is not there): the kernels without an installed module.
    out["dkms_checkable"] = dkms_status is not None and bool(version)
    # dkms 3: "nvidia/580.95.05, 6.1.0-26-amd64, x86_64: installed"; dkms 2: "nvidia, 580.95.05, 6.1.0-26-amd64, ...".
    done = set()
    for line in (dkms_status or "").splitlines():
        head, _sep, state = line.partition(":")
        fields = [field.strip() for field in head.replace("/", ",").split(",")]
        if state.strip().startswith("installed") and version in fields:
            done.update(fields)
    out["dkms_missing"] = [k for k in out["kernels"] if k not in done] if out["dkms_checkable"] else []
    out["dkms_install_argv"] = ["dkms", "install", "-m", out["dkms_name"], "-v", version, "-k"]
    reasons = reboot_reasons(container=out["container"], gpu_present=out["gpu_present"],
                             headers_reboot=bool(headers_reboot), kernel=out["kernel"], kernels=out["kernels"],
                             nouveau_loaded=bool(nouveau_loaded), loaded_version=loaded_version or "",
                             installed_version=version)
    out["reboot_reasons"] = reasons
    out["reboot"] = bool(reasons) and out["reboot_allowed"]
    out["runtime_skip"] = runtime_skip(container=out["container"], virtualization_type=out["virtualization_type"],
                                       gpu_present=out["gpu_present"], simulated=out["gpu_simulated"],
                                       reasons=reasons, rebooted=out["reboot"], check_mode=out["check_mode"],
                                       installed_version=version)
    out["load"] = not out["runtime_skip"]
    unknown = out["source"] == "debian" and out["branch"] is None
    out["installed"] = {
        "branch": None if unknown else out["branch"], "flavour": out["flavour"], "version": version or None,
        "source": out["source"], "package_set": out["package_set"], "packages": out["packages"],
        "dkms_module": out["dkms_name"], "kernels": out["kernels"],
        "reboot_required": bool(reasons) and not out["reboot"], "reboot_reasons": [] if out["reboot"] else reasons}
    out["local_fact"] = {k: out["installed"][k] for k in LOCAL_FACT_KEYS}
    return out


def failed_install(base: Mapping, *, rollback: Mapping, make_log: str | None, log_path: str, left: str,
                   platform: str, apt_error: str) -> dict[str, Any]:
    """A Debian install whose apt run failed, after the roll-back: whether the DKMS build failed (then `record`, what
    the host keeps so that the same version is not built again), and the one message the role fails with."""
    out = dict(base)
    rollback = _shapes.mapping(rollback, "rollback")
    failure = build_failure(package=out["dkms_package"], version=out["candidate"], flavour=out["flavour"],
                            source=out["source"], dkms_name=out["dkms_name"], kernels=out["kernels"],
                            make_log=make_log, log_path=log_path, platform=platform, rollback=rollback, left=left)
    # dpkg could not configure the DKMS package, or DKMS left a make.log: the module did not build.
    build_failed = out["dkms_package"] in (rollback.get("broken") or []) or bool(log_path)
    out["build_failed"] = build_failed
    out["failure"] = failure
    out["failure_message"] = (failure["message"] if build_failed else f"apt could not install"
                              f" {', '.join(out['packages'])}: {apt_error} {failure['host_state']}")
    return out


def checked(base: Mapping, *, smi_query: Sequence[str] | None, smi: str | None) -> dict[str, Any]:
    """The plan after nvidia-smi (or without it: the reason): the fact nvidia_driver_smi."""
    out = dict(base)
    out["smi"] = smi_facts(smi_query if out["load"] else None, smi or "", out["runtime_skip"])
    return out

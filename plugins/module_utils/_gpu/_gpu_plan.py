# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's GPU plan: one pure function from the facts of lspci_gpu_facts and the user's choices.

Facts stay facts (`nvidia_gpus`, `nvidia_gpu_host`). This module re-judges them for the chosen
flavour and branch (with `_gpu_verdict`, from the catalog entries already in the facts) and says,
once, what the host gets: the plan kind (gpu stack / runtime only / stopped), the kernel-module
flavour, the driver branch and packages, the CUDA range, and every reason as a sentence. Every role
and playbook reads this one result (the fact `nvidia_gpu_plan`, set by the `gpu_plan` role).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_verdict as verdicts

GPU_STACK = "gpu_stack"
RUNTIME_ONLY = "runtime_only"
STOPPED = "stopped"
KINDS = (GPU_STACK, RUNTIME_ONLY, STOPPED)
FLAVOURS = ("open", "proprietary")
SOURCES = ("cuda_repo", "debian", "runfile")
PACKAGE_SETS = ("compute", "full")

# Blocking problems the GPU stack itself fixes: the driver role blacklists nouveau (then a reboot),
# kernel_headers switches a Pi 5 to its 4K-page kernel8.img (then a reboot). They are reported, and
# they do not refuse the stack.
FIXED_BY_THE_STACK = frozenset({"nouveau_bound", "pi5_16k_page_kernel"})

# Newest CUDA toolkit a driver branch runs without the forward-compatibility package: NVIDIA's CUDA
# Toolkit release notes, table "CUDA Toolkit and Corresponding Driver Versions" (minimum driver per
# toolkit: 12.2 >= 535.54, 12.4 >= 550.54, 12.6 >= 560.28, 12.8 >= 570.26, 12.9 >= 575.51,
# 13.0 >= 580.65, 13.1 >= 590.44). A branch between two rows gets the older row.
DRIVER_CUDA_MAX = {535: "12.2", 545: "12.3", 550: "12.4", 555: "12.5", 560: "12.6", 570: "12.8",
                   575: "12.9", 580: "13.0", 590: "13.1"}
# Oldest CUDA toolkit that compiles for a compute capability (the same release notes, per architecture).
CUDA_MIN_BY_CC = ((12, 0, "12.8"), (10, 0, "12.8"), (9, 0, "11.8"), (8, 9, "11.8"), (8, 6, "11.1"),
                  (8, 0, "11.0"), (7, 5, "10.0"), (7, 0, "9.0"), (6, 0, "8.0"), (5, 0, "6.5"))

# Driver packages per source, flavour and package set (NVIDIA's CUDA repo; Debian's non-free archive).
CUDA_REPO_DKMS = {"open": "nvidia-kernel-open-dkms", "proprietary": "nvidia-kernel-dkms"}
DEBIAN_DKMS = {"open": "nvidia-open-kernel-dkms", "proprietary": "nvidia-kernel-dkms"}
DEBIAN_DKMS_NAME = {"open": "nvidia-current-open", "proprietary": "nvidia-current"}
DEBIAN_EXTRA = {"compute": ["nvidia-smi", "libcuda1"], "full": ["nvidia-driver"]}

DEFAULTS: dict[str, Any] = {
    "gpu_node": False,
    "skip_unworkable": True,
    "flavour": "auto",
    "branch": "auto",
    "source_branch": "",
    "default_branch": 580,
    "fallback_flavour": "open",
    "require_gpu": False,
    "source": "cuda_repo",
    "package_set": "compute",
    "runfile_url": "",
    "fake_hardware": {},
}


# The options of lspci_gpu_facts that gpu_plan_fake_hardware may replace (the gpu_plan role passes these).
FAKE_HARDWARE_KEYS = ("lspci_dump", "lspci_path", "sysfs_root", "proc_root", "device_tree_root", "modprobe_dir",
                      "page_size", "supported_gpus_json")


class PlanError(ValueError):
    """Bad choices (not bad hardware: that is a refusal in the plan)."""


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def parse_branch(value: Any, what: str) -> int | None:
    """'auto'/None -> None; 580, '580' -> 580; anything else is a PlanError naming `what`."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("auto", "")):
        return None
    if isinstance(value, bool) or not re.fullmatch(r"\s*[0-9]+\s*", str(value)):
        raise PlanError(f"{what} must be 'auto' or a branch number such as 580, not {value!r}")
    number = int(str(value))
    if not 1 <= number <= 9999:
        raise PlanError(f"{what} must be a branch number such as 580, not {value!r}")
    return number


def runfile_version(url: str) -> str | None:
    """NVIDIA-Linux-<arch>-<version>.run (at the end of a URL or path) -> its version, else None."""
    match = re.search(r"(?:^|/)NVIDIA-Linux-[A-Za-z0-9_]+-([0-9]+(?:\.[0-9]+)+)\.run$", url or "")
    return match.group(1) if match else None


def driver_cuda_max(branch: int | None) -> str | None:
    """Newest CUDA a driver branch runs (the newest table row at or below it); None when unknown."""
    if branch is None:
        return None
    rows = [b for b in DRIVER_CUDA_MAX if b <= branch]
    return DRIVER_CUDA_MAX[max(rows)] if rows else None


def cuda_min(compute_capability: str | None) -> str | None:
    match = re.match(r"(\d+)\.(\d+)", compute_capability or "")
    if not match:
        return None
    cc = (int(match.group(1)), int(match.group(2)))
    return next((v for major, minor, v in CUDA_MIN_BY_CC if cc >= (major, minor)), None)


def _lowest(values) -> str | None:
    found = [v for v in values if v]
    return min(found, key=version_key) if found else None


def _highest(values) -> str | None:
    found = [v for v in values if v]
    return max(found, key=version_key) if found else None


def rejudge(gpus: Sequence[Mapping], host: Mapping, flavour: str, branch: int | None,
            require_gpu: bool) -> tuple[list[dict], dict]:
    """The verdict for the chosen flavour and branch, from the catalog entries the facts carry."""
    platform = host.get("platform", "generic")
    judged = []
    for gpu in gpus:
        gpu = dict(gpu)
        if "catalog" not in gpu:  # lspci_gpu_facts already looked it up; only bare input needs the catalog
            gpu["catalog"] = verdicts.lookup(gpu.get("device_id"))
        gpu["verdict"] = verdicts.gpu_verdict(gpu, platform, flavour, branch)
        judged.append(gpu)
    return judged, verdicts.host_verdict(judged, platform, host.get("page_size"), require_gpu)


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise PlanError(f"{what} must be true or false, not {value!r}")


def _choices(raw: Mapping | None) -> dict:
    if raw is not None and not isinstance(raw, Mapping):
        raise PlanError(f"the choices must be a mapping, not {type(raw).__name__}")
    unknown = sorted(set(raw or {}) - set(DEFAULTS))
    if unknown:
        raise PlanError(f"unknown choices {', '.join(map(str, unknown))}; known: {', '.join(DEFAULTS)}")
    choices = dict(DEFAULTS, **(raw or {}))
    choices["flavour"] = str(choices["flavour"] or "auto").strip().lower()
    for key, allowed in (("flavour", (*FLAVOURS, "auto")), ("fallback_flavour", FLAVOURS),
                         ("source", SOURCES), ("package_set", PACKAGE_SETS)):
        if choices[key] not in allowed:
            raise PlanError(f"{key} must be one of {', '.join(allowed)}, not {choices[key]!r}")
    if parse_branch(choices["default_branch"], "default_branch") is None:
        raise PlanError("default_branch must be a branch number such as 580")
    for key in ("gpu_node", "skip_unworkable", "require_gpu"):
        choices[key] = _bool(choices[key], key)
    if not isinstance(choices["fake_hardware"], Mapping):
        raise PlanError("fake_hardware must be a mapping of lspci_gpu_facts options")
    unknown = sorted(set(map(str, choices["fake_hardware"])) - set(FAKE_HARDWARE_KEYS))
    if unknown:
        raise PlanError(f"gpu_plan_fake_hardware has {', '.join(unknown)}, which lspci_gpu_facts does not take from it;"
                        f" known: {', '.join(FAKE_HARDWARE_KEYS)}")
    return choices


def _pinned_branch(choices: dict) -> tuple[int | None, str]:
    pinned = parse_branch(choices["branch"], "branch")
    if pinned is not None:
        return pinned, "pinned by nvidia_driver_branch"
    shipped = parse_branch(choices["source_branch"], "source_branch")
    if shipped is not None and choices["source"] == "debian":
        return shipped, "the branch of Debian's packages"
    if choices["source"] == "runfile":
        version = runfile_version(choices["runfile_url"])
        if version:
            return int(version.split(".")[0]), f"the runfile's version {version}"
    return None, ""


def _flavour(choices: dict, verdict: Mapping, present: bool) -> tuple[str | None, str]:
    if choices["flavour"] != "auto":
        return choices["flavour"], "pinned by nvidia_driver_module_flavour"
    if not present:
        return choices["fallback_flavour"], "no GPU enumerated: the role's fallback"
    if verdict.get("module_flavour") == "proprietary":
        return "proprietary", "a Maxwell, Pascal or Volta card needs the proprietary modules"
    if verdict.get("module_flavour") == "open":
        return "open", "every card is Turing or newer"
    return None, ""


def driver_packages(source: str, package_set: str, flavour: str | None, branch: int | None) -> dict:
    """What the driver role installs for this plan (the runfile installs no packages)."""
    if flavour is None:
        return {"packages": [], "dkms_package": None, "dkms_name": None, "pinning_package": None}
    if source == "debian":
        return {"packages": [DEBIAN_DKMS[flavour], *DEBIAN_EXTRA[package_set]], "dkms_package": DEBIAN_DKMS[flavour],
                "dkms_name": DEBIAN_DKMS_NAME[flavour], "pinning_package": None}
    if source == "runfile":
        return {"packages": [], "dkms_package": None, "dkms_name": "nvidia", "pinning_package": None}
    # Explicit DKMS and user-space packages even for the full set: branch metapackages only use >= dependencies.
    packages = ["nvidia-driver-cuda", CUDA_REPO_DKMS[flavour]]
    if package_set == "full":
        packages.insert(0, f"nvidia-open-{branch}" if flavour == "open" else f"cuda-drivers-{branch}")
    return {"packages": packages, "dkms_package": CUDA_REPO_DKMS[flavour], "dkms_name": "nvidia",
            "pinning_package": f"nvidia-driver-pinning-{branch}"}


def _cuda(gpus: Sequence[Mapping], branch: int | None) -> dict:
    gpu_max = _lowest(g["verdict"]["cuda_ceiling"] for g in gpus)
    driver_max = driver_cuda_max(branch)
    maximum = _lowest([gpu_max, driver_max])
    minimum = _highest(cuda_min((g.get("catalog") or {}).get("compute_capability")) for g in gpus)
    if gpu_max and driver_max and version_key(gpu_max) < version_key(driver_max):
        why = f"the GPUs allow CUDA {gpu_max} at most; driver branch {branch} runs up to {driver_max}"
    elif driver_max:
        why = f"driver branch {branch} runs CUDA {driver_max} at most"
    elif gpu_max:
        why = f"the GPUs allow CUDA {gpu_max} at most"
    else:
        why = "no limit is known"
    return {"min": minimum, "max": maximum, "gpu_max": gpu_max, "driver_max": driver_max, "reason": why,
            "compute_capabilities": sorted({(g.get("catalog") or {}).get("compute_capability")
                                            for g in gpus} - {None})}


def _headline(name: str, host: Mapping, gpus: Sequence, can_work: bool) -> str:
    count = f"{len(gpus)} NVIDIA GPU(s)" if gpus else "no NVIDIA GPU enumerated"
    judged = "the driver can work" if can_work else "THE NVIDIA DRIVER CANNOT WORK ON THIS HOST"
    return f"{name} ({host.get('platform', 'generic')}, {host.get('architecture', '?')}): {count}, {judged}"


def host_plan(gpus: Sequence[Mapping], host: Mapping, raw_choices: Mapping | None = None,
              name: str = "this host") -> dict:
    """The plan of one host. `gpus`/`host` are `ansible_facts.nvidia_gpus`/`nvidia_gpu_host`."""
    if not isinstance(host, Mapping) or not isinstance(gpus, Sequence) or isinstance(gpus, (str, bytes)):
        raise PlanError("the input must be ansible_facts.nvidia_gpus and ansible_facts.nvidia_gpu_host"
                        " (run homelab.nvidia_gpu.lspci_gpu_facts first)")
    if any(not isinstance(g, Mapping) for g in gpus):
        raise PlanError("every entry of ansible_facts.nvidia_gpus must be a mapping")
    for index, gpu in enumerate(gpus):
        where = f"ansible_facts.nvidia_gpus[{index}]"
        for key in ("catalog", "link", "verdict"):
            _shapes.mapping(gpu.get(key), f"{where}.{key}")
        catalog = gpu.get("catalog") or {}
        if catalog.get("compute_capability") is not None:
            _values.word(catalog["compute_capability"], f"{where}.catalog.compute_capability",
                         r"[0-9]{1,2}\.[0-9]{1,2}", "a compute capability such as 6.1")
        if catalog.get("last_branch") is not None:
            _values.integer(catalog["last_branch"], f"{where}.catalog.last_branch", 1, 9999)
        for key in ("name", "architecture"):
            if catalog.get(key) is not None:
                _values.single_line(catalog[key], f"{where}.catalog.{key}", allow_empty=True, max_length=256)
    name = _shapes.plain(name)
    choices = _choices(raw_choices)
    pinned, branch_reason = _pinned_branch(choices)
    judged, verdict = rejudge(gpus, host, choices["flavour"], pinned, choices["require_gpu"])
    present = bool(judged)
    flavour, flavour_reason = _flavour(choices, verdict, present)

    default = parse_branch(choices["default_branch"], "default_branch")
    cap = verdict.get("max_branch") if present else None
    if pinned is not None:
        branch = pinned
    elif cap is not None and cap < default:
        branch, branch_reason = cap, f"the default {default} capped at the oldest card's last branch"
    else:
        branch, branch_reason = default, "the role's default branch (nvidia_driver_default_branch)"

    problems = list(verdict["problems"])
    refusals = [p for p in problems if p["severity"] == verdicts.BLOCKING and p["code"] not in FIXED_BY_THE_STACK]
    if flavour is None:
        refusals.append({"code": "flavour_unknown", "severity": verdicts.BLOCKING, "gpu": None, "message": (
            "The architecture of a GPU on this host is unknown, so the kernel-module flavour cannot be chosen:"
            " set nvidia_driver_module_flavour to open (Turing and newer) or proprietary (Maxwell, Pascal, Volta).")})
    fixed = [p for p in problems if p["code"] in FIXED_BY_THE_STACK]

    if not choices["gpu_node"]:
        kind = RUNTIME_ONLY
        reason = "Not in gpu_nodes: container runtime only. Add the host to gpu_nodes to install the driver."
    elif refusals and choices["skip_unworkable"]:
        kind = RUNTIME_ONLY
        reason = ("Container runtime only on this host (site_skip_unworkable_gpu_nodes is true); the driver is NOT"
                  " installed. Set site_skip_unworkable_gpu_nodes to false to fail here instead.")
    elif refusals:
        kind = STOPPED
        reason = "site_skip_unworkable_gpu_nodes is false: this host fails here, and nothing is installed on it."
    elif not present:
        kind = GPU_STACK
        reason = ("Installing the GPU stack anyway (nvidia_driver_require_gpu is false); the GPU-dependent steps are"
                  " skipped. An external GPU must be powered (PSU, then GPU) before the host boots.")
    else:
        kind = GPU_STACK
        reason = "Installing headers, NVIDIA repos, driver, container runtime and container toolkit."
        if fixed:
            reason += " The stack fixes " + ", ".join(p["code"] for p in fixed) + "; a reboot follows."

    if flavour is None:
        message = "No plan for the driver: " + refusals[-1]["message"]
    elif present:
        message = (f"{len(judged)} NVIDIA GPU(s): {flavour} kernel modules ({flavour_reason}),"
                   f" branch {branch} ({branch_reason}).")
    else:
        message = (f"No NVIDIA GPU is enumerated and nvidia_driver_require_gpu is false: installing {flavour} kernel"
                   f" modules ({flavour_reason}), branch {branch} ({branch_reason}); the GPU-dependent steps (module"
                   " load, nvidia-smi, persistence mode, reboot) will be skipped.")

    verdict = dict(verdict, can_work=not refusals)
    plan = {
        "kind": kind,
        "reason": reason,
        "gpu_node": choices["gpu_node"],
        "gpu_present": present,
        "gpu_simulated": bool(host.get("simulated")) and present,
        "gpu_names": [(g.get("catalog") or {}).get("name") or g.get("device_name") or "unknown GPU"
                      for g in judged],
        "platform": host.get("platform", "generic"),
        "architecture": host.get("architecture"),
        "flavour": flavour,
        "flavour_reason": flavour_reason,
        "branch": branch,
        "branch_reason": branch_reason,
        "driver": dict(driver_packages(choices["source"], choices["package_set"], flavour, branch),
                       source=choices["source"], package_set=choices["package_set"]),
        "cuda": _cuda(judged, branch),
        "problems": problems,
        "refusals": refusals,
        "refused": " ".join(f"[{p['code']}] {p['message']}" for p in refusals),
        "verdict": verdict,
        "message": message,
        "inputs": dict(raw_choices or {}),  # as given: the role compares them to decide again only on a change
    }
    plan["lines"] = [_headline(name, host, judged, verdict["can_work"]),
                     *verdict_lines(judged, problems), reason]
    return plan


def _or(value: Any, fallback: str) -> str:
    return _shapes.plain(value) if value not in (None, "") else fallback


def verdict_lines(gpus: Sequence[Mapping[str, Any]], problems: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per GPU (name, architecture, link, flavour, branches, CUDA) and one per problem."""
    lines = []
    for index, gpu in enumerate(_shapes.mappings(gpus, "the GPUs (ansible_facts.nvidia_gpus)", "a GPU (a dict)")):
        catalog = _shapes.mapping(gpu.get("catalog"), f"ansible_facts.nvidia_gpus[{index}].catalog")
        link = _shapes.mapping(gpu.get("link"), f"ansible_facts.nvidia_gpus[{index}].link")
        gpu_verdict = _shapes.mapping(gpu.get("verdict"), f"ansible_facts.nvidia_gpus[{index}].verdict")
        ceiling = gpu_verdict.get("cuda_ceiling")
        lines.append(
            f"{_or(gpu.get('address'), '?')}: {_or(catalog.get('name') or gpu.get('device_name'), 'unknown GPU')} "
            f"({_or(catalog.get('architecture'), 'unknown architecture')}, compute "
            f"{_or(catalog.get('compute_capability'), '?')}), link {_or(link.get('current_speed'), '?')} GT/s "
            f"x{_or(link.get('current_width'), '?')} of {_or(link.get('max_speed'), '?')} GT/s "
            f"x{_or(link.get('max_width'), '?')}; {_or(gpu_verdict.get('module_flavour'), 'unknown')} kernel modules, "
            f"driver branches {_shapes.plain(gpu_verdict.get('allowed_branches'))}, CUDA "
            f"{('<= ' + _shapes.plain(ceiling)) if ceiling else 'current'}")
    for problem in _shapes.mappings(problems, "the verdict's problems", "a problem (code, severity, message)"):
        if problem.get("severity") != "blocking":
            label = "warning"
        elif problem.get("code") in FIXED_BY_THE_STACK:
            label = "FIXED BY THE STACK"
        else:
            label = "CANNOT WORK"
        lines.append(f"{label} [{_shapes.plain(problem.get('code'))}] {_shapes.plain(problem.get('message'))}")
    return lines


def summary_lines(hostvars: Mapping[str, Any], hosts: Sequence[str], alive: Sequence[str]) -> list[str]:
    """One line per host that has a plan: kind (FAILED when it left the play), GPUs, verdict."""
    hostvars = _shapes.mapping(hostvars, "hostvars", "hostvars (a dict of hosts)")
    alive = _values.string_list(alive, "the hosts still in the play")
    lines = []
    for host in sorted(_values.string_list(hosts, "the play's hosts")):
        plan = _shapes.mapping(hostvars.get(host), f"hostvars[{host!r}]").get("nvidia_gpu_plan")
        if not isinstance(plan, Mapping):
            continue
        names = [_shapes.plain(n)
                 for n in _shapes.sequence(plan.get("gpu_names"), f"{host}'s nvidia_gpu_plan.gpu_names")]
        refusals = _shapes.mappings(plan.get("refusals"), f"{host}'s nvidia_gpu_plan.refusals", "a problem")
        if not names:
            judged = "no GPU to judge"
        elif not refusals:
            judged = "can work"
        else:
            judged = f"CANNOT WORK ({', '.join(_shapes.plain(p.get('code')) for p in refusals)})"
        failed = "" if host in alive else " (FAILED, see above)"
        kind = _shapes.plain(plan.get("kind")).replace("_", " ")
        if plan.get("kind") == RUNTIME_ONLY and plan.get("gpu_node"):
            kind += " (GPU verdict)"
        lines.append(f"{host}: {kind}{failed}; GPU: {', '.join(names) or 'none'}; verdict: {judged}")
    return lines

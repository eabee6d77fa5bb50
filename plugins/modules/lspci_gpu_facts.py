#!/usr/bin/python
# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lspci_gpu_facts
short_description: NVIDIA GPU facts from lspci and sysfs, with a driver compatibility verdict
version_added: 0.1.0
description:
  - Lists the NVIDIA PCI functions of display class (VGA C(0300), 3D C(0302)) with the real C(lspci)
    (pciutils) in its machine-readable form (C(lspci -vmm -nn -D -k)), and reads sysfs where lspci is
    silent (current and maximum PCIe link speed and width, NUMA node, IOMMU group, bound driver).
  - Looks each GPU up in the collection's GPU catalog (marketing name, architecture, compute capability,
    open kernel module support, last driver branch). Where the driver's own C(supported-gpus.json) is on
    the host it wins over the catalog.
  - Returns a verdict per GPU and per host (recommended kernel-module flavour, allowed driver branches,
    CUDA ceiling) and the problems that stop or hinder the NVIDIA driver, each with a plain sentence.
  - Detects a Raspberry Pi 5 (device-tree model or its C(14e4:2712) PCIe bridge) and the state of nouveau.
  - Changes nothing; C(changed) is always false.
author:
  - homelab.nvidia_gpu maintainers (@homelab)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
  - homelab.nvidia_gpu.attributes.facts
requirements:
  - pciutils (the C(lspci) command) on the managed host
options:
  require_gpu:
    description:
      - Fail (problem C(no_gpu)) when no NVIDIA GPU is enumerated. The message names the power-on order
        of an external GPU.
      - The C(no_gpu) problem is always blocking and always fails the module, whatever O(fail_on) says.
    type: bool
    default: false
  fail_on:
    description:
      - Verdict problems that make the module fail, by code or by the keywords V(blocking), V(warning), V(all).
      - All matched messages are joined into the failure message.
    type: list
    elements: str
    default: []
    choices: [all, blocking, warning, branch_too_new, no_gpu, nouveau_bound, open_modules_unsupported,
              pcie_link_degraded, pi5_16k_page_kernel, pi5_proprietary_unsupported, unknown_gpu]
  warn_on:
    description:
      - Verdict problems returned as module warnings (problems that already fail the module are not repeated).
    type: list
    elements: str
    default: [all]
    choices: [all, blocking, warning, branch_too_new, no_gpu, nouveau_bound, open_modules_unsupported,
              pcie_link_degraded, pi5_16k_page_kernel, pi5_proprietary_unsupported, unknown_gpu]
  kernel_module_flavour:
    description:
      - The kernel-module flavour that will be installed. V(auto) lets the verdict choose;
        V(open) on a pre-Turing card or V(proprietary) on a Raspberry Pi 5 is a blocking problem.
    type: str
    choices: [auto, open, proprietary]
    default: auto
  driver_branch:
    description:
      - The driver branch that will be installed (for example V(580)); a branch above a card's last
        branch is the blocking problem C(branch_too_new). Omit to skip that check.
      - From V(100) to V(9999); anything else fails the module.
    type: int
  lspci_path:
    description:
      - Path of C(lspci). Default is C(lspci) found on E(PATH); if there is none the module fails
        and asks to install pciutils.
    type: path
  lspci_dump:
    description:
      - Read a PCI config-space dump (C(lspci -xxx) format) with C(lspci -F) instead of the live bus.
        A test seam; link facts then come from the dump unless O(sysfs_root) has them.
      - The GPUs found are then simulated (not on this host's bus) and C(nvidia_gpu_host.simulated) is true;
        consumers that need the device itself (a CDI spec, C(/dev/char) links, C(nvidia-smi)) treat them as absent.
    type: path
  sysfs_root:
    description: Root of sysfs (test seam).
    type: path
    default: /sys
  proc_root:
    description: Root of procfs, for C(modules) and C(cmdline) (test seam).
    type: path
    default: /proc
  device_tree_root:
    description: Root of the device tree, for C(model) (test seam).
    type: path
    default: /proc/device-tree
  modprobe_dir:
    description: Directory of modprobe configuration files searched for a nouveau blacklist.
    type: path
    default: /etc/modprobe.d
  page_size:
    description:
      - Kernel page size in bytes. Default is the running kernel's (C(os.sysconf("SC_PAGE_SIZE"))).
      - A power of two from V(4096) to V(262144); anything else fails the module.
    type: int
  command_timeout:
    description:
      - Seconds each C(lspci) run may take before it is killed and the module fails with a message that names
        the command. A hung C(lspci) usually means a GPU or PCIe bridge that stopped answering config-space reads.
      - From V(1) to V(3600).
    type: int
    default: 30
  supported_gpus_json:
    description:
      - Candidate paths of the driver's C(supported-gpus.json); the first readable one overrides the
        catalog per device id.
    type: list
    elements: path
    default:
      - /usr/share/nvidia-driver-assistant/supported-gpus/supported-gpus.json
      - /usr/share/doc/NVIDIA_GLX-1.0/supported-gpus/supported-gpus.json
notes:
  - Problem codes are C(pi5_proprietary_unsupported), C(pi5_16k_page_kernel), C(open_modules_unsupported),
    C(branch_too_new), C(nouveau_bound), C(no_gpu) (all blocking), C(pcie_link_degraded) and C(unknown_gpu)
    (warnings).
  - A GPU lowers its link speed when idle, so a degraded speed at idle is not necessarily a fault;
    a degraded width is.
  - Link widths outside x1 to x32 (including C(0), a link that is down) and speeds outside 0 to 128 GT/s are
    misreads, returned as null with a warning; they do not count towards C(pcie_link_degraded).
  - When C(lspci) exits 0 but its output cannot be read (no device record in it, or nothing on stdout and a message
    on stderr), the module warns "lspci's output could not be read" with a short excerpt and sets
    C(nvidia_gpu_host.lspci_output) to V(unreadable). C(nvidia_gpus) is then empty because nothing is known, not
    because there is no GPU, so the C(no_gpu) problem and its power-on advice are not raised, and O(require_gpu) fails
    with "cannot tell whether an NVIDIA GPU is present" instead.
seealso:
  - name: NVIDIA open GPU kernel modules
    description: Which GPUs the open kernel modules support.
    link: https://github.com/NVIDIA/open-gpu-kernel-modules
"""

EXAMPLES = r"""
- name: NVIDIA GPU facts are known
  homelab.nvidia_gpu.lspci_gpu_facts:

- name: Host has a GPU the planned driver can drive
  homelab.nvidia_gpu.lspci_gpu_facts:
    require_gpu: true
    driver_branch: 580
    kernel_module_flavour: auto
    fail_on: [blocking]
    warn_on: [warning]

- name: Show the verdict
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts.nvidia_gpu_host.verdict.module_flavour }} modules,
      branches {{ ansible_facts.nvidia_gpu_host.verdict.allowed_branches }}

- name: Judge a config-space dump instead of the live bus (tests)
  homelab.nvidia_gpu.lspci_gpu_facts:
    lspci_dump: /tmp/tesla_p4_pi5.dump
    device_tree_root: /tmp/fake-device-tree
    page_size: 16384
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    nvidia_gpus:
      description:
        - One entry per NVIDIA PCI function of class C(03xx), in bus order. Empty when there is none, and also
          when lspci's output could not be read (then C(nvidia_gpu_host.lspci_output) is V(unreadable)).
        - Each has C(address), C(vendor_id), C(device_id), C(subsystem_vendor_id), C(subsystem_device_id),
          C(vendor_name), C(device_name), C(subsystem_vendor_name), C(subsystem_name), C(class_id)
          (C(0300) VGA, C(0302) 3D), C(class_name), C(driver) (bound driver or null), C(kernel_modules),
          C(numa_node), C(iommu_group), C(link) (C(current_speed) and C(max_speed) in GT/s, C(current_width),
          C(max_width) 1 to 32, each null where unknown or out of range, C(degraded)), C(catalog) (C(name),
          C(architecture), C(compute_capability),
          C(open_modules), C(last_branch), C(source)) and C(verdict) (C(module_flavour), C(max_branch),
          C(allowed_branches), C(cuda_ceiling), C(problems)).
      returned: always
      type: list
      elements: dict
      sample:
        - address: "0000:01:00.0"
          vendor_id: "10de"
          device_id: "1bb3"
          subsystem_vendor_id: "10de"
          subsystem_device_id: "11d8"
          vendor_name: NVIDIA Corporation
          device_name: GP104GL [Tesla P4]
          subsystem_vendor_name: NVIDIA Corporation
          subsystem_name: Device
          class_id: "0302"
          class_name: 3D controller
          driver: null
          kernel_modules: []
          numa_node: null
          iommu_group: null
          link: {current_speed: 5.0, current_width: 1, max_speed: 8.0, max_width: 16, degraded: true}
          catalog: {name: Tesla P4, architecture: Pascal, compute_capability: "6.1", open_modules: false,
                    last_branch: 580, source: catalog}
          verdict: {module_flavour: proprietary, max_branch: 580, allowed_branches: "<=580",
                    cuda_ceiling: "12.9", problems: []}
    nvidia_gpu_host:
      description:
        - Host facts and the host verdict.
        - C(lspci_output) says how well lspci's output read. V(ok) every record was read; V(partial) some records
          were skipped (each is a warning, at most five, so a GPU may be missing from C(nvidia_gpus)); V(unreadable)
          no device record could be read, so C(nvidia_gpus) is empty because nothing is known (a warning says
          "lspci's output could not be read" and quotes an excerpt; no C(no_gpu) problem is raised).
        - C(simulated) is true when the GPUs were read from O(lspci_dump) rather than the live bus; the
          verdict holds for them, but no device node, driver or CDI spec can exist for them on this host.
        - C(platform) is V(raspberry_pi_5), V(raspberry_pi_4), V(raspberry_pi_3) or V(generic); C(model) the
          device-tree model; C(architecture) C(uname -m); C(page_size) in bytes; C(host_bridges) a list of
          C(address), C(vendor_id), C(device_id), C(name); C(nouveau) has C(loaded), C(bound), C(blacklisted).
        - C(verdict) has C(module_flavour) (V(open), V(proprietary) or null), C(max_branch) (int or null for
          current), C(allowed_branches) (for example V(<=580) or V(any)), C(cuda_ceiling) (for example V(12.9),
          null for current), C(problems) (each C(code), C(severity) V(blocking) or V(warning), C(gpu) address or
          null, C(message)) and C(can_work) (no blocking problem).
      returned: always
      type: dict
      sample:
        lspci_output: ok
        simulated: false
        platform: raspberry_pi_5
        model: Raspberry Pi 5 Model B Rev 1.0
        architecture: aarch64
        page_size: 4096
        host_bridges:
          - {address: "0000:00:00.0", vendor_id: "14e4", device_id: "2712", name: BCM2712 PCIe Bridge}
        nouveau: {loaded: false, bound: false, blacklisted: true}
        verdict:
          module_flavour: proprietary
          max_branch: 580
          allowed_branches: "<=580"
          cuda_ceiling: "12.9"
          can_work: false
          problems:
            - code: pi5_proprietary_unsupported
              severity: blocking
              gpu: "0000:01:00.0"
              message: The proprietary NVIDIA driver refuses the Raspberry Pi 5's Broadcom PCIe host bridge ...
"""

import os
import platform

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _commands as commands
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _gpu_verdict as verdict
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu import _lspci as lspci
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._gpu._gpu_catalog import SUPPORTED_GPUS_JSON_PATHS

SELECTORS = verdict.SELECTOR_KEYWORDS + verdict.PROBLEM_CODES
DEFAULT_COMMAND_TIMEOUT = 30
# (low, high, what a good value looks like) for the numeric options.
BOUNDS = {
    "command_timeout": (1, 3600, "seconds"),
    "driver_branch": (100, 9999, "an NVIDIA driver branch number such as 580"),
}
PAGE_SIZES = (4096, 262144)  # Linux pages are a power of two from 4 KiB to 256 KiB
PATH_OPTIONS = ("lspci_path", "lspci_dump", "sysfs_root", "proc_root", "device_tree_root", "modprobe_dir")


def option_errors(params: dict) -> list[str]:
    """Range and sanity checks the argument spec cannot express; one sentence per bad option."""
    errors = []
    for name, (low, high, what) in BOUNDS.items():
        value = params[name]
        if value is not None and not low <= value <= high:
            errors.append(f"{name} must be {what}, from {low} to {high}; got {value}.")
    size = params["page_size"]
    if size is not None and not (PAGE_SIZES[0] <= size <= PAGE_SIZES[1] and size & (size - 1) == 0):
        errors.append(f"page_size must be the kernel page size in bytes, a power of two from {PAGE_SIZES[0]}"
                      f" to {PAGE_SIZES[1]} (4096, 16384 or 65536 on arm64); got {size}.")
    paths = [(name, params[name]) for name in PATH_OPTIONS] + [
        ("supported_gpus_json", p) for p in params["supported_gpus_json"] or []]
    errors += [f"{name} contains a NUL byte: {value!r}." for name, value in paths if value and "\x00" in value]
    return errors


def timeout_message(exc: commands.CommandTimeout) -> str:
    return (f"{' '.join(exc.argv)} did not finish within {exc.seconds:g} s (command_timeout) and was killed."
            " lspci hangs when a GPU or PCIe bridge stops answering config-space reads (a wedged card, a loose"
            " riser or adapter, an external GPU that lost power). Power the host off, check the cabling, power on"
            " an external GPU's PSU and the GPU first, then boot the host. Raise command_timeout only if lspci is"
            " merely slow here.")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "require_gpu": {"type": "bool", "default": False},
            "fail_on": {"type": "list", "elements": "str", "default": [], "choices": SELECTORS},
            "warn_on": {"type": "list", "elements": "str", "default": ["all"], "choices": SELECTORS},
            "kernel_module_flavour": {"type": "str", "choices": verdict.FLAVOURS, "default": "auto"},
            "driver_branch": {"type": "int"},
            "lspci_path": {"type": "path"},
            "lspci_dump": {"type": "path"},
            "sysfs_root": {"type": "path", "default": "/sys"},
            "proc_root": {"type": "path", "default": "/proc"},
            "device_tree_root": {"type": "path", "default": "/proc/device-tree"},
            "modprobe_dir": {"type": "path", "default": "/etc/modprobe.d"},
            "page_size": {"type": "int"},
            "supported_gpus_json": {"type": "list", "elements": "path", "default": list(SUPPORTED_GPUS_JSON_PATHS)},
            "command_timeout": {"type": "int", "default": DEFAULT_COMMAND_TIMEOUT},
        },
        supports_check_mode=True,
    )
    params = module.params
    bad = option_errors(params)
    if bad:
        module.fail_json(msg=" ".join(bad))
    lspci_path = params["lspci_path"] or module.get_bin_path("lspci")
    if not lspci_path or not os.path.isfile(lspci_path) or not os.access(lspci_path, os.X_OK):
        module.fail_json(msg=f"lspci not found ({params['lspci_path'] or 'not on PATH'}): install pciutils "
                             "(apt-get install pciutils) on this host.")
    if params["lspci_dump"] and not os.path.isfile(params["lspci_dump"]):
        module.fail_json(msg=f"lspci_dump {params['lspci_dump']} is not a file.")

    def run(argv: list[str]) -> tuple[int, str, str]:
        return commands.run(argv, timeout=params["command_timeout"])

    try:
        gpus, host, errors = lspci.collect(
            run, lspci_path, params["lspci_dump"], params["sysfs_root"], params["proc_root"],
            params["device_tree_root"], params["modprobe_dir"],
        )
    except lspci.LspciError as exc:
        module.fail_json(msg=str(exc))
    except commands.CommandTimeout as exc:
        module.fail_json(msg=timeout_message(exc))
    except commands.CommandNotRunnable as exc:
        module.fail_json(msg=f"{exc}: lspci_path must be the lspci program of pciutils (apt-get install pciutils).")
    for error in errors:
        module.warn(error)
    supported, json_errors = verdict.load_supported_gpus(params["supported_gpus_json"])
    for error in json_errors:
        module.warn(error)
    host["architecture"] = platform.machine()
    host["page_size"] = params["page_size"] or os.sysconf("SC_PAGE_SIZE")
    # Unreadable output proves nothing about the bus: no "no GPU, power it on first" advice then.
    unknown = not gpus and host["lspci_output"] != "ok"
    gpus, host = verdict.judge(gpus, host, supported, params["kernel_module_flavour"], params["driver_branch"],
                               params["require_gpu"] and not unknown)
    host["simulated"] = bool(params["lspci_dump"])  # GPUs from a dump are not on this host's bus
    facts = {"nvidia_gpus": gpus, "nvidia_gpu_host": host}

    problems = host["verdict"]["problems"]
    failing = verdict.select(problems, params["fail_on"])
    failing += [p for p in problems if p["code"] == "no_gpu" and p not in failing]
    for item in verdict.select(problems, params["warn_on"]):
        if item not in failing:
            module.warn(f"[{item['code']}] {item['message']}")
    messages = [f"[{p['code']}] {p['message']}" for p in failing]
    if params["require_gpu"] and unknown:
        messages.insert(0, f"require_gpu: cannot tell whether an NVIDIA GPU is present: {errors[0]}")
    if messages:
        module.fail_json(msg=" ".join(messages), ansible_facts=facts)
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()

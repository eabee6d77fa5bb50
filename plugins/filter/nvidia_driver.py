# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
name: nvidia_driver_plan
short_description: Choose the NVIDIA kernel-module flavour and driver branch from the GPU verdict
version_added: 0.1.0
author:
  - homelab.nvidia_gpu maintainers (@homelab)
description:
  - Takes the host verdict of P(homelab.nvidia_gpu.lspci_gpu_facts#module) (C(ansible_facts.nvidia_gpu_host))
    and returns the flavour and branch the P(homelab.nvidia_gpu.nvidia_driver#role) role installs.
  - Flavour is the pinned one, else the verdict's (open for Turing and newer, proprietary when any card is
    Maxwell, Pascal or Volta). Branch is the pinned one, else O(default_branch) capped at the oldest card's
    last branch (for example 580 for a Tesla P4 or P10).
  - Refuses, with the verdict's own sentence, the blocking problems named in O(refuse_on) (a proprietary
    driver on a Raspberry Pi 5, open modules on a pre-Turing card, a branch above a card's last one).
  - With no GPU enumerated the choice comes from the variables alone and RV(_value.message) says that the
    GPU-dependent steps will be skipped.
options:
  _input:
    description: The host facts C(ansible_facts.nvidia_gpu_host) (at least C(verdict)).
    type: dict
    required: true
  gpu_count:
    description: Number of NVIDIA GPUs enumerated (C(ansible_facts.nvidia_gpus | length)).
    type: int
    required: true
  flavour:
    description: Pinned flavour, or V(auto).
    type: str
    default: auto
    choices: [auto, open, proprietary]
  branch:
    description: Pinned branch (an integer), or V(auto).
    type: raw
    default: auto
  default_branch:
    description: Branch chosen for V(auto) before the cap of the oldest card applies.
    type: int
    default: 580
  fallback_flavour:
    description: Flavour chosen for V(auto) when no GPU is enumerated.
    type: str
    default: open
  refuse_on:
    description: Blocking problem codes of the verdict that refuse the plan.
    type: list
    elements: str
    default: [pi5_proprietary_unsupported, open_modules_unsupported, branch_too_new, no_gpu]
"""

EXAMPLES = r"""
- name: Plan the driver from the GPUs present
  ansible.builtin.set_fact:
    plan: >-
      {{ ansible_facts.nvidia_gpu_host | homelab.nvidia_gpu.nvidia_driver_plan(
           gpu_count=ansible_facts.nvidia_gpus | length, flavour='auto', branch='auto') }}
"""

RETURN = r"""
_value:
  description: The plan.
  type: dict
  contains:
    flavour:
      description: V(open) or V(proprietary).
      type: str
    branch:
      description: The driver branch, for example V(580).
      type: int
    gpu_present:
      description: Whether any GPU was enumerated.
      type: bool
    flavour_reason:
      description: Why this flavour.
      type: str
    branch_reason:
      description: Why this branch.
      type: str
    message:
      description: One sentence for the play's output.
      type: str
"""

from ansible.errors import AnsibleFilterError

FLAVOURS = ("open", "proprietary")
DEFAULT_REFUSE_ON = ("pi5_proprietary_unsupported", "open_modules_unsupported", "branch_too_new", "no_gpu")


def _branch(value, what: str) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    if isinstance(value, bool):
        raise AnsibleFilterError(f"nvidia_driver_plan: {what} must be 'auto' or a branch number, not {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise AnsibleFilterError(
            f"nvidia_driver_plan: {what} must be 'auto' or a branch number such as 580, not {value!r}"
        ) from None
    if number <= 0:
        raise AnsibleFilterError(f"nvidia_driver_plan: {what} must be a positive branch number, not {value!r}")
    return number


def nvidia_driver_plan(
    gpu_host: dict,
    gpu_count: int,
    flavour: str = "auto",
    branch="auto",
    default_branch: int = 580,
    fallback_flavour: str = "open",
    refuse_on=DEFAULT_REFUSE_ON,
) -> dict:
    if not isinstance(gpu_host, dict) or not isinstance(gpu_host.get("verdict"), dict):
        raise AnsibleFilterError("nvidia_driver_plan: input must be ansible_facts.nvidia_gpu_host (with a verdict)")
    flavour = (flavour or "auto").strip().lower()
    if flavour not in (*FLAVOURS, "auto"):
        raise AnsibleFilterError(f"nvidia_driver_plan: flavour must be auto, open or proprietary, not {flavour!r}")
    if fallback_flavour not in FLAVOURS:
        raise AnsibleFilterError(
            f"nvidia_driver_plan: fallback_flavour must be open or proprietary, not {fallback_flavour!r}")
    pinned_branch = _branch(branch, "branch")
    default = _branch(default_branch, "default_branch")
    if default is None:
        raise AnsibleFilterError("nvidia_driver_plan: default_branch must be a branch number")

    verdict = gpu_host["verdict"]
    refusals = [p for p in verdict.get("problems") or []
                if p.get("code") in set(refuse_on) and p.get("severity", "blocking") == "blocking"]
    if refusals:
        raise AnsibleFilterError(" ".join(f"[{p['code']}] {p['message']}" for p in refusals))

    present = int(gpu_count or 0) > 0
    cap = verdict.get("max_branch") if present else None
    if flavour != "auto":
        chosen_flavour, flavour_reason = flavour, "pinned by nvidia_driver_module_flavour"
    elif not present:
        chosen_flavour, flavour_reason = fallback_flavour, "no GPU enumerated: the role's fallback"
    elif verdict.get("module_flavour") in FLAVOURS:
        chosen_flavour = verdict["module_flavour"]
        flavour_reason = ("a Maxwell, Pascal or Volta card needs the proprietary modules"
                          if chosen_flavour == "proprietary" else "every card is Turing or newer")
    else:
        raise AnsibleFilterError(
            "nvidia_driver_plan: the architecture of a GPU on this host is unknown, so the kernel-module flavour"
            " cannot be chosen: set nvidia_driver_module_flavour to open (Turing and newer) or proprietary"
            " (Maxwell, Pascal, Volta).")

    if pinned_branch is not None:
        chosen_branch, branch_reason = pinned_branch, "pinned by nvidia_driver_branch"
        if cap is not None and pinned_branch > cap:  # the facts module refuses this too; never plan past it
            raise AnsibleFilterError(
                f"[branch_too_new] Driver branch {pinned_branch} is above the last branch ({cap}) of a GPU on"
                f" this host. Pin the driver to branch {cap} or older.")
    elif cap is not None and cap < default:
        chosen_branch, branch_reason = cap, f"the default {default} capped at the oldest card's last branch"
    else:
        chosen_branch, branch_reason = default, "the role's default branch (nvidia_driver_default_branch)"

    if present:
        message = (f"{gpu_count} NVIDIA GPU(s): {chosen_flavour} kernel modules ({flavour_reason}),"
                   f" branch {chosen_branch} ({branch_reason}).")
    else:
        message = (f"No NVIDIA GPU is enumerated and nvidia_driver_require_gpu is false: installing"
                   f" {chosen_flavour} kernel modules ({flavour_reason}), branch {chosen_branch} ({branch_reason});"
                   " the GPU-dependent steps (module load, nvidia-smi, persistence mode, reboot) will be skipped.")
    return {
        "flavour": chosen_flavour,
        "branch": chosen_branch,
        "gpu_present": present,
        "flavour_reason": flavour_reason,
        "branch_reason": branch_reason,
        "message": message,
    }


class FilterModule:
    def filters(self):
        return {"nvidia_driver_plan": nvidia_driver_plan}

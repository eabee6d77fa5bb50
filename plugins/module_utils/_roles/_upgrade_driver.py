# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""upgrade_driver.yml's decisions as data (pure): what one node's upgrade would do, and the run's summary.

The decision is made before anything on the node is touched, so that a node with nothing to do keeps its
GPU containers running and a second run changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_policy

RESULTS = ("upgraded", "unchanged", "skipped", "failed")


def _major(version: str) -> str:
    return _apt_policy.upstream_version(version).split(".")[0]


def decide(policy_text: str, plan_driver: Mapping[str, Any], source: str, branch: Any, version: str = "") -> dict:
    """What upgrading one node to BRANCH (and VERSION, an upstream version such as 580.95.05, when asked) does.

    ``policy_text`` is ``apt-cache policy`` of the plan's driver packages (``plan_driver``: the GPU plan's
    ``driver``, for the target branch). Returns ``{action, from, to, specs, reason}``: action ``upgrade``
    (specs: ``name=<Debian version>`` for every driver package), ``unchanged`` or ``skip`` (reason says why).
    The target is the newest version of the branch that apt's sources know (not apt's candidate: the pinning
    package of the old branch still bounds that one), or exactly VERSION.
    """
    branch = str(branch)
    version = str(version or "").strip()
    if source == "runfile":
        return _skip("installed by NVIDIA's .run installer: upgrade it with site.yml and a new "
                     "nvidia_driver_runfile_url")
    dkms = plan_driver.get("dkms_package")
    packages = [str(name) for name in plan_driver.get("packages") or []]
    if not dkms or not packages:
        return _skip(f"the GPU plan names no driver packages for source {source}")
    if version and _major(version) != branch:
        return _skip(f"version {version} is not in branch {branch}")
    policy = _apt_policy.parse(policy_text, packages)
    known = policy[dkms]["versions"]
    if source == "debian" and not version:
        candidate = policy[dkms]["candidate"]
        offered = [candidate] if candidate != _apt_policy.NONE and _major(candidate) == branch else []
    else:
        offered = [v for v in known
                   if _major(v) == branch and (not version or _apt_policy.upstream_version(v) == version)]
    installed = policy[dkms]["installed"]
    now = _apt_policy.upstream_version(installed) if installed else ""
    if not offered:
        wanted = f"{dkms} {version}" if version else f"branch {branch} version of {dkms}"
        return _skip(f"apt offers no {wanted} (known: {', '.join(known) or 'none'}); is the driver repo configured?",
                     now)
    target = offered[0]  # apt's version table lists the newest first
    to = _apt_policy.upstream_version(target)
    behind = [name for name in packages if _apt_policy.upstream_version(policy[name]["installed"]) != to]
    if not behind:
        return {"action": "unchanged", "from": now, "to": to, "specs": [],
                "reason": f"driver {to} is already the {'asked version' if version else 'newest of branch ' + branch}"}
    specs = [f"{name}={target}" for name in packages]
    return {"action": "upgrade", "from": now, "to": to, "specs": specs, "argv": APT_INSTALL + specs,
            "reason": f"{now or 'no driver'} -> {to} ({', '.join(behind)} to move)"}


# apt-get, not the apt module: a version on apt-get's command line overrides the pinning package's pin
# (Pin-Priority 1000 for the whole branch), which the apt module's own version pin does not.
APT_INSTALL = ["apt-get", "install", "--yes", "--no-install-recommends", "--allow-downgrades",
               "--allow-change-held-packages", "-o", "Dpkg::Options::=--force-confold"]


def record(decision: Mapping[str, Any]) -> dict:
    """The node's upgrade_driver_result for a decision that touches nothing (unchanged or skip)."""
    return {"result": "unchanged" if decision.get("action") == "unchanged" else "skipped",
            "from": decision.get("from", ""), "to": decision.get("to", ""), "reason": decision.get("reason", "")}


def failure(task_name: str, result: Mapping[str, Any], limit: int = 300) -> str:
    """Why a node failed, in one line within ``limit``: the task, its message and the first line of its output
    of each kind that says what broke (DKMS's ``Error!``, dpkg's ``error processing package``, apt's ``E:``)."""
    result = result if isinstance(result, Mapping) else {}
    said = _shapes.plain(result.get("msg") or "").strip()
    lines = [_shapes.plain(line).strip() for key in ("stdout_lines", "stderr_lines")
             for line in (result.get(key) if isinstance(result.get(key), list) else [])]
    kinds = (lambda line: line.startswith("Error!"), lambda line: "error processing package" in line,
             lambda line: line.startswith("E: "))
    why = [next((line for line in lines if kind(line)), "") for kind in kinds]
    text = "; ".join(part for part in dict.fromkeys([said, *why]) if part)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{task_name or 'a task'}: {text or 'failed'}"


def _skip(reason: str, now: str = "") -> dict:
    return {"action": "skip", "from": now, "to": "", "specs": [], "reason": reason}


def asked(branch: Any = "", version: Any = "") -> str:
    """What the user asked for, in words (``branch 590, version 590.48.01``); empty when nothing was."""
    parts = [f"branch {branch}"] if str(branch or "") else []
    return ", ".join(parts + ([f"version {version}"] if str(version or "") else []))


def _result(hostvars: Mapping[str, Any], host: str) -> Mapping[str, Any]:
    entry = hostvars.get(host) or {}
    if "upgrade_driver_result" in entry:  # hostvars
        entry = entry["upgrade_driver_result"] or {}
    return entry if entry.get("result") in RESULTS else {}


def summary(hostvars: Mapping[str, Any], hosts: Sequence[str], wanted: str = "", allow_skips: bool = False) -> dict:
    """The run's summary: ``{lines, counts, failed, refused}`` from each node's ``upgrade_driver_result``.

    ``hostvars`` (or a mapping host -> result) gives each host's ``{result, from, to, reason}``; a host
    without one was not reached. ``wanted`` is what the user asked for (``asked()``; empty when nothing
    was): when no node could take it, ``refused`` is true unless ``allow_skips``.
    """
    lines = []
    counts = {name: 0 for name in (*RESULTS, "not reached")}
    for host in hosts:
        entry = _result(hostvars, host)
        result = entry.get("result", "not reached")
        counts[result] = counts.get(result, 0) + 1
        if result == "upgraded":
            lines.append(f"{host}: upgraded {_shapes.plain(entry.get('from') or 'no driver')}"
                         f" -> {_shapes.plain(entry.get('to'))}")
        elif result == "unchanged":
            lines.append(f"{host}: unchanged ({_shapes.plain(entry.get('reason'))})")
        elif result in ("skipped", "failed"):
            lines.append(f"{host}: {result}: {_shapes.plain(entry.get('reason'))}")
        else:
            lines.append(f"{host}: not reached (the run stopped at a failed node before it)")
    took = counts["upgraded"] + counts["unchanged"]
    refused = bool(wanted) and took == 0 and counts["failed"] == 0 and not allow_skips
    head = ", ".join(f"{counts[name]} {name}" for name in (*RESULTS, "not reached") if counts[name])
    lines.insert(0, f"Driver upgrade{' to ' + wanted if wanted else ''}: {head or 'no GPU nodes'}")
    if refused:
        lines.append(f"No node could take {wanted}: the run fails (upgrade_driver_allow_skips: true accepts this).")
    return {"lines": lines, "counts": counts, "failed": counts["failed"] > 0, "refused": refused}

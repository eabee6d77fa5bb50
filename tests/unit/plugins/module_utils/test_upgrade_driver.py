# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.upgrade_driver import FilterModule

F = FilterModule().filters()
DRIVER = {"packages": ["nvidia-driver-cuda", "nvidia-kernel-dkms"], "dkms_package": "nvidia-kernel-dkms"}


def policy(installed: str, candidate: str = "580.95.05-1", dkms_installed: str | None = None) -> str:
    """apt-cache policy of the two driver packages with the mirror's versions (newest first, as apt prints)."""
    out = []
    for name in DRIVER["packages"]:
        have = dkms_installed if (name == "nvidia-kernel-dkms" and dkms_installed is not None) else installed
        out += [f"{name}:", f"  Installed: {have or '(none)'}", f"  Candidate: {candidate}", "  Version table:"]
        for v in ("590.48.01-1", "580.95.05-1", "580.82.09-1", "570.195.03-1"):
            mark = "***" if v == have else "   "
            out += [f" {mark} {v} 500", "        500 http://mirror.lab/compute/cuda/repos/debian12/x86_64  Packages"]
    return "\n".join(out) + "\n"


def test_in_branch_upgrade_goes_to_the_newest_of_the_branch():
    got = F["upgrade_driver_decision"](policy("580.82.09-1"), DRIVER, "cuda_repo", 580)
    assert got["action"] == "upgrade" and (got["from"], got["to"]) == ("580.82.09", "580.95.05")
    assert got["specs"] == ["nvidia-driver-cuda=580.95.05-1", "nvidia-kernel-dkms=580.95.05-1"]


def test_branch_change_ignores_the_candidate_the_old_pin_still_gives():
    # pinning-570 keeps apt's candidate on 570; the target is branch 580's newest all the same
    got = F["upgrade_driver_decision"](policy("570.195.03-1", candidate="570.195.03-1"), DRIVER, "cuda_repo", "580")
    assert (got["action"], got["from"], got["to"]) == ("upgrade", "570.195.03", "580.95.05")


def test_newest_already_installed_is_unchanged_and_moves_nothing():
    got = F["upgrade_driver_decision"](policy("580.95.05-1"), DRIVER, "cuda_repo", 580)
    assert got["action"] == "unchanged" and got["specs"] == []
    assert "newest of branch 580" in got["reason"]


def test_a_package_left_behind_is_still_an_upgrade():
    got = F["upgrade_driver_decision"](policy("580.82.09-1", dkms_installed="580.95.05-1"), DRIVER, "cuda_repo", 580)
    assert got["action"] == "upgrade" and "nvidia-driver-cuda" in got["reason"]
    assert "nvidia-kernel-dkms to move" not in got["reason"]


def test_exact_version_may_go_down_within_the_branch():
    got = F["upgrade_driver_decision"](policy("580.95.05-1"), DRIVER, "cuda_repo", 580, "580.82.09")
    assert (got["action"], got["to"]) == ("upgrade", "580.82.09")
    assert got["specs"][0] == "nvidia-driver-cuda=580.82.09-1"


@pytest.mark.parametrize("branch, version, why", [
    (590, "", None),  # offered, so not a skip here: the GPU plan refuses 590 on Pascal before this
    (600, "", "apt offers no branch 600 version of nvidia-kernel-dkms (known: 590.48.01-1, 580.95.05-1"),
    (580, "570.195.03", "version 570.195.03 is not in branch 580"),
    (580, "580.11.11", "apt offers no nvidia-kernel-dkms 580.11.11"),
])
def test_skips_say_why(branch, version, why):
    got = F["upgrade_driver_decision"](policy("580.82.09-1"), DRIVER, "cuda_repo", branch, version)
    if why is None:
        assert got["action"] == "upgrade" and got["to"] == "590.48.01"
    else:
        assert got["action"] == "skip" and got["specs"] == [] and why in got["reason"]


def test_runfile_and_debian_sources():
    assert F["upgrade_driver_decision"]("", {}, "runfile", 580)["action"] == "skip"
    deb = {"packages": ["nvidia-kernel-dkms"], "dkms_package": "nvidia-kernel-dkms"}
    got = F["upgrade_driver_decision"](policy("580.82.09-1", candidate="580.82.09-1"), deb, "debian", 580)
    assert got["action"] == "unchanged"  # Debian's candidate, not the newest any source knows


@pytest.mark.parametrize("args", [
    (None, DRIVER, "cuda_repo", 580), ("", "x", "cuda_repo", 580), ("", DRIVER, "ppa", 580),
    ("", DRIVER, "cuda_repo", "auto"),
])
def test_decision_refuses_bad_input(args):
    with pytest.raises(AnsibleFilterError, match="upgrade_driver_decision"):
        F["upgrade_driver_decision"](*args)


RESULTS = {
    "a": {"result": "upgraded", "from": "580.82.09", "to": "580.95.05"},
    "b": {"result": "unchanged", "reason": "driver 580.95.05 is already the newest of branch 580"},
    "pi5": {"result": "skipped", "reason": "the GPU verdict says the driver cannot work here"},
}


def test_summary_names_every_node_and_counts():
    got = F["upgrade_driver_summary"](RESULTS, ["a", "b", "pi5", "c"])
    assert got["lines"] == [
        "Driver upgrade: 1 upgraded, 1 unchanged, 1 skipped, 1 not reached",
        "a: upgraded 580.82.09 -> 580.95.05",
        "b: unchanged (driver 580.95.05 is already the newest of branch 580)",
        "pi5: skipped: the GPU verdict says the driver cannot work here",
        "c: not reached (the run stopped at a failed node before it)",
    ]
    assert not got["failed"] and not got["refused"]


def test_an_asked_branch_nobody_could_take_is_refused_unless_skips_are_allowed():
    only_skips = {host: {"result": "skipped", "reason": "590 refused"} for host in ("a", "b")}
    got = F["upgrade_driver_summary"](only_skips, ["a", "b"], 590)
    assert got["refused"] and got["lines"][0] == "Driver upgrade to branch 590: 2 skipped"
    assert "upgrade_driver_allow_skips" in got["lines"][-1]
    assert not F["upgrade_driver_summary"](only_skips, ["a", "b"], 590, "", True)["refused"]
    assert not F["upgrade_driver_summary"](only_skips, ["a", "b"])["refused"]  # nothing asked: skips are a report
    by_version = F["upgrade_driver_summary"](only_skips, ["a", "b"], "", "590.48.01")
    assert by_version["refused"] and by_version["lines"][0].startswith("Driver upgrade to version 590.48.01:")
    failed = F["upgrade_driver_summary"]({"a": {"result": "failed", "reason": "dkms"}}, ["a", "b"], 570)
    assert failed["failed"] and not failed["refused"]


def test_summary_reads_each_hosts_fact_from_hostvars():
    hostvars = {"a": {"upgrade_driver_result": RESULTS["a"], "result": "x"}, "b": {"result": "not ours"}, "c": {}}
    got = F["upgrade_driver_summary"](hostvars, ["a", "b", "c"])
    assert got["counts"]["upgraded"] == 1 and got["counts"]["not reached"] == 2


def test_summary_refuses_bad_input():
    with pytest.raises(AnsibleFilterError, match="upgrade_driver_summary"):
        F["upgrade_driver_summary"]([], ["a"])
    with pytest.raises(AnsibleFilterError, match="upgrade_driver_summary"):
        F["upgrade_driver_summary"]({}, "a")


def test_failure_says_what_broke_in_one_line():
    result = {"msg": "non-zero return code", "rc": 100,
              "stdout_lines": ["Building module:",
                               "Error! Bad return status for module build on kernel: 6.1.0-50-amd64",
                               "dpkg: error processing package nvidia-kernel-dkms (--configure):",
                               "dpkg: error processing package nvidia-driver-cuda (--configure):"],
              "stderr_lines": ["E: Sub-process /usr/bin/dpkg returned an error code (1)"]}
    got = F["upgrade_driver_failure"]("Driver packages are at the target version 580.82.09", result)
    assert got == ("Driver packages are at the target version 580.82.09: non-zero return code; "
                   "Error! Bad return status for module build on kernel: 6.1.0-50-amd64; "
                   "dpkg: error processing package nvidia-kernel-dkms (--configure):; "
                   "E: Sub-process /usr/bin/dpkg returned an error code (1)")
    assert F["upgrade_driver_failure"]("", None) == "a task: failed"
    assert F["upgrade_driver_failure"]("T", {"msg": "x" * 400}).endswith("...")
    assert len(F["upgrade_driver_failure"]("T", {"msg": "x" * 400})) == len("T: ") + 300

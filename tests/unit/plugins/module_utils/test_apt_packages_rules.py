# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""apt_packages' rules (module_utils/_files/_apt_policy.py) against this machine's real dpkg-query, apt-cache and
apt-get (--simulate): what dpkg says is installed, which versions apt knows, and whether apt-get accepts the
command line the module would run. Skipped where the machine has no dpkg (not Debian)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_policy as policy

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="no dpkg on this machine")


def _run(argv):
    env = {"LC_ALL": "C", "PATH": "/usr/bin:/bin"}
    return subprocess.run(argv, capture_output=True, text=True, check=False, env=env)


def _dpkg(names):
    return _run(policy.dpkg_query_argv(names)).stdout


def test_an_installed_package_needs_nothing_and_a_missing_one_is_installed():
    out = _dpkg(["dpkg", "no-such-package-homelab"])
    real = _run(["dpkg-query", "-W", "-f=${Version}", "dpkg"]).stdout
    todo = policy.package_actions(out, ["dpkg", f"dpkg={real}", "no-such-package-homelab"])
    assert todo == {"install": ["no-such-package-homelab"], "remove": [], "hold": [], "unhold": []}


def test_another_version_of_an_installed_package_is_unsatisfied():
    out = _dpkg(["dpkg"])
    assert policy.package_actions(out, ["dpkg=0.0.1-1"])["install"] == ["dpkg=0.0.1-1"]


def test_hold_is_asked_only_for_packages_not_held():
    out = _dpkg(["dpkg"])
    held = _run(["apt-mark", "showhold"]).stdout.split()
    want = [] if "dpkg" in held else ["dpkg"]
    assert policy.package_actions(out, ["dpkg"], hold=True)["hold"] == want


def test_hold_false_releases_only_packages_that_are_held():
    out = _dpkg(["dpkg"])
    held = _run(["apt-mark", "showhold"]).stdout.split()
    assert policy.package_actions(out, ["dpkg"], hold=False)["unhold"] == (["dpkg"] if "dpkg" in held else [])
    assert policy.package_actions(out, ["dpkg"])["unhold"] == policy.package_actions(out, ["dpkg"])["hold"] == []


def test_absent_removes_only_what_dpkg_has_installed():
    out = _dpkg(["dpkg", "no-such-package-homelab"])
    assert policy.package_actions(out, ["dpkg", "no-such-package-homelab"], state="absent")["remove"] == ["dpkg"]


def test_a_glob_resolves_to_the_newest_version_apt_knows():
    out = _run(["apt-cache", "policy", "dpkg"]).stdout
    known = policy.parse(out, ["dpkg"])["dpkg"]["versions"]
    if not known:
        pytest.skip("apt has no lists for dpkg here")
    first = known[0]
    major = first.split(".")[0]
    assert policy.resolve_versions([f"dpkg={major}.*"], out) == [f"dpkg={first}"]
    with pytest.raises(ValueError, match=r"no version of dpkg matches 0\.0\.0\.\*"):
        policy.resolve_versions(["dpkg=0.0.0.*"], out)


def test_a_package_apt_does_not_know_is_named():
    out = _run(["apt-cache", "policy", "no-such-package-homelab"]).stdout
    with pytest.raises(ValueError, match="apt knows no package no-such-package-homelab"):
        policy.resolve_versions(["no-such-package-homelab"], out)


@pytest.mark.parametrize("spec", ["Bad Name", "", "pkg; rm -rf /", "-o=x"])
def test_a_spec_that_is_not_a_package_is_refused(spec):
    with pytest.raises(ValueError, match="is not a package spec"):
        policy.package_actions("", [spec])


@pytest.mark.parametrize("options", [{}, {"install_recommends": True, "allow_downgrade": True,
                                          "allow_change_held_packages": True}])
def test_apt_get_accepts_the_install_command_line(options):
    if shutil.which("apt-get") is None:
        pytest.skip("no apt-get")
    argv = policy.apt_get_argv("install", ["dpkg"], **options)
    argv.insert(2, "--simulate")
    done = _run(argv)
    assert done.returncode == 0, done.stderr


def test_apt_get_accepts_the_purge_command_line_and_names_an_unknown_package():
    argv = policy.apt_get_argv("purge", ["no-such-package-homelab"])
    argv.insert(2, "--simulate")
    done = _run(argv)
    # apt-get's own answer for a name it does not know (exit 100), not a refusal of the options.
    assert done.returncode == 100 and "no-such-package-homelab" in done.stderr

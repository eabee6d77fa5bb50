# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action container_runtime_plan, checked against sources outside the planner.

- Docker's install guides (docs.docker.com/engine/install/debian/ and /ubuntu/, read late 2026): the deb822 source
  they write (Types deb, URIs https://download.docker.com/linux/<debian|ubuntu>, Suites the release code name,
  Components stable, Signed-By the keyring), the key at <URIs>/gpg with fingerprint
  9DC8 5822 9FC7 DD38 854A E2D8 8D81 803C 0EBF CD88, and the packages they install (docker-ce docker-ce-cli
  containerd.io docker-buildx-plugin docker-compose-plugin).
- Debian's archive (packages.debian.org): docker.io and containerd in bookworm and trixie; docker-cli split out of
  docker.io in trixie.
- dpkg's architecture names for Ansible's machine names (x86_64 is amd64, aarch64 is arm64).
"""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.action.container_runtime_plan import ActionModule
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_sources
from hypothesis import given, settings
from hypothesis import strategies as st

DOCKER_GUIDE_PACKAGES = ["docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin",
                         "docker-compose-plugin"]
DOCKER_FINGERPRINT = "9DC8 5822 9FC7 DD38 854A E2D8 8D81 803C 0EBF CD88"
HOST = {"distribution": "Debian", "distribution_release": "bookworm", "architecture": "x86_64"}


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


def fields(sources_text):
    (stanza,) = _apt_sources.parse(sources_text)
    return dict(stanza)


@pytest.mark.parametrize("distribution,release,path", [("Debian", "bookworm", "debian"), ("Debian", "trixie", "debian"),
                                                       ("Ubuntu", "noble", "ubuntu")])
def test_dockers_source_is_the_one_of_dockers_guide(distribution, release, path):
    repo = plan(docker_source="docker", distribution=distribution, distribution_release=release)["docker_repo"]
    assert repo["present"] is True and repo["absent"] is False
    assert fields(repo["sources"]) == {
        "Types": "deb", "URIs": f"https://download.docker.com/linux/{path}", "Suites": release,
        "Components": "stable", "Architectures": "amd64", "Signed-By": "/etc/apt/keyrings/docker.gpg"}
    assert repo["key_url"] == f"https://download.docker.com/linux/{path}/gpg"
    assert repo["fingerprint"] == DOCKER_FINGERPRINT.replace(" ", "")
    assert repo["sources_path"] == "/etc/apt/sources.list.d/docker.sources"


def test_a_mirror_another_channel_and_arm64():
    repo = plan(docker_source="docker", docker_repo_base_url="http://mirror.lab/docker", docker_repo_channel="test",
                architecture="aarch64", keyring_dir="/usr/share/keyrings")["docker_repo"]
    assert fields(repo["sources"]) == {
        "Types": "deb", "URIs": "http://mirror.lab/docker/debian", "Suites": "bookworm", "Components": "test",
        "Architectures": "arm64", "Signed-By": "/usr/share/keyrings/docker.gpg"}
    assert repo["key_url"] == "http://mirror.lab/docker/debian/gpg"


def test_the_fingerprint_as_docker_prints_it_is_accepted_and_a_short_id_refused():
    assert plan(docker_source="docker", docker_repo_key_fingerprint=DOCKER_FINGERPRINT.lower())["docker_repo"][
        "fingerprint"] == "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
    assert "40-digit" in refusal(docker_source="docker", docker_repo_key_fingerprint="0EBFCD88")


def test_a_value_that_would_add_a_field_to_the_source_is_refused_naming_its_variable():
    msg = refusal(docker_source="docker", docker_repo_base_url="https://x.example/linux\nTrusted: yes")
    assert "container_runtime_docker_repo_base_url" in msg


def test_dockers_packages_are_those_of_its_guide_without_compose():
    p = plan(docker_source="docker")
    assert p["packages"] == [*DOCKER_GUIDE_PACKAGES[:4], "python3-tomlkit"]
    assert plan(docker_source="docker", docker=False)["packages"] == ["containerd.io", "python3-tomlkit"]


def test_debians_packages_and_its_separate_cli_where_apt_knows_it():
    assert plan()["packages"] == ["docker.io", "containerd", "python3-tomlkit"]
    assert plan(apt_knows_docker_cli=True)["packages"] == ["docker.io", "docker-cli", "containerd", "python3-tomlkit"]
    assert plan(docker_source="docker", apt_knows_docker_cli=True)["packages"][:2] == ["docker-ce", "docker-ce-cli"]
    assert plan(containerd=False)["packages"] == ["docker.io"]
    repo = plan()["docker_repo"]
    assert repo["present"] is False and repo["absent"] is True and repo["sources"] == ""


def test_without_install_only_tomlkit_and_no_repo_change():
    p = plan(install=False, docker_source="docker")
    assert p["packages"] == ["python3-tomlkit"]
    assert p["docker_repo"]["present"] is False and p["docker_repo"]["absent"] is False
    assert plan(install=False, containerd=False)["packages"] == []


def test_what_is_configured_started_and_checked():
    p = plan(docker_daemon_options={"live-restore": True}, containerd_sandbox_image="registry.k8s.io/pause:3.10")
    assert p["docker_daemon"] == {"path": "/etc/docker/daemon.json", "settings": {"live-restore": True}}
    assert p["containerd"]["settings"] == {"systemd_cgroup": True, "sandbox_image": "registry.k8s.io/pause:3.10",
                                           "cri": True, "extra": {}}
    assert p["services"] == ["containerd", "docker"]
    assert p["verify"] == {"run": True, "cri": True, "answers": [["docker", "info"], ["ctr", "version"]]}
    only_docker = plan(containerd=False)
    assert only_docker["containerd"] is None and only_docker["docker_daemon"] is None
    assert only_docker["services"] == ["containerd", "docker"]  # docker's packages run containerd anyway
    assert only_docker["verify"]["answers"] == [["docker", "info"]] and only_docker["verify"]["cri"] is False
    assert plan(check_mode=True)["verify"]["run"] is False


def test_the_containerd_settings_are_the_filters_keyword_arguments():
    from ansible_collections.homelab.nvidia_gpu.plugins.filter.container_runtime import containerd_settings
    settings = plan(containerd_systemd_cgroup=False)["containerd"]["settings"]
    out = containerd_settings({"version": 2, "runc_runtimes": ["runc"], "disabled_plugins": ["cri"]}, **settings)
    assert out['plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options.SystemdCgroup'] is False
    assert out["disabled_plugins"] == []


@pytest.mark.parametrize("host,words", [
    ({"distribution": "Fedora"}, ["Fedora", "Debian and Ubuntu"]),
    ({"architecture": "armv7l"}, ["armv7l", "x86_64 or aarch64"]),
])
def test_an_unsupported_host_is_refused(host, words):
    msg = refusal(**host)
    assert all(word in msg for word in words)


def test_nothing_to_do_is_refused_and_options_are_checked():
    assert "both false" in refusal(docker=False, containerd=False)
    assert "docker_source" in refusal(docker_source="snap")
    assert run({"distribution_release": "bookworm"})["failed"] is True  # distribution and architecture required


# --- hostile inventory values (issue #31's property, for the source the plan now renders) --------------------------

def deb822_fields(content: str) -> list[list[str]]:
    """The field names of each stanza as apt reads a deb822 file (independent of _apt_sources): # starts a comment,
    a blank line ends a stanza, a line starting with a space or a tab continues a field (counted as its own entry)."""
    stanzas, current = [], []
    for line in content.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if current:
                stanzas.append(current)
            current = []
        else:
            current.append("" if line[0] in " \t" else line.partition(":")[0])
    return stanzas + ([current] if current else [])


SMUGGLED = st.builds(lambda a, sep, b: a + sep + b,
                     st.sampled_from(["https://mirror.lab/docker", "bookworm", "/etc/apt/keyrings"]),
                     st.sampled_from(["\n", "\r\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", " ", "\t",
                                      "\n ", "\n#", "\x00"]),
                     st.sampled_from(["Trusted: yes", "Signed-By: /tmp/evil.gpg", "Allow-Insecure: yes",
                                      "[trusted=yes]", "Enabled: no", ""]))
OPTIONS = {"docker_repo_base_url": "container_runtime_docker_repo_base_url",
           "distribution_release": "container_runtime_distribution_release",
           "keyring_dir": "container_runtime_keyring_dir"}


@settings(max_examples=150, deadline=None)
@given(option=st.sampled_from(sorted(OPTIONS)),
       value=st.one_of(SMUGGLED, st.text(alphabet=st.characters(codec="utf-8"), max_size=40)))
def test_any_inventory_value_is_refused_by_name_or_stays_in_its_field(option, value):
    result = run({**HOST, "docker_source": "docker", option: value})
    if result.get("failed"):
        assert "Traceback" not in result["msg"] and (OPTIONS[option] in result["msg"] or option in result["msg"]
                                                     or "release code name" in result["msg"]), result["msg"]
        return
    out = result["plan"]["docker_repo"]["sources"]
    assert deb822_fields(out) == [["Types", "URIs", "Suites", "Components", "Architectures", "Signed-By"]], out

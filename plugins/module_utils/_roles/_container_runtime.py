# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""container_runtime's decision (pure): which packages, Docker's repo and its key, what to configure and restart.

The action plugin `container_runtime_plan` validates its arguments against its doc stub's options and calls
`plan`; the role's tasks only act on what it returns.
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _apt_sources

# Packages per source. Docker's repo ships its own containerd (containerd.io), which conflicts with Debian's.
PACKAGES = {
    "debian": {"docker": ["docker.io"], "containerd": ["containerd"]},
    "docker": {"docker": ["docker-ce", "docker-ce-cli", "containerd.io", "docker-buildx-plugin"],
               "containerd": ["containerd.io"]},
}
# Debian 13 split the CLI out of docker.io into docker-cli (only recommended); it is added where apt knows it.
DEBIAN_DOCKER_CLI = "docker-cli"
TOML_PACKAGE = "python3-tomlkit"  # the containerd_config module edits config.toml with tomlkit
DISTRIBUTIONS = {"Debian": "debian", "Ubuntu": "ubuntu"}  # Ansible's name -> Docker's repo path
DEB_ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}
DOCKER_SOURCES = "/etc/apt/sources.list.d/docker.sources"
DOCKER_KEYRING = "docker.gpg"
# The variable behind each field of Docker's source, named in a refusal.
SOURCE_NAMES = {
    "URIs": "container_runtime_docker_repo_base_url",
    "Suites": "container_runtime_distribution_release",
    "Components": "container_runtime_docker_repo_channel",
    "Architectures": "container_runtime_architecture",
    "Signed-By": "container_runtime_keyring_dir",
}
MANAGED = "Ansible managed (homelab.nvidia_gpu.container_runtime)"
KEY_HINT = ("No apt source was written. If Docker rotated its key, check the new one out of band and set "
            "container_runtime_docker_repo_key_fingerprint.")


def fingerprint(value: str) -> str:
    """The pinned fingerprint as apt_signing_key compares it: upper case, no spaces."""
    return str(value).upper().replace(" ", "")


def packages(args: dict[str, Any]) -> list[str]:
    """What apt_packages installs: the engines of the chosen source (when installing) and tomlkit for containerd."""
    names: list[str] = []
    source = PACKAGES[args["docker_source"]]
    if args["install"]:
        if args["docker"]:
            names += source["docker"]
            if args["docker_source"] == "debian" and args["apt_knows_docker_cli"]:
                names.append(DEBIAN_DOCKER_CLI)
        if args["containerd"]:
            names += source["containerd"]
    if args["containerd"]:
        names.append(TOML_PACKAGE)
    return list(dict.fromkeys(names))


def docker_repo(args: dict[str, Any]) -> dict[str, Any]:
    """Docker's apt repository: whether it is to be present or absent, its key and the text of its source."""
    present = args["install"] and args["docker_source"] == "docker"
    distro = DISTRIBUTIONS[args["distribution"]]
    url = f"{args['docker_repo_base_url'].rstrip('/')}/{distro}"
    keyring = f"{args['keyring_dir'].rstrip('/') or ''}/{DOCKER_KEYRING}"
    repo = {
        "present": present,
        "absent": args["install"] and args["docker_source"] == "debian",
        "sources_path": DOCKER_SOURCES,
        "keyring_dir": args["keyring_dir"],
        "keyring": keyring,
        "key_url": args["docker_repo_key_url"] or f"{url}/gpg",
        "fingerprint": fingerprint(args["docker_repo_key_fingerprint"]),
        "key_hint": KEY_HINT,
        "sources": "",
    }
    if args["docker_source"] == "docker" and not re.fullmatch(r"[0-9A-F]{40}", repo["fingerprint"]):
        raise ValueError(f"container_runtime_docker_repo_key_fingerprint is {args['docker_repo_key_fingerprint']!r}: "
                         "set a full 40-digit fingerprint; short key ids are not accepted")
    if present:
        stanza = {"Types": ["deb"], "URIs": [url], "Suites": [args["distribution_release"]],
                  "Components": [args["docker_repo_channel"]], "Architectures": [DEB_ARCHES[args["architecture"]]],
                  "Signed-By": keyring}
        comments = [MANAGED,
                    f"Docker's apt repository; trusted only with the key checked against {repo['fingerprint']}."]
        repo["sources"] = _apt_sources.sources_file([stanza], SOURCE_NAMES, comments)
    return repo


def plan(args: dict[str, Any], check_mode: bool = False) -> dict[str, Any]:
    """Everything the role's tasks act on; ValueError with one sentence for a request it refuses."""
    docker, containerd = args["docker"], args["containerd"]
    if not (docker or containerd):
        raise ValueError("Nothing to do: container_runtime_docker and container_runtime_containerd are both false "
                         "(set at least one to true)")
    if args["distribution"] not in DISTRIBUTIONS or args["architecture"] not in DEB_ARCHES:
        raise ValueError(f"Unsupported host {args['distribution']} on {args['architecture']}: this role supports "
                         f"{' and '.join(DISTRIBUTIONS)} on {' or '.join(DEB_ARCHES)}")
    if args["install"] and args["docker_source"] == "docker" and not args["distribution_release"]:
        raise ValueError("Docker's repo needs the release code name (ansible_facts.distribution_release or "
                         "container_runtime_distribution_release), which is empty")
    daemon = None
    if docker and args["docker_daemon_options"]:
        daemon = {"path": args["docker_daemon_config_path"], "settings": args["docker_daemon_options"]}
    return {
        "packages": packages(args),
        "docker_repo": docker_repo(args),
        "docker_daemon": daemon,
        "containerd": {
            "config_path": args["containerd_config_path"],
            # the keyword arguments of the containerd_settings filter
            "settings": {"systemd_cgroup": args["containerd_systemd_cgroup"],
                         "sandbox_image": args["containerd_sandbox_image"], "cri": args["containerd_cri"],
                         "extra": args["containerd_settings"]},
        } if containerd else None,
        "backup": args["backup"],
        # containerd first: dockerd talks to it (and Docker's packages install it anyway)
        "services": ["containerd", *(["docker"] if docker else [])],
        # answers: the commands that must answer, so the daemons are up
        "verify": {"run": not check_mode, "cri": containerd and args["containerd_cri"],
                   "answers": [*([["docker", "info"]] if docker else []),
                               *([["ctr", "version"]] if containerd else [])]},
    }

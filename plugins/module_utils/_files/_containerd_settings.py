# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the container_runtime role sets in containerd's config.toml, per config version (pure).

One owner per key: the runtime role owns runc's type and cgroup driver, the CRI switch and the sandbox
image; the NVIDIA toolkit (nvidia_ctk) owns its runtime entry, in config.toml itself. Since the kubelet's
cgroup driver holds for every runtime that runs through the runc shim, ``SystemdCgroup`` is set on each
``io.containerd.runc.v2`` runtime found in the file (the nvidia entry, a copy of runc, included): the two
roles then reach the same file in either order.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _config_files as cf
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files._nvidia_ctk import CRI_PLUGINS

RUNC_TYPE = "io.containerd.runc.v2"
# The plugin that holds the sandbox image: the CRI runtime plugin itself, except in version 3.
_IMAGES_V3 = "io.containerd.cri.v1.images"
# Names under which disabled_plugins can switch the CRI off (containerd.io ships disabled_plugins = ["cri"]).
CRI_PLUGIN_IDS = (*CRI_PLUGINS.values(), _IMAGES_V3)


def _plugin(name: str) -> str:
    return "plugins." + cf.format_key(name)


def runtime_key(version: int, runtime: str, key: str) -> str:
    """The dotted key of a runtime's setting: plugins."<cri plugin>".containerd.runtimes.<runtime>.<key>."""
    return f"{_plugin(CRI_PLUGINS[version])}.containerd.runtimes.{cf.format_key(runtime)}.{key}"


def sandbox_key(version: int) -> str:
    if version == 3:
        return f"{_plugin(_IMAGES_V3)}.pinned_images.sandbox"
    return f"{_plugin(CRI_PLUGINS[version])}.sandbox_image"


def runc_runtimes(plain: dict[str, Any], version: int) -> list[str]:
    """Names of the CRI runtimes in a parsed config.toml that run through the runc shim, sorted."""
    runtimes = cf.get_path(plain, ["plugins", CRI_PLUGINS[version], "containerd", "runtimes"])
    if not isinstance(runtimes, dict):
        return []
    return sorted(name for name, entry in runtimes.items()
                  if isinstance(entry, dict) and entry.get("runtime_type") == RUNC_TYPE)


def settings(config: dict[str, Any], systemd_cgroup: bool, sandbox_image: str = "", cri: bool = True,
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The containerd_config settings for the role, from containerd_facts' config facts.

    ``config`` needs ``version``; ``exists``, ``empty``, ``disabled_plugins`` and ``runc_runtimes`` are
    optional. The user's ``extra`` settings win over everything the role derives.
    """
    if not isinstance(config, dict) or config.get("version") not in CRI_PLUGINS:
        raise ValueError(f"config facts need a config version of 1, 2 or 3, not {config!r}")
    if not isinstance(systemd_cgroup, bool):
        raise TypeError(f"systemd_cgroup must be a boolean, not {systemd_cgroup!r}")
    version = config["version"]
    out: dict[str, Any] = {}
    if config.get("exists") and config.get("empty"):
        # An existing but empty config.toml gets the version its plugin names belong to (containerd reads none as 1).
        out["version"] = version
    out[runtime_key(version, "runc", "runtime_type")] = RUNC_TYPE
    for name in ["runc", *[n for n in config.get("runc_runtimes") or [] if n != "runc"]]:
        out[runtime_key(version, name, "options.SystemdCgroup")] = systemd_cgroup
    if sandbox_image:
        out[sandbox_key(version)] = sandbox_image
    disabled = list(config.get("disabled_plugins") or [])
    if cri and any(name in CRI_PLUGIN_IDS for name in disabled):
        out["disabled_plugins"] = [name for name in disabled if name not in CRI_PLUGIN_IDS]
    out.update(extra or {})
    return out

# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JupyterLab's service for a shared environment (pure): where it comes from, what it binds, how it is guarded.

An open Jupyter is a shell for whoever reaches its port, so a server without a token or a password hash is
refused, as is a token too short to guess-proof; the config the server reads is built here, secrets included
(the role passes it with no_log).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _shapes, _values

SOURCES = ("auto", "debian", "pip")
# Debian's own jupyterlab per release (bookworm has none: pip there).
DEBIAN_JUPYTERLAB = {"trixie": "4.0"}
MIN_TOKEN = 24
# jupyter_server.auth.passwd() writes argon2:<argon2 hash>; older ones sha1:<salt>:<hex>.
_HASH = re.compile(r"argon2:\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+"
                   r"|sha1:[0-9a-f]+:[0-9a-f]{40}")


class JupyterPlanError(_values.ValueProblem):
    """Bad choices: an address that is not an IP, a port out of range, an unknown source."""


# A path the unit and the server's config name: no space, quote, backslash, $ or % (systemd would split, expand or
# unquote them in Environment= and WorkingDirectory=; the role's preflight asks the same).
_PATH = r"/[A-Za-z0-9_.@+/-]*[A-Za-z0-9_.@+-]"
_USER = r"[a-z_][a-z0-9_-]*"


def _path(choices: Mapping[str, Any], key: str, name: str, default: str) -> str:
    value = _values.absolute_path(choices.get(key, default), name)
    return _values.word(value, name, _PATH, "an absolute path of letters, digits and . _ @ + - /")


def jupyter_unit(plan: Mapping[str, Any], choices: Mapping[str, Any]) -> str:
    """The service unit's lines after its header comment: every value checked, ExecStart= quoted by
    _values.systemd_exec (a space cannot split an argument, a line break cannot add a setting)."""
    env = _path(choices, "env", "ml_jupyter_env", "/opt/ml/torch")
    user = _values.word(choices.get("user", "jupyter"), "ml_jupyter_user", _USER, "a user name ([a-z_][a-z0-9_-]*)")
    root_dir = _path(choices, "root_dir", "ml_jupyter_root_dir", "/srv/jupyter")
    config_dir = _path(choices, "config_dir", "ml_jupyter_config_dir", "/etc/homelab-jupyter")
    exec_start = _values.systemd_exec([plan["jupyter_lab"], f"--config={config_dir}/jupyter_server_config.json",
                                       "--no-browser"], "the JupyterLab command line")
    return "\n".join([
        "[Unit]",
        f"Description=JupyterLab with the kernel of {_values.systemd_value(env, 'ml_jupyter_env')}"
        " (homelab.nvidia_gpu.ml_jupyter)",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"User={user}",
        f"Group={user}",
        f"WorkingDirectory={_values.systemd_value(root_dir, 'ml_jupyter_root_dir')}",
        f"Environment=JUPYTER_CONFIG_DIR={_values.systemd_value(config_dir, 'ml_jupyter_config_dir')}",
        f"ExecStart={exec_start}",
        "Restart=on-failure",
        "RestartSec=5",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "ProtectSystem=full",
        "",
        "[Install]",
        "WantedBy=multi-user.target"])


def jupyter_plan(choices: Mapping[str, Any]) -> dict:
    """Source, binary, bind address, the server's config (with its secrets), the service unit (``unit``, when the
    choices name the unit's values or not: defaults) and the sentence that refuses it."""
    choices = _shapes.mapping(choices, "ml_jupyter_plan's input (the choices)")
    source = choices.get("source", "auto")
    if source not in SOURCES:
        raise JupyterPlanError(f"ml_jupyter_source (the Jupyter source) must be one of {', '.join(SOURCES)},"
                               f" not {_values._shown(source)}")
    release = _values.single_line(choices.get("release") or "", "the Debian release", allow_empty=True)
    try:
        address = _values.ip_address(_values.listen_address(choices.get("address", "127.0.0.1"),
                                                            "ml_jupyter_address"), "ml_jupyter_address")
    except _values.ValueProblem as exc:
        raise JupyterPlanError(f"{exc} (ml_jupyter_address is an IP address: 127.0.0.1, 0.0.0.0)") from None
    ip = ipaddress.ip_address(address)
    try:
        port = _values.port(choices.get("port", 8888), "ml_jupyter_port")
    except _values.ValueProblem:
        port = 0
    if port < 1024:
        raise JupyterPlanError("ml_jupyter_port must be a number between 1024 and 65535 (it runs unprivileged), not"
                               f" {_values._shown(choices.get('port'))}")
    token = _values.single_line(choices.get("token") or "", "ml_jupyter_token", allow_empty=True)
    hashed = _values.single_line(choices.get("password_hash") or "", "ml_jupyter_password_hash", allow_empty=True)
    refused = []
    if not token and not hashed:
        refused.append("JupyterLab needs a token or a password hash (a variable meant for vault): without one "
                       "anyone who reaches its port runs code as its user.")
    if token and (len(token) < MIN_TOKEN or not re.fullmatch(r"[A-Za-z0-9_.~-]+", token)):
        refused.append(f"The Jupyter token must be at least {MIN_TOKEN} URL-safe characters "
                       "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))').")
    if hashed and not _HASH.fullmatch(hashed):
        refused.append("The Jupyter password hash must be what jupyter_server.auth.passwd() prints "
                       "(argon2:$argon2id$... or sha1:<salt>:<hex>), not a password.")
    if source == "auto":
        source = "debian" if release in DEBIAN_JUPYTERLAB else "pip"
    elif source == "debian" and release not in DEBIAN_JUPYTERLAB:
        refused.append(f"Debian {release or '(unknown release)'} has no jupyterlab package "
                       f"(only {', '.join(DEBIAN_JUPYTERLAB)}): use the pip source.")
    venv = _path(choices, "venv", "ml_jupyter_venv", "/opt/jupyterlab")
    root_dir = _path(choices, "root_dir", "ml_jupyter_root_dir", "/srv/jupyter") if choices.get("root_dir") else ""
    loopback = ip.is_loopback
    config = {
        "ServerApp": {"ip": address, "port": port, "open_browser": False, "root_dir": root_dir,
                      "allow_remote_access": not loopback, "port_retries": 0},
        "IdentityProvider": {"token": token},
        # The login page's "Setup a Password" would keep a password outside the managed config: off.
        "PasswordIdentityProvider": {"hashed_password": hashed, "password_required": bool(hashed),
                                     "allow_password_change": False},
    }
    host = f"[{address}]" if ip.version == 6 else address
    local = ("127.0.0.1" if ip.version == 4 else "[::1]") if ip.is_unspecified else host
    plan = {
        "source": source,
        "packages": ["jupyterlab"] if source == "debian" else [],
        "jupyter_lab": "/usr/bin/jupyter-lab" if source == "debian" else f"{venv}/bin/jupyter-lab",
        "config": config,
        "url": f"http://{local}:{port}",
        "reach": ("this host only (loopback)" if loopback else
                  f"every network this host is on ({address})" if ip.is_unspecified else f"{address}"),
        "auth": " and ".join(part for part, on in (("token", bool(token)), ("password", bool(hashed))) if on) or "none",
        "refused": " ".join(refused),
    }
    plan["unit"] = jupyter_unit(plan, choices)
    return plan


def role_plan(choices: Mapping[str, Any], check_mode: bool = False) -> dict:
    """ml_jupyter's plan: jupyter_plan's choice, secrets and unit, plus the apt packages, the pip install (pip
    source), the paths of the config, unit and kernel, the kernel spec and ``refused`` (a sentence, or empty).

    ``env_exists`` is whether the shared environment's python is there (a task reads it first): without it the role
    refuses, except in check mode (ml_python would make it first)."""
    choices = dict(_shapes.mapping(choices, "ml_jupyter's choices"))
    plan = jupyter_plan(choices)
    env = _path(choices, "env", "ml_jupyter_env", "/opt/ml/torch")
    venv = _path(choices, "venv", "ml_jupyter_venv", "/opt/jupyterlab")
    config_dir = _path(choices, "config_dir", "ml_jupyter_config_dir", "/etc/homelab-jupyter")
    kernel = _values.word(choices.get("kernel_name", "torch"), "ml_jupyter_kernel_name", r"[A-Za-z0-9][A-Za-z0-9._-]*",
                          "letters, digits and . _ -")
    service = _values.word(choices.get("service", "homelab-jupyter"), "ml_jupyter_service",
                           r"[A-Za-z0-9][A-Za-z0-9_.@-]*", "a unit name")
    display = _values.single_line(choices.get("kernel_display_name", "Python (shared torch)"),
                                  "ml_jupyter_kernel_display_name")
    index = choices.get("pip_index_url") or ""
    index = _values.url(index, "ml_jupyter_pip_index_url") if index else ""
    hosts = _values.string_list(choices.get("pip_trusted_hosts") or [], "ml_jupyter_pip_trusted_hosts",
                                lambda v, n: _values.word(v, n, r"[A-Za-z0-9.:-]+", "a host name or address"))
    refused = [plan["refused"]] if plan["refused"] else []
    if not choices.get("env_exists", True) and not check_mode:
        refused.append(f"{env} has no bin/python: run homelab.nvidia_gpu.ml_python first (ml.yml does).")
    debian = plan["source"] == "debian"
    plan["user"] = _values.word(choices.get("user", "jupyter"), "ml_jupyter_user", _USER, "a user name")
    plan.update(
        refused=" ".join(refused),
        apt=[*plan["packages"], "python3-ipykernel" if debian else "python3-venv"],
        pip=not debian,
        venv_argv=["python3", "-m", "venv", venv],
        venv_python=f"{venv}/bin/python",
        pip_args=" ".join([*(["--index-url", index] if index else []), *(f"--trusted-host={h}" for h in hosts)]),
        env_python=f"{env}/bin/python",
        config_dir=config_dir,
        config_file=f"{config_dir}/jupyter_server_config.json",
        unit_file=f"/etc/systemd/system/{service}.service",
        service=service,
        kernel_name=kernel,
        kernel_dir=f"/usr/local/share/jupyter/kernels/{kernel}",
        kernel_spec={"argv": [f"{env}/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                     "display_name": display, "language": "python", "metadata": {"debugger": True}},
        # the config directory is readable by root and the Jupyter user only; the kernel's by everyone
        dirs=[{"path": config_dir, "group": plan["user"], "mode": "0750"},
              {"path": f"/usr/local/share/jupyter/kernels/{kernel}", "group": "root", "mode": "0755"}],
        status={key: plan[key] for key in ("url", "reach", "auth", "source")},
        ipykernel_hint=("add ipykernel to ml_python_packages, or take Debian's torch (ml_python_torch_source: "
                        "debian), whose environment sees Debian's python3-ipykernel."),
        summary=(f"JupyterLab from {plan['source']} on {plan['url']}, reachable from {plan['reach']}, guarded by "
                 f"{plan['auth']}; kernel {kernel} from {env}"))
    return plan

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

SOURCES = ("auto", "debian", "pip")
# Debian's own jupyterlab per release (bookworm has none: pip there).
DEBIAN_JUPYTERLAB = {"trixie": "4.0"}
MIN_TOKEN = 24
# jupyter_server.auth.passwd() writes argon2:<argon2 hash>; older ones sha1:<salt>:<hex>.
_HASH = re.compile(r"argon2:\$argon2(id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+"
                   r"|sha1:[0-9a-f]+:[0-9a-f]{40}")


class JupyterPlanError(ValueError):
    """Bad choices: an address that is not an IP, a port out of range, an unknown source."""


def jupyter_plan(choices: Mapping[str, Any]) -> dict:
    """Source, binary, bind address, the server's config (with its secrets) and the sentence that refuses it."""
    source = str(choices.get("source", "auto"))
    if source not in SOURCES:
        raise JupyterPlanError(f"the Jupyter source must be one of {', '.join(SOURCES)}, not {source!r}")
    release = str(choices.get("release", ""))
    address = str(choices.get("address", "127.0.0.1")).strip()
    try:
        ip = ipaddress.ip_address(address)
    except ValueError as exc:
        raise JupyterPlanError(
            f"the Jupyter address must be an IP address (127.0.0.1, 0.0.0.0), not {address!r}") from exc
    try:
        port = int(choices.get("port", 8888))
    except (TypeError, ValueError) as exc:
        raise JupyterPlanError(f"the Jupyter port must be a number, not {choices.get('port')!r}") from exc
    if not 1024 <= port <= 65535:
        raise JupyterPlanError(f"the Jupyter port must be between 1024 and 65535 (it runs unprivileged), not {port}")
    token = str(choices.get("token") or "")
    hashed = str(choices.get("password_hash") or "")
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
    venv = str(choices.get("venv", "/opt/jupyterlab")).rstrip("/")
    loopback = ip.is_loopback
    config = {
        "ServerApp": {"ip": address, "port": port, "open_browser": False, "root_dir": str(choices.get("root_dir", "")),
                      "allow_remote_access": not loopback, "port_retries": 0},
        "IdentityProvider": {"token": token},
        # The login page's "Setup a Password" would keep a password outside the managed config: off.
        "PasswordIdentityProvider": {"hashed_password": hashed, "password_required": bool(hashed),
                                     "allow_password_change": False},
    }
    host = f"[{address}]" if ip.version == 6 else address
    local = ("127.0.0.1" if ip.version == 4 else "[::1]") if ip.is_unspecified else host
    return {
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

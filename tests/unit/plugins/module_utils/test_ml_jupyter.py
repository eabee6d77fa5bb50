# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JupyterLab's plan (module_utils._ml_jupyter): no open server, the source by release, the config it reads."""

from __future__ import annotations

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._roles import _ml_jupyter as jp

TOKEN = "k3Y-aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
ARGON = "argon2:$argon2id$v=19$m=10240,t=10,p=8$ZmFrZXNhbHQ$c29tZWhhc2hzb21laGFzaA"


def test_loopback_by_default_with_a_token_from_debian_on_trixie():
    plan = jp.jupyter_plan({"release": "trixie", "token": TOKEN, "root_dir": "/srv/jupyter"})
    assert plan["refused"] == "" and plan["source"] == "debian" and plan["packages"] == ["jupyterlab"]
    assert plan["jupyter_lab"] == "/usr/bin/jupyter-lab" and plan["url"] == "http://127.0.0.1:8888"
    server = plan["config"]["ServerApp"]
    assert server["ip"] == "127.0.0.1" and not server["allow_remote_access"] and not server["open_browser"]
    assert plan["config"]["IdentityProvider"]["token"] == TOKEN and plan["auth"] == "token"
    assert plan["reach"] == "this host only (loopback)"
    assert plan["config"]["PasswordIdentityProvider"]["allow_password_change"] is False  # no password set from the UI


def test_bookworm_takes_pip_and_debian_is_refused_there():
    plan = jp.jupyter_plan({"release": "bookworm", "token": TOKEN, "venv": "/opt/jl/"})
    assert plan["source"] == "pip" and plan["packages"] == [] and plan["jupyter_lab"] == "/opt/jl/bin/jupyter-lab"
    refused = jp.jupyter_plan({"release": "bookworm", "token": TOKEN, "source": "debian"})["refused"]
    assert "Debian bookworm has no jupyterlab package" in refused


@pytest.mark.parametrize(("choices", "message"), [
    ({}, "needs a token or a password hash"),
    ({"token": "short"}, "at least 24 URL-safe characters"),
    ({"token": TOKEN + " ; rm"}, "URL-safe"),
    ({"password_hash": "hunter2"}, "not a password"),
])
def test_an_open_or_weakly_guarded_server_is_refused(choices, message):
    assert message in jp.jupyter_plan(dict(choices, release="trixie"))["refused"]


def test_a_password_hash_alone_and_every_address():
    plan = jp.jupyter_plan({"release": "trixie", "password_hash": ARGON, "address": "0.0.0.0", "port": 9999})
    assert plan["refused"] == "" and plan["auth"] == "password"
    assert plan["config"]["PasswordIdentityProvider"] == {"hashed_password": ARGON, "password_required": True,
                                                          "allow_password_change": False}
    assert plan["config"]["ServerApp"]["allow_remote_access"] and plan["url"] == "http://127.0.0.1:9999"
    assert "every network" in plan["reach"]
    sha1 = "sha1:0123abcd:" + "a" * 40
    assert jp.jupyter_plan({"release": "trixie", "password_hash": sha1, "token": TOKEN})["auth"] == "token and password"
    v6 = jp.jupyter_plan({"release": "trixie", "token": TOKEN, "address": "::1"})
    assert v6["url"] == "http://[::1]:8888" and v6["reach"].startswith("this host only")


@pytest.mark.parametrize(("choices", "message"), [
    ({"address": "localhost"}, "must be an IP address"),
    ({"address": "127.0.0.1; curl x"}, "must be an IP address"),
    ({"port": 80}, "between 1024 and 65535"),
    ({"port": "eighty"}, "must be a number"),
    ({"source": "conda"}, "Jupyter source"),
])
def test_bad_choices_are_clear(choices, message):
    with pytest.raises(jp.JupyterPlanError, match=message):
        jp.jupyter_plan(dict(choices, token=TOKEN))

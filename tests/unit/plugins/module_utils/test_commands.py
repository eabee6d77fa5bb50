# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import time

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._common import _commands


def test_output_and_rc():
    rc, out, err = _commands.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (rc, out, err) == (3, "out\n", "err\n")


def test_locale_is_c():
    assert _commands.run(["sh", "-c", "echo $LC_ALL"])[1] == "C\n"


def test_hung_command_is_killed_with_its_children():
    start = time.monotonic()
    with pytest.raises(_commands.CommandTimeout, match=r"sh -c sleep 30 & sleep 30 did not finish within 0.5 s"):
        _commands.run(["sh", "-c", "sleep 30 & sleep 30"], timeout=0.5)
    assert time.monotonic() - start < 10


def test_missing_binary():
    with pytest.raises(_commands.CommandNotRunnable, match="cannot run /nonexistent/lspci"):
        _commands.run(["/nonexistent/lspci"])

# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the unit tests."""
from __future__ import annotations

import contextlib
import json
import signal
from unittest import mock

import pytest
from ansible.module_utils import _internal as ansible_internal
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args


@pytest.fixture
def run_module(capsys):
    """run_module(module, args, patches=None) -> (failed, result): the module's main() as Ansible runs it.

    `patches` maps names in `module` to the value each should return while main() runs (for example
    {"containerd_version": None}: no command is run on this host). `result` is the module's JSON output;
    its `warnings` come back as plain message strings (an empty list when there are none).
    """
    def run(module, args: dict, patches: dict | None = None) -> tuple[bool, dict]:
        ansible_warnings._global_warnings.clear()  # process-wide; one module run at a time
        with contextlib.ExitStack() as stack:
            # Controller code imported by other tests (ansible.errors) makes warn() go to Display instead.
            stack.enter_context(mock.patch.object(ansible_internal, "is_controller", False))
            stack.enter_context(patch_module_args(args))
            for name, value in (patches or {}).items():
                stack.enter_context(mock.patch.object(module, name, return_value=value))
            exc = stack.enter_context(pytest.raises(SystemExit))
            module.main()
        result = json.loads(capsys.readouterr().out)
        result["warnings"] = [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]
        return exc.value.code != 0, result

    return run


@pytest.fixture
def roots(tmp_path):
    """Empty sysfs/proc/device-tree/modprobe.d and no supported-gpus.json for lspci_gpu_facts: only lspci (or
    its dump) speaks."""
    names = ("sysfs_root", "proc_root", "device_tree_root", "modprobe_dir")
    for name in names:
        (tmp_path / name).mkdir()
    args = {name: str(tmp_path / name) for name in names}
    args.update(supported_gpus_json=[str(tmp_path / "none.json")], page_size=4096)
    return args


@contextlib.contextmanager
def _deadline(seconds: int):
    def expired(_signum, _frame):
        raise TimeoutError(f"the module did not return within {seconds} s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def deadline():
    """deadline(seconds): a context in which a module that blocks (a FIFO opened for reading) fails the test instead
    of hanging it."""
    return _deadline

# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Commands the modules run on the managed host, each with a time limit.

`AnsibleModule.run_command` has no timeout, so a hung `lspci` (a card that stopped answering config
reads) or a wedged `containerd` would hang the whole play. `run` starts the command in its own
process group with a closed stdin and LC_ALL=C, and kills the group when the limit passes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence

DEFAULT_TIMEOUT = 60


class CommandTimeout(Exception):
    """The command ran past its limit and was killed."""

    def __init__(self, argv: Sequence[str], seconds: float) -> None:
        self.argv = list(argv)
        self.seconds = seconds
        super().__init__(f"{' '.join(self.argv)} did not finish within {seconds:g} s and was killed")


class CommandNotRunnable(Exception):
    """The command could not be started (missing, not executable)."""


def run(argv: Sequence[str], timeout: float = DEFAULT_TIMEOUT,
        env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """(rc, stdout, stderr) of `argv`, text decoded as UTF-8 with replacement.

    Raises CommandTimeout past `timeout` seconds (the process group is killed first) and
    CommandNotRunnable when the binary cannot be started.
    """
    environ = dict(os.environ, LC_ALL="C", LANG="C")
    environ.update(env or {})
    try:
        proc = subprocess.Popen(  # argv is a list, never a shell string
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=environ, start_new_session=True)
    except OSError as exc:
        raise CommandNotRunnable(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise CommandTimeout(argv, timeout) from None
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):  # a process stuck in the kernel (D state) stays
        proc.communicate(timeout=5)

# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's Container Toolkit stand-ins (tests/lab/packages/bin/nvidia-ctk, nvidia-container-runtime,
nvidia-container-cli) against what NVIDIA's sources say the real tools print.

Sources (quoted below where used):
- github.com/NVIDIA/nvidia-container-toolkit at tag v1.18.1 (the lab's default toolkit version):
  cmd/nvidia-ctk/main.go (Name "NVIDIA Container Toolkit CLI", errors logged by logrus then exit 1),
  vendor/github.com/urfave/cli/v3/help.go (`Exit(fmt.Sprintf("No help topic for '%v'", commandName), 3)`),
  vendor/github.com/urfave/cli/v3/command_run.go (`"Incorrect Usage: %s\n\n"` on ErrWriter),
  vendor/github.com/urfave/cli/v3/command_parse.go (`"flag provided but not defined: -"`),
  vendor/github.com/urfave/cli/v3/flag.go (VersionFlag "version", alias "v"), help.go's version printer
  (`"%v version %v\n"`), internal/info/version.go (the version, then "commit: <hash>"),
  cmd/nvidia-ctk/cdi/list/list.go (`Infof("Found %d CDI devices", ...)`),
  internal/runtime/runtime.go (`"%v version %v\n"` with "NVIDIA Container Runtime" and "spec: <version>", then a
  blank line, before the low-level runtime runs) and vendor/.../runtime-spec/specs-go/version.go (1.3.0).
- github.com/NVIDIA/libnvidia-container src/cli/main.c (print_version's seven "name: value" lines,
  argp_err_exit_status = EXIT_FAILURE, argp_usage() for a missing or unknown command) and glibc's getopt/argp
  texts ("%s: unrecognized option '%s%s'", "Try `%s --help' or `%s --usage' for more information.").
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

BIN = Path(__file__).resolve().parents[3] / "tests/lab/packages/bin"


def logrus(level: str, msg: str) -> str:
    """logrus's text format without a terminal (full RFC 3339 timestamp), as a regular expression."""
    return r'time="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" level=' + level + ' msg="' + msg + '"\n'


def standin(tmp_path: Path, name: str, version: str = "1.18.1") -> Path:
    path = tmp_path / name
    path.write_text((BIN / name).read_text(encoding="utf-8").replace("@VERSION@", version), encoding="utf-8")
    path.chmod(0o755)
    return path


def run(path: Path, *argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(path), *argv], capture_output=True, text=True, check=False, env=env)


# --- nvidia-ctk -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--version", "-v"])
def test_ctk_version_is_clis_version_printer_with_the_commit_line(tmp_path, flag):
    out = run(standin(tmp_path, "nvidia-ctk"), flag)
    assert out.returncode == 0
    name, commit = out.stdout.splitlines()
    assert name == "NVIDIA Container Toolkit CLI version 1.18.1" and commit.startswith("commit: ")


def test_ctk_unknown_command_is_clis_help_topic_error_exit_3(tmp_path):
    out = run(standin(tmp_path, "nvidia-ctk"), "version")  # no such command: the version is a flag
    assert (out.returncode, out.stdout, out.stderr) == (3, "", "No help topic for 'version'\n")


def test_ctk_unknown_subcommand_is_the_same_error(tmp_path):
    out = run(standin(tmp_path, "nvidia-ctk"), "cdi", "bogus")
    assert (out.returncode, out.stderr) == (3, "No help topic for 'bogus'\n")


@pytest.mark.parametrize(("argv", "name"), [(["--bogus"], "bogus"), (["cdi", "generate", "--outptu=/x"], "outptu"),
                                            (["system", "create-dev-char-symlinks", "--all"], "all")])
def test_ctk_unknown_flag_is_incorrect_usage_then_mains_logrus_error_exit_1(tmp_path, argv, name):
    out = run(standin(tmp_path, "nvidia-ctk"), *argv)
    assert out.returncode == 1
    first, rest = out.stderr.split("\n\n", 1)
    assert first == f"Incorrect Usage: flag provided but not defined: -{name}"
    assert re.fullmatch(logrus("error", f"flag provided but not defined: -{name}"), rest)
    assert out.stdout.startswith("NAME:\n   NVIDIA Container Toolkit CLI - ")


def test_ctk_the_roles_commands_fail_without_a_driver_as_errors_logged_by_main(tmp_path):
    ctk = standin(tmp_path, "nvidia-ctk")
    generate = run(ctk, "cdi", "generate", f"--output={tmp_path / 'nvidia.yaml'}")
    assert generate.returncode == 1 and not (tmp_path / "nvidia.yaml").exists()
    assert re.fullmatch(logrus("error", "failed to generate CDI spec: [^\"]+"), generate.stderr)
    symlinks = run(ctk, "system", "create-dev-char-symlinks", "--create-all")
    assert symlinks.returncode == 1 and re.fullmatch(logrus("error", "[^\"]+"), symlinks.stderr)
    listed = run(ctk, "cdi", "list")
    assert listed.returncode == 0 and re.fullmatch(logrus("info", "Found 0 CDI devices"), listed.stderr)
    quiet = run(ctk, "--quiet", "cdi", "list")  # main's Before: --quiet sets logrus to the error level
    assert (quiet.returncode, quiet.stderr) == (0, "")


def test_ctk_real_commands_it_does_not_emulate_say_so(tmp_path):
    out = run(standin(tmp_path, "nvidia-ctk"), "runtime", "configure", "--runtime=docker")
    assert out.returncode == 2 and "LAB STAND-IN" in out.stderr and "not emulated" in out.stderr


# --- nvidia-container-runtime ---------------------------------------------------------------------------------------
@pytest.fixture
def fake_runc(tmp_path):
    """A runc on PATH that says how it was called (the stand-in's pass-through is what is under test)."""
    runc = tmp_path / "bin" / "runc"
    runc.parent.mkdir()
    runc.write_text('#!/bin/sh\necho "runc $*"\n', encoding="utf-8")
    runc.chmod(0o755)
    return {"PATH": f"{runc.parent}:/usr/bin:/bin"}


def test_runtime_version_prints_nvidias_lines_then_runcs(tmp_path, fake_runc):
    out = run(standin(tmp_path, "nvidia-container-runtime"), "--version", env=fake_runc)
    lines = out.stdout.split("\n")
    assert out.returncode == 0
    assert lines[0] == "NVIDIA Container Runtime version 1.18.1" and lines[1].startswith("commit: ")
    assert lines[2:5] == ["spec: 1.3.0", "", "runc --version"]


def test_runtime_passes_every_other_command_to_runc_unchanged(tmp_path, fake_runc):
    argv = ["--root", "/run/runc", "create", "--bundle", "/b", "--pid-file", "/p", "id"]
    out = run(standin(tmp_path, "nvidia-container-runtime"), *argv, env=fake_runc)
    assert (out.returncode, out.stdout) == (0, "runc " + " ".join(argv) + "\n")


# --- nvidia-container-cli -------------------------------------------------------------------------------------------
def test_cli_version_is_print_versions_seven_lines(tmp_path):
    out = run(standin(tmp_path, "nvidia-container-cli"), "--version")
    names = [line.split(": ", 1)[0] for line in out.stdout.splitlines()]
    assert out.returncode == 0
    assert names == ["cli-version", "lib-version", "build date", "build revision", "build compiler",
                     "build platform", "build flags"]
    assert out.stdout.startswith("cli-version: 1.18.1\nlib-version: 1.18.1\n")


def test_cli_unknown_option_is_getopts_and_argps_text_exit_1(tmp_path):
    cli = standin(tmp_path, "nvidia-container-cli")
    out = run(cli, "--bogus", "info")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == (f"{cli}: unrecognized option '--bogus'\n"
                          "Try `nvidia-container-cli --help' or `nvidia-container-cli --usage' for more information.\n")


@pytest.mark.parametrize("argv", [[], ["bogus"]])
def test_cli_no_or_unknown_command_is_argp_usage_exit_1(tmp_path, argv):
    out = run(standin(tmp_path, "nvidia-container-cli"), *argv)
    assert out.returncode == 1
    usage, try_line = out.stderr.splitlines()
    assert usage.startswith("Usage: nvidia-container-cli ") and try_line.startswith("Try `nvidia-container-cli --help'")


@pytest.mark.parametrize("command", ["info", "list", "configure"])
def test_cli_commands_fail_without_the_driver_library(tmp_path, command):
    out = run(standin(tmp_path, "nvidia-container-cli"), "--load-kmods", command)
    assert out.returncode == 1
    assert out.stderr == ("nvidia-container-cli: initialization error: load library failed: libnvidia-ml.so.1: "
                          "cannot open shared object file: no such file or directory\n")

# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nvidia_ctk against what the real nvidia-ctk 1.20 wrote (../shared/reference/nvidia-ctk-1.20/cases).

Each case: `args` mapped to module options, the module run on a copy of `etc/`, every resulting file
under etc/{docker,containerd,crio} compared on parsed content with `result/etc/`. rc 1 cases must fail
with file and line and leave the input bytes as they were. A case is exempt from the comparison only
for a documented upstream defect (DEFECTS); each defect has its own test showing the better result.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _nvidia_ctk as ctk
from ansible_collections.homelab.nvidia_gpu.plugins.modules import nvidia_ctk


def _reference_dir() -> Path:
    env = os.environ.get("NVIDIA_CTK_REFERENCE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "nvidia-ctk-1.20"


REFERENCE = _reference_dir()
CASES_DIR = REFERENCE / "cases"
CASES = sorted(p.name for p in CASES_DIR.iterdir()) if CASES_DIR.is_dir() else []
pytestmark = pytest.mark.skipif(not CASES, reason=f"reference cases absent: {CASES_DIR} (set NVIDIA_CTK_REFERENCE)")
ENGINE_DIRS = ("docker", "containerd", "crio")

# Upstream defects: the only cases whose files may differ from upstream's, each with a test below.
DEFECTS = {
    "containerd-v1": "upstream writes a drop-in but no `imports` for a version-1 config, so containerd "
                     "never reads it; we configure config.toml in place (test_v1_runtime_is_effective)",
    "containerd-no-dropin": "upstream adds imports=['/etc/containerd/*.toml'] (matches config.toml itself) and "
                            "configures no runtime; we configure config.toml (test_no_dropin_configures_config_toml)",
    "docker-cdi": "upstream replaces the whole `features` object, dropping buildkit; we keep it "
                  "(test_docker_cdi_keeps_other_features)",
}


def parse_args(case: str) -> dict:
    """nvidia-ctk flags -> module options (paths still the real /etc ones)."""
    options: dict = {}
    for arg in shlex.split((CASES_DIR / case / "args").read_text()):
        flag, _unused, value = arg.partition("=")
        if flag == "--runtime":
            options["runtime"] = value
        elif flag == "--set-as-default":
            options["set_as_default"] = True
        elif flag == "--cdi.enabled":
            options["cdi"] = True
        elif flag == "--nvidia-runtime-name":
            options["runtime_name"] = value
        elif flag == "--nvidia-runtime-path":
            options["runtime_path"] = value
        elif flag == "--drop-in-config":
            options["drop_in_path"] = value
        else:
            raise AssertionError(f"{case}: unmapped flag {arg}")
    return options


def run_case(run_module, case: str, root: Path, extra: dict | None = None, copy: bool = True) -> tuple[bool, dict]:
    """Copy the case's etc/ under root (unless `copy` is false) and run the module there."""
    if copy and (CASES_DIR / case / "etc").is_dir():
        shutil.copytree(CASES_DIR / case / "etc", root / "etc")
    options = parse_args(case)
    runtime = options["runtime"]
    options["config_path"] = str(root) + ctk.DEFAULT_CONFIG_PATHS[runtime]
    if runtime in ctk.DEFAULT_DROP_IN_PATHS and options.get("drop_in_path") != "":
        options["drop_in_path"] = str(root) + options.get("drop_in_path", ctk.DEFAULT_DROP_IN_PATHS[runtime])
    options.update(extra or {})
    return run_module(nvidia_ctk, options, patches={"containerd_version": None})


def tree(root: Path, prefix: str = "") -> dict[str, str]:
    """Every file under etc/{docker,containerd,crio}, with `prefix` (the tmp root) taken out of its text.
    The module's empty lock files (`.<config>.lock`, upstream has none) are left out."""
    files = {}
    for engine in ENGINE_DIRS:
        base = root / "etc" / engine
        for path in sorted(base.rglob("*")) if base.is_dir() else []:
            if path.is_file() and not (path.name.startswith(".") and path.name.endswith(".lock")
                                       and path.stat().st_size == 0):
                text = path.read_text()
                files[str(path.relative_to(root))] = text.replace(prefix, "") if prefix else text
    return files


def parsed(name: str, text: str):
    return json.loads(text) if name.endswith(".json") else tomllib.loads(text)


def semantic(files: dict[str, str]) -> dict:
    return {name: parsed(name, text) for name, text in files.items()}


def effective_containerd(files: dict[str, str]) -> dict:
    """What containerd < 2.1 reads: config.toml, then each import replacing whole plugin sections."""
    config = parsed("config.toml", files["etc/containerd/config.toml"])
    plugins = dict(config.get("plugins", {}))
    for pattern in config.get("imports", []):
        names = sorted(n for n in files if os.path.dirname("/" + n) == os.path.dirname(pattern)
                       and fnmatchcase(os.path.basename(n), os.path.basename(pattern)))
        for name in names:
            if name == "etc/containerd/config.toml":
                continue
            plugins.update(parsed(name, files[name]).get("plugins", {}))
    return plugins


@pytest.mark.parametrize("case", CASES)
def test_case_matches_upstream(run_module, tmp_path, case):
    rc = int((CASES_DIR / case / "rc").read_text().strip() or 0)
    failed, result = run_case(run_module, case, tmp_path)
    prefix = str(tmp_path)
    if rc != 0:
        assert failed, f"{case}: upstream refused (rc {rc}) but the module did not: {result}"
        assert result["error"]["line"] is not None and result["error"]["path"].startswith(prefix + "/etc/")
        assert "line" in result["msg"]
        original = {str(p.relative_to(CASES_DIR / case)): p.read_bytes()
                    for p in (CASES_DIR / case / "etc").rglob("*") if p.is_file()}
        for name, data in original.items():
            assert (tmp_path / name).read_bytes() == data, f"{name} was touched"
        assert set(tree(tmp_path)) == set(original)  # nothing created either
        return
    assert not failed, result.get("msg")
    upstream_changed = semantic(tree(CASES_DIR / case)) != semantic(tree(CASES_DIR / case / "result"))
    assert result["changed"] is upstream_changed
    if case in DEFECTS:
        pytest.skip(f"documented upstream defect, tested on its own: {DEFECTS[case]}")
    ours = semantic(tree(tmp_path, prefix))
    upstream = semantic(tree(CASES_DIR / case / "result"))
    assert ours == upstream


@pytest.mark.parametrize("case", CASES)
def test_case_second_run_is_unchanged(run_module, tmp_path, case):
    if int((CASES_DIR / case / "rc").read_text().strip() or 0) != 0:
        pytest.skip("refused case")
    run_case(run_module, case, tmp_path)
    first = {p: (tmp_path / p).read_bytes() for p in tree(tmp_path)}
    failed, result = run_case(run_module, case, tmp_path, copy=False)
    assert not failed and result["changed"] is False and result["restart_required"] is False
    assert {p: (tmp_path / p).read_bytes() for p in tree(tmp_path)} == first


def test_defects_are_real_cases():
    assert set(DEFECTS) <= set(CASES)


def test_v1_runtime_is_effective(run_module, tmp_path):
    """Upstream's v1 drop-in is never imported: containerd sees no nvidia runtime. Ours is in config.toml."""
    upstream = tree(CASES_DIR / "containerd-v1" / "result")
    assert "nvidia" not in effective_containerd(upstream)["cri"]["containerd"].get("runtimes", {})
    failed, result = run_case(run_module, "containerd-v1", tmp_path)
    assert not failed and result["mode"] == "in-place" and result["config_version"] == 1
    ours = tree(tmp_path, str(tmp_path))
    assert set(ours) == {"etc/containerd/config.toml"}
    effective = effective_containerd(ours)["cri"]["containerd"]
    # Same runtime as upstream's (unread) drop-in, same snapshotter kept.
    dropin = parsed("x.toml", upstream["etc/containerd/conf.d/99-nvidia.toml"])["plugins"]["cri"]["containerd"]
    assert effective == dropin


def test_no_dropin_configures_config_toml(run_module, tmp_path):
    """Upstream imports /etc/containerd/*.toml (config.toml itself) and adds no runtime."""
    cri = "io.containerd.grpc.v1.cri"
    upstream = tree(CASES_DIR / "containerd-no-dropin" / "result")
    upstream_config = parsed("c.toml", upstream["etc/containerd/config.toml"])
    assert upstream_config["imports"] == ["/etc/containerd/*.toml"]
    assert "nvidia" not in effective_containerd(upstream)[cri]["containerd"]["runtimes"]
    failed, result = run_case(run_module, "containerd-no-dropin", tmp_path)
    assert not failed and result["mode"] == "in-place"
    ours = tree(tmp_path, str(tmp_path))
    config = parsed("c.toml", ours["etc/containerd/config.toml"])
    assert "imports" not in config and set(ours) == {"etc/containerd/config.toml"}
    runtimes = config["plugins"][cri]["containerd"]["runtimes"]
    assert runtimes["nvidia"] == {"runtime_type": "io.containerd.runc.v2",
                                  "options": {"SystemdCgroup": True,
                                              "BinaryName": "/usr/bin/nvidia-container-runtime"}}
    assert runtimes["runc"] == upstream_config["plugins"][cri]["containerd"]["runtimes"]["runc"]


def test_docker_cdi_keeps_other_features(run_module, tmp_path):
    """Upstream drops features.buildkit; everything else equals upstream's result."""
    failed, _unused = run_case(run_module, "docker-cdi", tmp_path)
    assert not failed
    ours = json.loads((tmp_path / "etc/docker/daemon.json").read_text())
    upstream = json.loads((CASES_DIR / "docker-cdi/result/etc/docker/daemon.json").read_text())
    assert "buildkit" not in upstream["features"]
    assert ours["features"] == {"buildkit": True, "cdi": True}
    ours["features"].pop("buildkit")
    assert ours == upstream


def test_comments_survive_and_content_equals_upstream(run_module, tmp_path):
    """Upstream drops every comment of config.toml; ours keeps them with equal parsed content."""
    case = "containerd-v2-comments"
    original = (CASES_DIR / case / "etc/containerd/config.toml").read_text()
    upstream = (CASES_DIR / case / "result/etc/containerd/config.toml").read_text()
    assert "#" not in upstream
    failed, _unused = run_case(run_module, case, tmp_path)
    assert not failed
    ours = (tmp_path / "etc/containerd/config.toml").read_text().replace(str(tmp_path), "")
    for line in original.splitlines():  # every original line survives verbatim, comments included
        assert line in ours.splitlines()
    assert tomllib.loads(ours) == tomllib.loads(upstream)


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("containerd-")
                                  and c not in DEFECTS and c != "containerd-invalid-toml"])
def test_effective_containerd_config_equals_upstream(run_module, tmp_path, case):
    """What containerd reads (config.toml + imports) is the same as with upstream's files."""
    failed, _unused = run_case(run_module, case, tmp_path)
    assert not failed
    assert effective_containerd(tree(tmp_path, str(tmp_path))) == \
        effective_containerd(tree(CASES_DIR / case / "result"))

# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure transforms of nvidia_ctk (named *_utils: pytest needs unique basenames, the module test is test_nvidia_ctk)."""
from __future__ import annotations

import json
import tomllib

import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _config_files as cf
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _nvidia_ctk as ctk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CFG, DROP = "/etc/containerd/config.toml", "/etc/containerd/conf.d/99-nvidia.toml"
CRI2 = "io.containerd.grpc.v1.cri"


class Store(dict):
    """An in-memory file system for the planner."""

    def files(self) -> ctk.Files:
        return ctk.Files(read=self.get, glob=lambda pattern: [p for p in self if ctk.path_match(p, pattern)])

    def run(self, **kwargs) -> ctk.Plan:
        plan = ctk.plan_configure(ctk.Request(**kwargs), self.files())
        for change in plan.changes:
            if change.after is None:
                self.pop(change.path, None)
            else:
                self[change.path] = change.after
        return plan


# --- docker -------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3), max_leaves=8)
other_runtime = st.fixed_dictionaries({"path": st.text(min_size=1, max_size=10)})
daemon_json = st.fixed_dictionaries(
    {}, optional={
        "runtimes": st.dictionaries(st.sampled_from(["crun", "runsc", "youki"]), other_runtime, min_size=1),
        "features": st.dictionaries(st.sampled_from(["buildkit", "containerd-snapshotter"]), st.booleans(),
                                    min_size=1),
        "default-runtime": st.sampled_from(["runc", "crun"]),
    },
).flatmap(lambda base: st.dictionaries(st.text(min_size=1, max_size=12).filter(
    lambda k: k not in ("runtimes", "features", "default-runtime")), json_values, max_size=5).map(
    lambda extra: {**extra, **base}))


@settings(max_examples=60, deadline=None)
@given(daemon_json, st.booleans(), st.booleans())
def test_docker_present_keeps_unrelated_keys_and_absent_round_trips(data, default, cdi):
    store = Store({"/etc/docker/daemon.json": cf.dump_json(data)})
    store.run(runtime="docker", set_as_default=default or None, cdi=cdi)
    after = json.loads(store["/etc/docker/daemon.json"])
    for key, value in data.items():
        if key not in ("runtimes", "features", "default-runtime"):
            assert after[key] == value
    assert {k: v for k, v in after["runtimes"].items() if k != "nvidia"} == data.get("runtimes", {})
    assert after["runtimes"]["nvidia"] == {"args": [], "path": "nvidia-container-runtime"}
    if cdi:
        assert after["features"] == {**data.get("features", {}), "cdi": True}
    assert after.get("default-runtime") == ("nvidia" if default else data.get("default-runtime"))
    store.run(runtime="docker", state="absent", cdi=cdi)
    back = json.loads(store["/etc/docker/daemon.json"])
    if not default:
        assert back == data and list(back) == sorted(data)
    else:  # our default is gone; the one it replaced cannot be known
        assert back == {k: v for k, v in data.items() if k != "default-runtime"}


def test_docker_set_as_default_tristate():
    store = Store({"/etc/docker/daemon.json": '{"default-runtime": "nvidia"}'})
    store.run(runtime="docker")  # omitted: left as upstream leaves it
    assert '"default-runtime": "nvidia"' in store["/etc/docker/daemon.json"]
    store.run(runtime="docker", set_as_default=False)
    assert "default-runtime" not in store["/etc/docker/daemon.json"]
    store["/etc/docker/daemon.json"] = '{"default-runtime": "crun"}'
    store.run(runtime="docker", set_as_default=False)
    assert '"default-runtime": "crun"' in store["/etc/docker/daemon.json"]


def test_docker_wrong_type_is_an_error():
    with pytest.raises(cf.ConfigFileError, match='"runtimes" must be a JSON object'):
        Store({"/etc/docker/daemon.json": '{"runtimes": []}'}).run(runtime="docker")


def test_docker_absent_without_file_creates_nothing():
    store = Store()
    plan = store.run(runtime="docker", state="absent")
    assert store == {} and not any(c.changed for c in plan.changes)


# --- containerd -----------------------------------------------------------------------------

words = st.text("abcdefghij", min_size=1, max_size=6)
comment = st.text("abcdefgh xyz.", min_size=1, max_size=15).map(lambda t: "# " + t.strip())
scalar = st.booleans() | st.integers(-999, 999) | words


@st.composite
def config_toml(draw, version=2):
    """A config.toml with comments: random top-level keys, unrelated tables, maybe a CRI section."""
    lines, used = [draw(comment), f"version = {version}"], {"version", "imports", "plugins"}
    for key in draw(st.lists(words, max_size=3, unique=True)):
        if key not in used:
            used.add(key)
            lines.append(f"{key} = {tomllib_repr(draw(scalar))}  {draw(comment)}")
    for table in draw(st.lists(words, max_size=3, unique=True)):
        if table in used:
            continue
        used.add(table)
        lines += ["", draw(comment), f"[{table}]"]
        for key in draw(st.lists(words, max_size=3, unique=True)):
            lines.append(f"  {key} = {tomllib_repr(draw(scalar))}")
    cri = ctk.CRI_PLUGINS[version]
    if draw(st.booleans()):
        lines += ["", f'[plugins."{cri}"]', f'  sandbox_image = "{draw(words)}"  {draw(comment)}']
    if draw(st.booleans()):
        lines += ["", f'[plugins."{cri}".containerd.runtimes.runc]', '  runtime_type = "io.containerd.runc.v2"',
                  "", f'  [plugins."{cri}".containerd.runtimes.runc.options]',
                  f"    SystemdCgroup = {tomllib_repr(draw(st.booleans()))}"]
    return "\n".join(lines) + "\n"


def tomllib_repr(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int) else f'"{value}"'


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config_toml(), st.booleans(), st.sampled_from([None, DROP, ""]))
def test_containerd_keeps_comments_and_round_trips(text, default, drop_in):
    store = Store({CFG: text})
    kwargs = {"runtime": "containerd", "cdi": True, "containerd_version": (1, 7)}
    if drop_in is not None:
        kwargs["drop_in_path"] = drop_in
    store.run(**kwargs, set_as_default=default or None)
    after = store[CFG]
    for line in text.splitlines():  # every original line, comments included, is still there verbatim
        assert line in after.splitlines()
    original, configured = tomllib.loads(text), tomllib.loads(after)
    for key in original:
        if key != "plugins":
            assert configured[key] == original[key]
    if drop_in == "":
        assert configured["plugins"][CRI2]["containerd"]["runtimes"]["nvidia"]["options"]["BinaryName"]
    else:
        dropin = tomllib.loads(store[DROP])["plugins"][CRI2]
        assert {k: v for k, v in dropin.items() if k not in ("containerd", "enable_cdi")} == \
            {k: v for k, v in original.get("plugins", {}).get(CRI2, {}).items() if k != "containerd"}
        assert dropin["enable_cdi"] is True
    store.run(**kwargs, state="absent")
    assert tomllib.loads(store[CFG]) == original and set(store) == {CFG}


def test_containerd_version_sources():
    req = ctk.Request(runtime="containerd")
    assert ctk.containerd_config_version(req, {}, CFG) == 2
    assert ctk.containerd_config_version(ctk.Request("containerd", containerd_version=(2, 1)), {}, CFG) == 3
    assert ctk.containerd_config_version(ctk.Request("containerd", containerd_version=(1, 7)), {}, CFG) == 2
    assert ctk.containerd_config_version(req, {"root": "/x"}, CFG) == 1
    assert ctk.containerd_config_version(req, {"version": 3}, CFG) == 3
    with pytest.raises(cf.ConfigFileError, match="config_version 3 contradicts the file, which has version = 2"):
        ctk.containerd_config_version(ctk.Request("containerd", config_version=3), {"version": 2}, CFG)
    with pytest.raises(cf.ConfigFileError, match="unsupported containerd config version 7"):
        ctk.containerd_config_version(req, {"version": 7}, CFG)


@pytest.mark.parametrize(("output", "version"), [
    ("containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1", (1, 6)),
    ("containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da", (1, 7)),
    ("containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376", (2, 1)),
    ("garbage", None),
])
def test_parse_containerd_version(output, version):
    assert ctk.parse_containerd_version(output) == version


def test_cdi_skipped_on_containerd_16():
    store = Store({CFG: "version = 2\n"})
    plan = store.run(runtime="containerd", cdi=True, containerd_version=(1, 6))
    assert "enable_cdi" not in store[DROP] and "1.7" in plan.warnings[0]


def runtimes_after_configure(text: str) -> tuple[dict, dict]:
    """(drop-in runtimes, config.toml runtimes) after configuring containerd over config.toml `text`."""
    store = Store({CFG: text})
    store.run(runtime="containerd")
    return tuple(tomllib.loads(store[path])["plugins"][CRI2]["containerd"]["runtimes"] for path in (DROP, CFG))


def test_low_level_runtime_prefers_the_default_runtime():
    text = ('version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  default_runtime_name = "crun"\n'
            '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.crun.options]\n  BinaryName = "/usr/bin/crun"\n'
            '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n')
    nvidia = runtimes_after_configure(text)[0]["nvidia"]
    assert nvidia == {"runtime_type": "io.containerd.runc.v2",
                      "options": {"BinaryName": "/usr/bin/nvidia-container-runtime"}}


def test_copied_runc_without_runtime_type_gets_runc_v2():
    """Upstream copies the bare runc table; the CRI plugin then ignores the copy's BinaryName."""
    drop_in, config = runtimes_after_configure(
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n')
    assert drop_in["nvidia"]["runtime_type"] == "io.containerd.runc.v2"
    assert drop_in["nvidia"]["options"] == {"SystemdCgroup": True, "BinaryName": "/usr/bin/nvidia-container-runtime"}
    assert config["runc"] == {"options": {"SystemdCgroup": True}}  # runc itself is not ours to change


def test_copied_runtime_type_is_kept():
    drop_in = runtimes_after_configure(
        'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n'
        '  runtime_type = "io.containerd.runsc.v1"\n')[0]
    assert drop_in["nvidia"]["runtime_type"] == "io.containerd.runsc.v1"


def test_import_kept_when_not_ours_or_still_needed():
    store = Store({CFG: 'version = 2\nimports = ["/etc/containerd/conf.d/*.toml"]\n'})
    store.run(runtime="containerd")
    assert ctk.read_state(store[DROP]) == {"config_created": False, "import_added": None}
    store.run(runtime="containerd", state="absent")
    assert store == {CFG: 'version = 2\nimports = ["/etc/containerd/conf.d/*.toml"]\n'}
    store = Store({CFG: "version = 2\n"})
    store.run(runtime="containerd")
    store["/etc/containerd/conf.d/10-site.toml"] = "version = 2\n"
    store.run(runtime="containerd", state="absent")
    assert tomllib.loads(store[CFG])["imports"] == ["/etc/containerd/conf.d/*.toml"]


def test_created_config_is_removed_again():
    store = Store()
    store.run(runtime="containerd")
    assert set(store) == {CFG, DROP}
    store.run(runtime="containerd", state="absent")
    assert store == {}


def test_drop_in_next_to_config_gets_an_exact_import():
    store = Store({CFG: "version = 2\n"})
    store.run(runtime="containerd", drop_in_path="/etc/containerd/nvidia.toml")
    assert tomllib.loads(store[CFG])["imports"] == ["/etc/containerd/nvidia.toml"]


def test_drop_in_refreshes_from_config_toml():
    """Order with containerd_config does not matter on a second run: the copy follows config.toml."""
    store = Store({CFG: 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "a"\n'})
    store.run(runtime="containerd")
    store[CFG] = store[CFG].replace('"a"', '"b"')
    plan = store.run(runtime="containerd")
    assert [c.path for c in plan.changes if c.changed] == [DROP]
    assert tomllib.loads(store[DROP])["plugins"][CRI2]["sandbox_image"] == "b"


def test_in_place_set_as_default_false_removes_ours_only():
    store = Store({CFG: "root = '/x'\n"})  # version 1: in place
    store.run(runtime="containerd", set_as_default=True)
    assert tomllib.loads(store[CFG])["plugins"]["cri"]["containerd"]["default_runtime_name"] == "nvidia"
    store.run(runtime="containerd", set_as_default=False)
    assert "default_runtime_name" not in tomllib.loads(store[CFG])["plugins"]["cri"]["containerd"]
    store.run(runtime="containerd", state="absent")
    assert tomllib.loads(store[CFG]) == {"root": "/x"}


# --- cri-o ----------------------------------------------------------------------------------


def test_crio_copies_the_low_level_runtime_and_absent_removes_the_drop_in():
    conf = '[crio.runtime]\ndefault_runtime = "crun"\n[crio.runtime.runtimes.crun]\nruntime_root = "/run/crun"\n'
    store = Store({"/etc/crio/crio.conf": conf})
    store.run(runtime="crio", set_as_default=True)
    dropin = tomllib.loads(store["/etc/crio/crio.conf.d/99-nvidia.toml"])
    assert dropin == {"crio": {"runtime": {"default_runtime": "nvidia", "runtimes": {"nvidia": {
        "runtime_root": "/run/crun", "runtime_path": "/usr/bin/nvidia-container-runtime", "runtime_type": "oci"}}}}}
    store.run(runtime="crio", state="absent")
    assert store == {"/etc/crio/crio.conf": conf}


def test_crio_in_place_round_trip():
    conf = "# crio\n[crio]\n  log_level = \"info\"  # keep\n"
    store = Store({"/etc/crio/crio.conf": conf})
    store.run(runtime="crio", drop_in_path="", set_as_default=True)
    assert "# keep" in store["/etc/crio/crio.conf"]
    assert tomllib.loads(store["/etc/crio/crio.conf"])["crio"]["runtime"]["default_runtime"] == "nvidia"
    store.run(runtime="crio", drop_in_path="", state="absent")
    assert tomllib.loads(store["/etc/crio/crio.conf"]) == tomllib.loads(conf)

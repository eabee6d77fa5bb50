# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import tomllib

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.nvidia_gpu.plugins.filter.container_runtime import containerd_settings
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _containerd_settings as cs
from ansible_collections.homelab.nvidia_gpu.plugins.module_utils._files import _nvidia_ctk as ctk
from ansible_collections.homelab.nvidia_gpu.plugins.modules.containerd_config import edit
from ansible_collections.homelab.nvidia_gpu.plugins.modules.containerd_facts import config_facts

V2 = 'plugins."io.containerd.grpc.v1.cri"'


def test_v2_keys_and_cri_switched_on():
    out = cs.settings({"version": 2, "disabled_plugins": ["cri", "io.containerd.internal.v1.opt"]}, True, "pause:3.10")
    assert out == {
        f"{V2}.containerd.runtimes.runc.runtime_type": "io.containerd.runc.v2",
        f"{V2}.containerd.runtimes.runc.options.SystemdCgroup": True,
        f"{V2}.sandbox_image": "pause:3.10",
        "disabled_plugins": ["io.containerd.internal.v1.opt"],
    }


def test_v3_splits_runtime_and_images_plugins_and_v1_uses_cri():
    v3 = cs.settings({"version": 3}, False, "pause:3.10")
    assert v3['plugins."io.containerd.cri.v1.images".pinned_images.sandbox'] == "pause:3.10"
    assert v3['plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options.SystemdCgroup'] is False
    v1 = cs.settings({"version": 1}, True)
    assert set(v1) == {"plugins.cri.containerd.runtimes.runc.runtime_type",
                       "plugins.cri.containerd.runtimes.runc.options.SystemdCgroup"}


def test_empty_existing_file_gets_its_version_and_cri_left_off_when_asked():
    out = cs.settings({"version": 3, "exists": True, "empty": True, "disabled_plugins": ["cri"]}, True, cri=False)
    assert out["version"] == 3 and "disabled_plugins" not in out
    assert "version" not in cs.settings({"version": 2, "exists": False, "empty": True}, True)


def test_user_settings_win():
    key = f"{V2}.containerd.runtimes.runc.options.SystemdCgroup"
    assert cs.settings({"version": 2}, True, extra={key: False, "oom_score": -999})[key] is False


def test_every_runc_shim_runtime_gets_the_cgroup_driver_so_role_order_does_not_matter():
    """Regression (one owner per file): the toolkit's nvidia entry is a copy of runc taken when it runs; the
    runtime role now sets SystemdCgroup on it too, so running the runtime role after the toolkit converges."""
    text = ('version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n'
            'runtime_type = "io.containerd.runc.v2"\n'
            '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n'
            'SystemdCgroup = false\n')
    req = ctk.Request(runtime="containerd", config_path="/etc/containerd/config.toml", drop_in_path="")
    with_nvidia = ctk.plan_configure(req, ctk.Files(read=lambda p: text if p == req.config else None,
                                                    glob=lambda p: [])).changes[0].after
    facts = config_facts(req.config, with_nvidia, (1, 7))
    assert facts["runc_runtimes"] == ["nvidia", "runc"]
    out = cs.settings(facts, True)
    assert out[f"{V2}.containerd.runtimes.nvidia.options.SystemdCgroup"] is True
    assert f"{V2}.containerd.runtimes.nvidia.runtime_type" not in out  # the toolkit owns the rest of its entry
    after = edit(req.config, with_nvidia, None, out, "present").after  # what containerd_config writes
    runtimes = tomllib.loads(after)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]
    assert runtimes["nvidia"]["options"] == {"SystemdCgroup": True, "BinaryName": "/usr/bin/nvidia-container-runtime"}
    # and the toolkit, run again, changes nothing: the two roles agree
    again = ctk.plan_configure(req, ctk.Files(read=lambda p: after if p == req.config else None,
                                              glob=lambda p: []))
    assert again.changes[0].after == again.changes[0].before


def test_runc_runtimes_ignores_other_shims_and_odd_shapes():
    plain = {"plugins": {"io.containerd.grpc.v1.cri": {"containerd": {"runtimes": {
        "kata": {"runtime_type": "io.containerd.kata.v2"}, "my.rt": {"runtime_type": "io.containerd.runc.v2"},
        "bad": 5}}}}}
    assert cs.runc_runtimes(plain, 2) == ["my.rt"]
    assert cs.settings({"version": 2, "runc_runtimes": ["my.rt"]}, True)[
        f'{V2}.containerd.runtimes."my.rt".options.SystemdCgroup'] is True
    assert cs.runc_runtimes({"plugins": 3}, 2) == [] and cs.runc_runtimes({}, 3) == []


@pytest.mark.parametrize("config, cgroup", [({"version": 4}, True), ("x", True), ({"version": 2}, "yes please")])
def test_filter_refuses_bad_input_clearly(config, cgroup):
    with pytest.raises(AnsibleFilterError, match="containerd_settings"):
        containerd_settings(config, cgroup)

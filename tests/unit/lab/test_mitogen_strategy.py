# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's strategy shim: Molecule's base config names it, and it is mitogen's linear strategy."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from unittest import mock

import yaml

ROOT = Path(__file__).resolve().parents[3]
SHIM = ROOT / "tests/lab/strategy_plugins/mitogen_linear.py"


def load_shim():
    spec = importlib.util.spec_from_file_location("lab_mitogen_linear", SHIM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_molecule_base_config_uses_the_shim_and_the_short_docker_connection():
    config = yaml.safe_load((ROOT / ".config/molecule/config.yml").read_text())
    defaults = config["ansible"]["cfg"]["defaults"]
    assert defaults["strategy"] == "mitogen_linear"
    assert defaults["strategy_plugins"] == "${MOLECULE_PROJECT_DIRECTORY}/tests/lab/strategy_plugins"
    # mitogen only replaces connections it knows by their short name
    assert config["provisioner"]["connection_options"] == {"ansible_connection": "docker"}


def test_the_lab_inventory_uses_the_short_docker_connection():
    hosts = yaml.safe_load((ROOT / "inventories/lab/hosts.yml").read_text())
    assert hosts["all"]["vars"]["ansible_connection"] == "docker"


def test_shim_is_mitogens_linear_strategy():
    from ansible_mitogen.plugins.strategy import mitogen_linear

    shim = load_shim()
    assert issubclass(shim.StrategyModule, mitogen_linear.StrategyModule)


def test_local_plays_run_on_plain_linear_and_others_on_mitogen():
    shim = load_shim()
    strategy = shim.StrategyModule.__new__(shim.StrategyModule)
    iterator = mock.Mock()
    with mock.patch.object(shim._Linear, "run", return_value="linear") as linear, \
            mock.patch.object(shim._MitogenLinear, "run", return_value="mitogen") as mitogen:
        iterator._play.connection = "local"
        assert strategy.run(iterator, mock.Mock()) == "linear"
        iterator._play.connection = "ssh"
        assert strategy.run(iterator, mock.Mock()) == "mitogen"
    assert linear.call_count == 1
    assert mitogen.call_count == 1

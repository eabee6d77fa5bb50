"""The argument-spec check must catch drift between a role's spec and its defaults."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "check-argspecs.py"


@pytest.fixture(scope="module")
def checker():
    spec = importlib.util.spec_from_file_location("check_argspecs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_role(tmp_path: Path, defaults: dict, options: dict) -> Path:
    role = tmp_path / "demo"
    (role / "defaults").mkdir(parents=True)
    (role / "meta").mkdir()
    (role / "defaults" / "main.yml").write_text(yaml.safe_dump(defaults))
    spec = {"argument_specs": {"main": {"short_description": "demo", "options": options}}}
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump(spec))
    return role


def test_equal_spec_and_defaults_pass(tmp_path, checker):
    role = make_role(tmp_path, {"demo_a": 1}, {"demo_a": {"type": "int", "default": 1, "description": "A."}})
    assert checker.check_role(role) == []


def test_default_missing_from_spec_is_reported(tmp_path, checker):
    spec = {"demo_a": {"type": "int", "default": 1, "description": "A."}}
    role = make_role(tmp_path, {"demo_a": 1, "demo_b": 2}, spec)
    assert checker.check_role(role) == ["demo: default 'demo_b' is not in argument_specs.main.options"]


def test_differing_default_is_reported(tmp_path, checker):
    role = make_role(tmp_path, {"demo_a": 1}, {"demo_a": {"type": "int", "default": 2, "description": "A."}})
    assert checker.check_role(role) == ["demo: option 'demo_a' default 2 != defaults/main.yml 1"]


def test_unprefixed_undocumented_untyped_option_is_reported(tmp_path, checker):
    role = make_role(tmp_path, {}, {"other": {}})
    problems = checker.check_role(role)
    assert "demo: option 'other' is not prefixed with 'demo_'" in problems
    assert "demo: option 'other' has no description" in problems
    assert "demo: option 'other' has no type" in problems
    assert "demo: option 'other' is neither required nor in defaults/main.yml" in problems


def test_missing_spec_file_is_reported(tmp_path, checker):
    role = tmp_path / "bare"
    role.mkdir()
    assert checker.check_role(role) == ["bare: meta/argument_specs.yml is missing"]

"""gen-role-docs.py writes each role's variables table into its README and --check catches a stale one."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "gen-role-docs.py"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_role_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_role(root: Path, name: str, options: dict, readme: str | None) -> Path:
    role = root / "roles" / name
    (role / "meta").mkdir(parents=True)
    spec = {"argument_specs": {"main": {"short_description": f"{name} demo", "options": options}}}
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump(spec))
    if readme is not None:
        (role / "README.md").write_text(readme)
    return role


OPTIONS = {
    "demo_port": {"type": "int", "default": 2222, "description": "The port, see O(demo_user)."},
    "demo_user": {"type": "str", "required": True, "description": ["Who.", "C(root) is refused."]},
    "demo_mode": {"type": "str", "default": "a|b", "choices": ["a|b", "c"], "description": "Pipes are escaped."},
}


def test_table_is_appended_then_kept_and_prose_untouched(gen, tmp_path: Path) -> None:
    prose = "# homelab.nvidia_gpu.demo\n\nWhat it does, by hand.\n"
    role = make_role(tmp_path, "demo", OPTIONS, prose)
    assert gen.main(["--root", str(tmp_path), "--check"]) == 1  # no table yet: stale
    assert gen.main(["--root", str(tmp_path)]) == 0
    text = (role / "README.md").read_text()
    assert text.startswith(prose.rstrip("\n") + "\n\n## Variables\n\n" + gen.BEGIN)
    assert "| `demo_port` | int | `2222` | The port, see `demo_user`. |" in text
    assert "| `demo_user` | str |  | Who. `root` is refused. **Required.** |" in text
    assert "`a\\|b`" in text and "One of: `a\\|b`, `c`." in text
    assert gen.main(["--root", str(tmp_path), "--check"]) == 0
    # Hand edits outside the markers stay; a second run changes nothing.
    (role / "README.md").write_text(text + "\n## Notes\n\nMore prose.\n")
    assert gen.main(["--root", str(tmp_path)]) == 0
    assert (role / "README.md").read_text().endswith("## Notes\n\nMore prose.\n")


def test_check_fails_when_the_spec_changes(gen, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    role = make_role(tmp_path, "demo", OPTIONS, "# demo\n")
    gen.main(["--root", str(tmp_path)])
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    spec["argument_specs"]["main"]["options"]["demo_port"]["default"] = 22
    (role / "meta" / "argument_specs.yml").write_text(yaml.safe_dump(spec))
    capsys.readouterr()
    assert gen.main(["--root", str(tmp_path), "--check"]) == 1
    out = capsys.readouterr().out
    assert "roles/demo/README.md" in out and "run python scripts/gen-role-docs.py" in out


def test_a_role_without_readme_gets_one(gen, tmp_path: Path) -> None:
    role = make_role(tmp_path, "bare", {}, None)
    assert gen.main(["--root", str(tmp_path)]) == 0
    text = (role / "README.md").read_text()
    assert text.startswith("# homelab.nvidia_gpu.bare\n\n## Variables\n") and "No variables." in text


def test_broken_markers_are_refused(gen, tmp_path: Path) -> None:
    make_role(tmp_path, "demo", OPTIONS, f"# demo\n{gen.END}\n{gen.BEGIN}\n")
    with pytest.raises(SystemExit, match="must contain"):
        gen.main(["--root", str(tmp_path), "--check"])


def test_offline_refs_link_outside_labels_and_leave_own_ones() -> None:
    spec = importlib.util.spec_from_file_location("offline_refs", ROOT / "tests" / "ecosystem" / "offline_refs.py")
    refs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(refs)
    assert refs.external_url("ansible_collections.ansible.builtin.apt_module") == (
        "https://docs.ansible.com/projects/ansible/latest/collections/ansible/builtin/apt_module.html")
    assert refs.external_url("common_return_values").endswith("search.html?q=common_return_values")
    own = {"refdomain": "std", "reftarget": "ansible_collections.homelab.nvidia_gpu.nvidia_repo_module"}
    assert refs.missing_reference(None, None, own, None) is None  # stays a warning: -W fails the build
    other = {"refdomain": "std", "reftarget": "ansible_collections.ansible.builtin.file_module"}
    link = refs.missing_reference(None, None, other, refs.nodes.Text("file"))
    assert link["refuri"].endswith("/ansible/builtin/file_module.html") and link.astext() == "file"

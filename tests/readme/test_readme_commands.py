"""Every command line in README.md, docs/*.md and tests/lab/README.md works as written, on a copy of the
checkout with an empty HOME.

Command lines come from each document's fenced sh/bash/shell/console blocks, in order, plus inline `make ...`
and `ansible-playbook ...` code spans. The documents run in one bash session, README.md first, then docs/*.md
by name, then tests/lab/README.md (so the README's `. venv/bin/activate` carries over, as for a reader who
followed it); each document starts in the checkout's root. Each part of a line (split on `&&`) is, by its
first word:
  executed      python3, pip, ., source, cp, cd, ansible-galaxy, ansible-doc, `make build|collection|help`;
  dry-run       any other `make` target (`make -n`: the target exists and its recipe expands; no recursion
                into `make test`, no Docker for `make setup`/`make lab`);
  syntax-check  ansible-playbook (`--syntax-check` against the inventory the line names; needs a cluster);
                a checkout script `scripts/*.sh` or `tests/**/*.sh` (executable, `bash -n`; it needs Docker);
  executed      antsibull-changelog (the test venv's: a reader of docs/DEVELOPMENT.md has run `make setup`).
A first word with no rule fails the test, so a new kind of command gets a rule instead of passing unseen.
`pip` reaches PyPI (as `make setup` does). Galaxy is unreachable, so ansible-galaxy talks to a stand-in
Galaxy v3 API on 127.0.0.1 that serves only ansible.utils, packed from the venv's `ansible` package, and
logs every request: galaxy.yml declares no dependency, so an install must not download anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The documents whose command lines are checked, in the order a reader meets them.
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "tests/lab/README.md"]
SHELLS = {"sh", "bash", "shell", "console"}
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
MAKE_RUN = {"build", "collection", "help"}
RUN = {"python3", "pip", ".", "source", "cp", "cd", "ansible-galaxy", "ansible-doc"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SCRIPT = re.compile(r"^(?:scripts|tests)/[\w./-]+\.sh$")


def fenced_commands(text: str, name: str = "README.md") -> list[tuple[int, str]]:
    """(line number, command) of every non-comment line in a shell fenced block."""
    out: list[tuple[int, str]] = []
    fence = None  # (indent, marker, is_shell) of the open block
    for n, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if fence is None:
            if m:
                fence = (len(m.group(1)), m.group(2), m.group(3).lower() in SHELLS)
            continue
        if m and m.group(2).startswith(fence[1]) and not m.group(3):
            fence = None
            continue
        if not fence[2]:
            continue
        cmd = line[fence[0]:].strip() if line[: fence[0]].strip() == "" else line.strip()
        cmd = cmd.removeprefix("$ ")
        if cmd and not cmd.startswith("#"):
            out.append((n, cmd))
    if fence is not None:
        raise AssertionError(f"{name}: a fenced block is never closed")
    return out


def inline_commands(text: str) -> list[tuple[int, str]]:
    """Inline code spans outside fenced blocks that are make or ansible-playbook command lines."""
    out: list[tuple[int, str]] = []
    in_fence = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for span in re.findall(r"`([^`]+)`", line):
            try:
                words = [w for w in shlex.split(span) if not ASSIGNMENT.match(w)]
            except ValueError:
                continue
            args = [w for w in words[1:] if not w.startswith("-")]
            if words and words[0] in ("make", "ansible-playbook") and args and not {"<", "…"} & set(span):
                out.append((n, span.strip()))
    return out


def plan_part(part: str) -> tuple[str, str]:
    """(how, shell text) for one `&&`-separated part of a command line."""
    words = shlex.split(part, comments=True)
    env = []
    while words and ASSIGNMENT.match(words[0]):
        env.append(words.pop(0))
    if not words:
        raise AssertionError(f"empty command: {part!r}")
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (e.split("=", 1) for e in env))
    prefix = f"{prefix} " if prefix else ""
    head = words[0]
    if head == "make":
        targets = [w for w in words[1:] if not w.startswith("-")]
        if targets and set(targets) <= MAKE_RUN:
            return "executed", prefix + shlex.join(words)
        return "dry-run", prefix + shlex.join(["make", "-n", *words[1:]])
    if head == "ansible-playbook":
        return "syntax-check", prefix + shlex.join([*words, "--syntax-check"])
    if head in RUN:
        # Keep the text as written (globs, ~ and activation must reach bash unquoted); drop the comment.
        return "executed", part.split(" #", 1)[0].strip()
    if head == "antsibull-changelog":
        return "executed", prefix + shlex.join([str(Path(sys.executable).parent / head), *words[1:]])
    if SCRIPT.match(head) and not env:
        # The lab's scripts need Docker: the file exists, is executable and parses.
        return "syntax-check", f"test -x {shlex.quote(head)} && bash -n {shlex.quote(head)}"
    raise AssertionError(f"README command {part!r}: no rule for {head!r} in tests/readme "
                         "(executed, dry-run or syntax-check?)")


def plan(cmd: str) -> list[tuple[str, str]]:
    return [plan_part(p) for p in cmd.split(" #", 1)[0].split("&&")]


def test_plan_rules() -> None:
    """The rules themselves: the cluster commands are not run, make test is not recursed into."""
    assert plan("make test") == [("dry-run", "make -n test")]
    assert plan("make build") == [("executed", "make build")]
    assert plan("ansible-playbook -i inv homelab.nvidia_gpu.site") == [
        ("syntax-check", "ansible-playbook -i inv homelab.nvidia_gpu.site --syntax-check")
    ]
    assert plan('MOLECULE_SCENARIOS="lab x" make molecule') == [
        ("dry-run", "MOLECULE_SCENARIOS='lab x' make -n molecule")
    ]
    assert plan("tests/lab/mirror/build.sh   # quick no-op") == [
        ("syntax-check", "test -x tests/lab/mirror/build.sh && bash -n tests/lab/mirror/build.sh")
    ]
    assert plan("antsibull-changelog lint") == [
        ("executed", shlex.join([str(Path(sys.executable).parent / "antsibull-changelog"), "lint"]))
    ]
    with pytest.raises(AssertionError, match="no rule"):
        plan("rm -rf /")
    with pytest.raises(AssertionError, match="no rule"):
        plan("/usr/local/bin/x.sh")
    with pytest.raises(AssertionError, match="no rule"):
        plan("LAB_MIRROR_FORCE=1 tests/lab/mirror/build.sh")  # would run for real: needs its own rule


def test_every_document_is_read() -> None:
    """The moved sections' commands are still checked: docs/DEVELOPMENT.md and docs/LAB.md have command lines."""
    names = [d.relative_to(ROOT).as_posix() for d in DOCS]
    assert names[0] == "README.md" and "docs/DEVELOPMENT.md" in names and "docs/LAB.md" in names, names
    for name in ("docs/DEVELOPMENT.md", "docs/LAB.md", "tests/lab/README.md"):
        text = (ROOT / name).read_text()
        assert fenced_commands(text, name) or inline_commands(text), f"{name}: no command line found"


# --- a Galaxy v3 stand-in -----------------------------------------------------------------------------------------


def pack_installed_collection(src: Path, out: Path) -> dict:
    """A collection artefact (tar.gz with MANIFEST.json and FILES.json) of an installed collection directory.

    The `ansible` package leaves out some files its FILES.json lists, so FILES.json is rebuilt from what is there.
    """
    manifest = json.loads((src / "MANIFEST.json").read_text())
    files = [{"name": ".", "ftype": "dir", "chksum_type": None, "chksum_sha256": None, "format": 1}]
    members = []
    for p in sorted(src.rglob("*")):
        rel = p.relative_to(src).as_posix()
        if "__pycache__" in rel or rel in ("MANIFEST.json", "FILES.json"):
            continue
        if p.is_dir():
            files.append({"name": rel, "ftype": "dir", "chksum_type": None, "chksum_sha256": None, "format": 1})
        else:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            files.append({"name": rel, "ftype": "file", "chksum_type": "sha256", "chksum_sha256": digest, "format": 1})
        members.append(rel)
    files_json = json.dumps({"files": files, "format": 1}).encode()
    manifest["file_manifest_file"]["chksum_sha256"] = hashlib.sha256(files_json).hexdigest()
    manifest_json = json.dumps(manifest).encode()
    with tarfile.open(out, "w:gz") as tar:
        for name, data in (("MANIFEST.json", manifest_json), ("FILES.json", files_json)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for rel in members:
            tar.add(src / rel, arcname=rel, recursive=False)
    return manifest["collection_info"]


def venv_collection(namespace: str, name: str) -> Path:
    for entry in sys.path:
        d = Path(entry) / "ansible_collections" / namespace / name
        if (d / "MANIFEST.json").is_file():
            return d
    pytest.fail(f"{namespace}.{name} is not in this venv's ansible package (run make setup)")


class Galaxy:
    """Serves collection artefacts through the parts of Galaxy's v3 API that ansible-galaxy install uses."""

    def __init__(self, artefacts: dict[tuple[str, str], tuple[dict, Path]]) -> None:
        self.artefacts = artefacts
        self.requests: list[str] = []
        galaxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet: the test prints what matters
                pass

            def do_GET(self) -> None:
                galaxy.requests.append(self.path)
                status, body, ctype = galaxy.answer(self.path.split("?", 1)[0])
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str) -> tuple[int, bytes, str]:
        def js(obj: object, status: int = 200) -> tuple[int, bytes, str]:
            return status, json.dumps(obj).encode(), "application/json"

        if path == "/api/":
            return js({"available_versions": {"v3": "v3/"}})
        m = re.fullmatch(r"/download/([\w.-]+)", path)
        if m:
            for _info, art in self.artefacts.values():
                if art.name == m.group(1):
                    return 200, art.read_bytes(), "application/octet-stream"
            return js({"errors": [{"status": "404"}]}, 404)
        m = re.fullmatch(r"/api/v3/collections/(\w+)/(\w+)/(?:versions/(?:([\w.+-]+)/)?)?", path)
        if not m or (m.group(1), m.group(2)) not in self.artefacts:
            return js({"errors": [{"status": "404", "detail": "Not found."}]}, 404)
        ns, name, version = m.groups()
        info, art = self.artefacts[(ns, name)]
        href = f"/api/v3/collections/{ns}/{name}/versions/{info['version']}/"
        if "/versions/" not in path:
            stamp = "2026-01-01T00:00:00Z"
            return js({"namespace": ns, "name": name, "href": path, "created_at": stamp, "updated_at": stamp,
                       "highest_version": {"version": info["version"], "href": href}})
        if version is None:
            data = [{"version": info["version"], "href": href}]
            return js({"meta": {"count": 1}, "links": {"next": None}, "data": data})
        if version != info["version"]:
            return js({"errors": [{"status": "404"}]}, 404)
        return js({"namespace": {"name": ns}, "collection": {"name": name}, "version": version, "href": href,
                   "download_url": f"/download/{art.name}",
                   "artifact": {"filename": art.name, "sha256": hashlib.sha256(art.read_bytes()).hexdigest()},
                   "metadata": {"dependencies": info["dependencies"]}, "signatures": []})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def galaxy(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("galaxy")
    art = d / "ansible-utils.tar.gz"
    info = pack_installed_collection(venv_collection("ansible", "utils"), art)
    g = Galaxy({("ansible", "utils"): (info, art)})
    yield g
    g.close()


# --- the README, run ---------------------------------------------------------------------------------------------


def checkout_copy(dest: Path) -> None:
    """The working tree as a fresh clone would have it (tracked and untracked-not-ignored files, no .cache)."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for f in files:
        if not f or f.startswith(".cache/") or not (ROOT / f).exists():
            continue
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dest / f, follow_symlinks=False)


def clean_env(home: Path, galaxy_url: str) -> dict[str, str]:
    """A newcomer's environment: an empty HOME, no venv active, no ANSIBLE_* from the test runner."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "VIRTUAL_ENV", "PYTHON", "MOLECULE_", "PIP_"))}
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin
                                  and not p.endswith("/.venv/bin"))
    real_home = os.environ.get("HOME", "/root")
    env.update(HOME=str(home), ANSIBLE_GALAXY_SERVER=galaxy_url, ANSIBLE_NOCOLOR="1",
               PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR", f"{real_home}/.cache/pip"),  # speed only
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    for k in ("PIP_INDEX_URL", "PIP_CERT", "PIP_TRUSTED_HOST", "PIP_EXTRA_INDEX_URL"):  # how this machine reaches PyPI
        if k in os.environ:
            env[k] = os.environ[k]
    return env


def test_readme_commands(tmp_path: Path, galaxy: Galaxy) -> None:
    checkout, home = tmp_path / "checkout", tmp_path / "home"
    checkout.mkdir()
    home.mkdir()
    checkout_copy(checkout)

    script = ["set -o pipefail"]
    report = []
    for doc in DOCS:
        name = doc.relative_to(ROOT).as_posix()
        text = doc.read_text()
        commands = fenced_commands(text, name)
        inline = [c for c in inline_commands(text) if c[1] not in {cmd for _line, cmd in commands}]
        if doc == README:
            assert len(commands) >= 5, f"too few README commands found: {commands}"
        script.append(f"cd {shlex.quote(str(checkout))}")  # each document's commands start at the root
        for n, cmd in commands + inline:
            parts = plan(cmd)
            report.append(f"{name}:{n}: {' && '.join(how for how, _text in parts)}: {cmd}")
            script.append(f"echo {shlex.quote(f'::: {name}:{n}: {cmd}')}")
            joined = " && ".join(sh for _how, sh in parts)
            script.append(f"{{ {joined} ; }} || {{ echo {shlex.quote(f'::: FAILED {name}:{n}')}; exit 1; }}")
    print("\n" + "\n".join(report))
    proc = subprocess.run(["bash", "-c", "\n".join(script)], cwd=checkout, env=clean_env(home, galaxy.url), check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    print(proc.stdout[-20000:])
    assert proc.returncode == 0, f"a documented command failed:\n{proc.stdout[-6000:]}"

    # The quick start's `ansible-galaxy collection install` of the tarball needed nothing from "Galaxy".
    installed = home / ".ansible/collections/ansible_collections"
    assert (installed / "homelab/nvidia_gpu/MANIFEST.json").is_file(), "the quick start did not install the collection"
    assert not any(r.startswith("/download/") for r in galaxy.requests), galaxy.requests

    # What the quick start installed (ansible-core alone) is enough for site.yml's address checks.
    venvs = sorted(home.glob(".venvs/*/bin/ansible"))
    assert venvs, "the quick start made no venv under ~/.venvs"
    env = clean_env(home, galaxy.url)
    check = json.dumps({"msg": "{{ {'a': {'ansible_host': '192.0.2.10'}, 'b': {'ansible_host': '10.0.0.1'}}"
                               " | homelab.nvidia_gpu.site_address_problems(['a', 'b'], '192.0.2.0/24') }}"})
    proc = subprocess.run([str(venvs[0]), "localhost", "-m", "ansible.builtin.debug", "-a", check],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and "b (10.0.0.1 is outside 192.0.2.0/24)" in proc.stdout, proc.stdout + proc.stderr


def test_galaxy_dependencies_are_what_the_content_uses() -> None:
    """galaxy.yml declares exactly the collections that roles, playbooks and plugins name (nothing test-only)."""
    declared = set(yaml.safe_load((ROOT / "galaxy.yml").read_text()).get("dependencies") or {})
    used, found = set(), set()
    for top in ("roles", "playbooks", "plugins", "meta"):
        for f in (ROOT / top).rglob("*"):
            if not f.is_file() or f.suffix not in {".yml", ".yaml", ".py", ".j2"}:
                continue
            text = f.read_text()
            if f.suffix == ".py":  # ansible-core's packages (from ansible.utils.display import X) are no collection
                text = re.sub(r"(?m)^\s*(?:from|import)\s+ansible\.[\w.]+.*$", "", text)
            for ns, name in re.findall(r"\b([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\.[a-z][a-z0-9_]*\b", text):
                found.add(f"{ns}.{name}")
                if any((Path(e) / "ansible_collections" / ns / name / "MANIFEST.json").is_file() for e in sys.path):
                    used.add(f"{ns}.{name}")
    assert {"ansible.builtin", "homelab.nvidia_gpu"} <= found, "the scan found no FQCN (test seam broken?)"
    used -= {"ansible.builtin", "homelab.nvidia_gpu"}
    assert declared == used, f"galaxy.yml dependencies {sorted(declared)} != what the content uses {sorted(used)}"


def test_tarball_installs_alone(tmp_path: Path, galaxy: Galaxy) -> None:
    """`ansible-galaxy collection install` of the built tarball into an empty path needs nothing from Galaxy."""
    galaxy.requests.clear()
    env = clean_env(tmp_path / "home", galaxy.url)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    # ANSIBLE_COLLECTIONS_PATH=empty: the venv's `ansible` package (which has ansible.utils) is still on sys.path,
    # so ansible-galaxy must not count it as installed: COLLECTIONS_SCAN_SYS_PATH=false.
    env.update(ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "empty"), ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")
    subprocess.run(["ansible-galaxy", "collection", "build", "--force", "--output-path", str(tmp_path), str(ROOT)],
                   check=True, env=env, capture_output=True, cwd=tmp_path)
    tarball = next(tmp_path.glob("homelab-nvidia_gpu-*.tar.gz"))
    dest = tmp_path / "empty"
    proc = subprocess.run(["ansible-galaxy", "collection", "install", "-p", str(dest), str(tarball)], check=False,
                          env=env, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (dest / "ansible_collections/homelab/nvidia_gpu/MANIFEST.json").is_file()
    assert not (dest / "ansible_collections/ansible").exists(), proc.stdout
    assert not any(r.startswith("/download/") for r in galaxy.requests), galaxy.requests


def test_checkout_runs_its_own_collection(tmp_path: Path, galaxy: Galaxy) -> None:
    """In a fresh checkout with nothing installed, `make collection` + the root ansible.cfg resolve
    homelab.nvidia_gpu.* to the checkout itself (the README command line alone cannot show which copy ran)."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    checkout_copy(checkout)
    env = clean_env(tmp_path / "home", galaxy.url)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # ansible-core and ansible.utils
    script = ("make collection && ansible-playbook -i inventories/home playbooks/site.yml --syntax-check"
              " && ansible-galaxy collection list homelab.nvidia_gpu")
    proc = subprocess.run(["bash", "-c", script], cwd=checkout, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"# {checkout}/.cache/collections/ansible_collections" in proc.stdout, proc.stdout


# --- links between the documents -----------------------------------------------------------------------------------


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens (code spans lose their ticks)."""
    out = set()
    in_fence = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (m := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-"))
    return out


def test_internal_links_resolve() -> None:
    """Every relative link of README.md, docs/*.md and tests/lab/README.md names a file that exists, and
    its #anchor a heading of that file (sections moved between documents must not leave dead links)."""
    checked = 0
    for doc in DOCS:
        text = doc.read_text()
        prose = "\n".join(line for line in re.sub(r"(?ms)^\s*(```|~~~).*?^\s*\1\s*$", "", text).splitlines())
        for target in re.findall(r"\]\(([^)\s]+)\)", prose):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check offline
                continue
            path, _hash, anchor = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            name = doc.relative_to(ROOT).as_posix()
            assert dest.exists(), f"{name}: link {target!r}: {dest} does not exist"
            if anchor:
                assert dest.suffix == ".md", f"{name}: link {target!r}: an anchor into a non-Markdown file"
                assert anchor in anchors(dest.read_text()), f"{name}: link {target!r}: no heading #{anchor}"
            checked += 1
    assert checked >= 10, f"only {checked} internal links found: is the link pattern broken?"


def test_anchor_rule() -> None:
    assert anchors("# The lab, development and design\n## `site.yml`\n### What the lab showed (2026-11-21)\n") == {
        "the-lab-development-and-design", "siteyml", "what-the-lab-showed-2026-11-21"}


def test_changelog_is_generated(tmp_path: Path) -> None:
    """CHANGELOG.md is antsibull-changelog's rendering of changelogs/changelog.yaml, not a hand edit
    (docs/DEVELOPMENT.md, "Changelog")."""
    out = tmp_path / "CHANGELOG.md"
    tool = Path(sys.executable).parent / "antsibull-changelog"
    proc = subprocess.run([str(tool), "generate", "--output", str(out), "--output-format", "md"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.read_text() == (ROOT / "CHANGELOG.md").read_text(), (
        "CHANGELOG.md differs from changelogs/changelog.yaml: regenerate it with antsibull-changelog")


def test_tarball_ships_nothing_git_ignores(tmp_path: Path) -> None:
    """The built collection holds no file that git ignores (tool caches, antsibull's plugin cache, venvs):
    galaxy.yml's build_ignore must list them."""
    subprocess.run(["ansible-galaxy", "collection", "build", "--force", "--output-path", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, cwd=tmp_path)
    with tarfile.open(next(tmp_path.glob("homelab-nvidia_gpu-*.tar.gz"))) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile() and m.name not in ("MANIFEST.json", "FILES.json")]
    assert "changelogs/changelog.yaml" in names and "docs/DEVELOPMENT.md" in names, names
    proc = subprocess.run(["git", "check-ignore", "--no-index", "--stdin"], cwd=ROOT, input="\n".join(names),
                          capture_output=True, text=True, check=False)
    ignored = proc.stdout.split()
    assert not ignored, f"the tarball ships git-ignored files (add them to galaxy.yml's build_ignore): {ignored[:20]}"

# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gguf_info as Ansible runs it: the lab's real tiny model (written by its own script) compared with gguf-py's
GGUFReader, check mode, and one sentence for a file that is missing or not GGUF."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import gguf
import pytest
from ansible_collections.homelab.nvidia_gpu.plugins.modules import gguf_info

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny.gguf"
    subprocess.run([sys.executable, str(ROOT / "tests/lab/packages/models/tiny_gguf.py"), str(path)], check=True)
    return path


@pytest.mark.parametrize("check_mode", [False, True])
def test_the_lab_model(run_module, tiny, check_mode):
    args = {"path": str(tiny)} | ({"_ansible_check_mode": True} if check_mode else {})
    failed, result = run_module(gguf_info, args)
    assert not failed and result["changed"] is False
    theirs = gguf.GGUFReader(str(tiny))
    info = result["gguf"]
    assert info["tensor_count"] == len(theirs.tensors)
    assert info["total_bytes"] == sum(int(t.n_bytes) for t in theirs.tensors)
    assert info["architecture"] == bytes(theirs.fields["general.architecture"].parts[-1]).decode()
    assert info["complete"] is True


@pytest.mark.parametrize(("content", "message"), [
    (None, r"^/.*/absent\.gguf does not exist\.$"),
    (b"<html>404</html>", r"^/.*/absent\.gguf: this is not a GGUF file: it starts with b'<htm', not b'GGUF'\.$"),
    (b"GGUF\x03\x00", r"^/.*/absent\.gguf: the GGUF header is cut short: the version at byte 4 needs 4 bytes, the file"
                      r" has 2 left\.$"),
])
def test_one_sentence_for_what_is_not_a_model(run_module, tmp_path, content, message):
    path = tmp_path / "absent.gguf"
    if content is not None:
        path.write_bytes(content)
    failed, result = run_module(gguf_info, {"path": str(path)})
    assert failed
    assert re.match(message, result["msg"]), result["msg"]
    assert "Traceback" not in result["msg"]


def test_a_relative_path(run_module):
    failed, result = run_module(gguf_info, {"path": "models/x.gguf"})
    assert failed and "absolute path" in result["msg"]

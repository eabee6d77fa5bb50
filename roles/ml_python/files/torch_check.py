# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared environment's torch, checked (homelab.nvidia_gpu.ml_python): one JSON line on stdout.

Decides only from what torch reports. version, cuda (the build's CUDA, None for a CPU build), available
(torch.cuda.is_available()), device (the GPU's name, or cpu), matmul (where it ran and whether the product was
right), gpu_checked and gpu (whether a GPU did the matmul, in a sentence), error (import failed).
When torch says CUDA is unavailable (a CPU build, no driver, an eGPU powered off) the matmul runs on the CPU, is
checked there, and gpu says that the GPU was not checked. Runs with the environment's python; exits 0 unless it
cannot print.
"""

import json
import sys
import time

CPU_ONLY = "torch reports CUDA unavailable: the matmul ran on the CPU; the GPU was not checked"

out = {"version": None, "cuda": None, "available": None, "device": None, "matmul": None, "gpu_checked": False,
       "gpu": None, "error": None}
try:
    import torch
except Exception as exc:  # any import failure is the answer, not a traceback
    out["error"] = f"import torch failed: {type(exc).__name__}: {exc}"
    out["gpu"] = "torch does not import: nothing ran"
    print(json.dumps(out))
    sys.exit(0)

out["version"] = str(getattr(torch, "__version__", "unknown"))
out["cuda"] = getattr(getattr(torch, "version", None), "cuda", None)
device = "cpu"
try:
    out["available"] = bool(torch.cuda.is_available())
    device = "cuda" if out["available"] else "cpu"
    out["device"] = str(torch.cuda.get_device_name(0)) if out["available"] else "cpu"
    n, k = 512, 384
    a = torch.ones((n, k), device=device)
    b = torch.full((k, n), 2.0, device=device)
    started = time.monotonic()
    product = a @ b
    if out["available"]:
        torch.cuda.synchronize()
    seconds = time.monotonic() - started
    counted = torch.arange(n * n, dtype=torch.float32, device=device).reshape(n, n)
    ident = counted @ torch.eye(n, device=device)
    right = bool((product == 2.0 * k).all().item()) and bool((ident == counted).all().item())
    out["matmul"] = {"ran": True, "device": device, "shape": [n, k, n], "right": right, "seconds": round(seconds, 4)}
except Exception as exc:  # a failed matmul is reported, the role fails on it
    out["matmul"] = {"ran": False, "device": device, "why": f"failed: {type(exc).__name__}: {exc}"}

matmul = out["matmul"]
if device == "cuda" and matmul["ran"]:
    out["gpu_checked"] = True
    out["gpu"] = f"the matmul ran on the GPU ({out['device']}) and was {'right' if matmul['right'] else 'WRONG'}"
elif device == "cuda":
    out["gpu"] = f"torch reports CUDA available; the matmul on the GPU {matmul['why']}"
elif out["available"] is None:
    out["gpu"] = f"torch.cuda.is_available() {matmul['why']}: the GPU was not checked"
else:
    out["gpu"] = CPU_ONLY
print(json.dumps(out))

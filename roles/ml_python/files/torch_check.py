# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared environment's torch, checked (homelab.nvidia_gpu.ml_python): one JSON line on stdout.

version, cuda (the build's CUDA, None for a CPU build), available (torch.cuda.is_available()), device (the GPU's
name, or cpu), matmul (what ran and whether the product was right), stand_in (the lab's stand-in says what it is
and nothing runs), error (import failed). Runs with the environment's python; exits 0 unless it cannot print.
"""

import json
import sys
import time

out = {"version": None, "cuda": None, "available": None, "device": None, "matmul": None, "stand_in": None,
       "error": None}
try:
    import torch
except Exception as exc:  # any import failure is the answer, not a traceback
    out["error"] = f"import torch failed: {type(exc).__name__}: {exc}"
    print(json.dumps(out))
    sys.exit(0)

out["version"] = str(getattr(torch, "__version__", "unknown"))
out["cuda"] = getattr(getattr(torch, "version", None), "cuda", None)
out["stand_in"] = getattr(torch, "HOMELAB_LAB_STAND_IN", None)
if out["stand_in"]:
    out["matmul"] = {"ran": False, "why": f"not run: {out['stand_in']}"}
    print(json.dumps(out))
    sys.exit(0)

try:
    out["available"] = bool(torch.cuda.is_available())
    device = "cuda" if out["available"] else "cpu"
    out["device"] = torch.cuda.get_device_name(0) if out["available"] else "cpu"
    n, k = 512, 384
    a = torch.ones((n, k), device=device)
    b = torch.full((k, n), 2.0, device=device)
    started = time.monotonic()
    product = a @ b
    if out["available"]:
        torch.cuda.synchronize()
    seconds = time.monotonic() - started
    ident = torch.arange(n * n, dtype=torch.float32, device=device).reshape(n, n) @ torch.eye(n, device=device)
    right = bool((product == 2.0 * k).all().item()) and bool(
        (ident == torch.arange(n * n, dtype=torch.float32, device=device).reshape(n, n)).all().item())
    out["matmul"] = {"ran": True, "device": device, "shape": [n, k, n], "right": right, "seconds": round(seconds, 4)}
except Exception as exc:  # a failed matmul is reported, the role fails on it
    out["matmul"] = {"ran": False, "why": f"failed: {type(exc).__name__}: {exc}"}
print(json.dumps(out))

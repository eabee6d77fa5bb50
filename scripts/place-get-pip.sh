#!/usr/bin/env bash
# Pre-place ansible-test's get-pip bootstrap (see scripts/setup.sh). The version is read from the
# installed ansible-test, so an ansible-core upgrade keeps working.
set -euo pipefail
cd "$(dirname "$0")/.."
ver=$(.venv/bin/python - <<'PY'
import re, pathlib, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1))
PY
)
ca=$(.venv/bin/pip config get global.cert 2>/dev/null || true)
[ -n "$ca" ] || ca=${PIP_CERT:-}
[ -n "$ca" ] || ca=/etc/ssl/certs/ca-certificates.crt
target=~/.ansible/test/cache/get_pip_${ver//./_}.py
mkdir -p "$(dirname "$target")"
new=$(mktemp)
cat >"$new" <<PY
"""Offline stand-in for get-pip.py $ver (written by homelab.nvidia_gpu scripts/place-get-pip.sh)."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
subprocess.check_call([sys.executable, "-m", "pip", "install", "--cert", "$ca", *args])
PY
if cmp -s "$new" "$target"; then rm -f "$new"; else mv "$new" "$target"; echo "[setup] placed $target"; fi

# Copyright (c) homelab.nvidia_gpu contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An action plugin's argument spec, read from its doc stub's options (one place for both)."""

from __future__ import annotations

import yaml

_SPEC_KEYS = ("type", "elements", "default", "required", "choices", "no_log")


def argument_spec(documentation: str) -> dict:
    """The DOCUMENTATION's options as an argument spec for ActionBase.validate_argument_spec."""
    options = yaml.safe_load(documentation).get("options") or {}
    return {name: {k: v for k, v in option.items() if k in _SPEC_KEYS} for name, option in options.items()}

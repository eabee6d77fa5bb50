# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared attribute documentation for the collection's modules."""

from __future__ import annotations


class ModuleDocFragment:
    """Attributes of the modules that edit a configuration file."""

    # Modules that edit a file: full check mode and diff mode, POSIX hosts.
    CONFIG_FILE = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
"""

    # Facts modules: they read only, so check mode is full and there is no diff.
    FACTS = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
"""

    # Controller-side actions that only decide (the <role>_plan steps, the playbooks' small actions): they change
    # nothing, run on the controller once per host, and plan the same way in check mode.
    CONTROLLER_ACTION = r"""
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: all
"""

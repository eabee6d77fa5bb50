# Mitogen's linear strategy for the lab (Molecule's base config and tests/lab/lab.sh point
# strategy_plugins here). Mitogen keeps one Python interpreter per host for the whole run instead
# of starting one per task: under arm64 emulation that start is most of a task's cost.
#
# Plays with `connection: local` (Molecule's own create/destroy playbooks, the controller-side
# plays of the scenarios) run on ansible-core's plain linear strategy: they gain nothing from
# mitogen, and Molecule's destroy playbook polls `async_status` in a directory mitogen's local
# connection does not write to. ANSIBLE_STRATEGY=linear turns mitogen off for a whole run.
from __future__ import annotations

from ansible.plugins.loader import strategy_loader
from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as _MitogenLinear

_Linear = strategy_loader.get("linear", class_only=True)


class StrategyModule(_MitogenLinear):
    def run(self, iterator, play_context, result=0):
        # the play keyword (play_context only gets it per host, later)
        if iterator._play.connection == "local":  # pylint: disable=protected-access
            return _Linear.run(self, iterator, play_context)
        return super().run(iterator, play_context, result)

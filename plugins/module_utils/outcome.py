# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one result shape of every module's ``ensure_present`` / ``ensure_absent``.

A module's main() turns an :class:`Outcome` into its return values with :meth:`Outcome.result`, so every
module reports ``changed``, ``changes`` and (in diff mode only) ``diff`` the same way.
"""

from dataclasses import dataclass, field


@dataclass
class Outcome:
    """What a run did (in check mode: would do) to the object a module manages.

    ``changes`` names what changed: dotted paths of the managed view (``ttl``, ``spec.replicaCount``,
    ``addresses.region-1.weight``), or ``<what>: create`` / ``<what>: delete``.  ``before`` and ``after`` are
    the managed views ``--diff`` shows.  ``state`` is the object after the run (as predicted in check mode)
    for the module to return under its own name; ``values`` are the module's other return values.
    """

    changed: bool = False
    changes: list = field(default_factory=list)
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)
    state: dict = None
    values: dict = field(default_factory=dict)

    def result(self, diff_mode, **values):
        """The module's return values: ``values`` and ours; ``diff`` only when Ansible runs in diff mode."""
        out = dict(self.values)
        out.update(values)
        out.update(changed=self.changed, changes=list(self.changes))
        if diff_mode:
            out['diff'] = dict(before=self.before or {}, after=self.after or {})
        return out

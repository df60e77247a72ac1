# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one validation style of every module: checks collect problems, the module fails once with all of them.

What Ansible can check (types, choices, required, required_if, mutually_exclusive...) is declared in the
argument spec; the semantic checks are functions ``<thing>_problems(params, ...) -> [message, ...]`` in the
module_utils of each area, and the module hands their list to :func:`fail_on_problems` before its first write.
"""

INVALID = 'invalid arguments: '


def fail_on_problems(module, problems, prefix=INVALID):
    """Fail the module with every problem in one message (and as a list in ``problems``); none: return."""
    problems = [p for p in problems if p]
    if problems:
        module.fail_json(msg=prefix + '; '.join(problems), problems=problems)

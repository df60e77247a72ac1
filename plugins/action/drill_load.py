# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of drill_load: with ``watch_controller``, tell the module which process to watch.

Why: ansible-core (2.19: TaskQueueManager._signal_handler) turns SIGINT into KeyboardInterrupt and
re-raises SIGTERM with the default action, so a play interrupted by Ctrl-C or an AWX cancel runs no
``always``/``rescue`` section, while a background (``async``) load is daemonized and outlives it.
The load must notice by itself: this plugin runs in the worker process, a child of ansible-playbook,
so ``os.getppid()`` is the controller; its ``sys.argv`` and working directory are the controller's,
which is what lets the module run the same command line again in restore mode.
"""

import os
import sys

from ansible.plugins.action.normal import ActionModule as NormalAction


class ActionModule(NormalAction):

    def run(self, tmp=None, task_vars=None):
        args = self._task.args
        if args.get('watch_controller') and self._connection.transport == 'local':
            new = dict(args)
            new['watch_pid'] = os.getppid()
            new['controller_argv'] = {'argv': [sys.executable] + list(sys.argv), 'cwd': os.getcwd()}
            self._task.args = new
        return super(ActionModule, self).run(tmp, task_vars)

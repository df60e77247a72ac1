# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r'''
name: brief
type: stdout
short_description: A short console for the site, drill and readiness playbooks
version_added: 0.1.0
author:
  - meshdr.alicloud contributors (@meshdr)
description:
  - Prints what a person watching a run needs - one line per play, one line per task that changed
    something (with its host), the messages of C(ansible.builtin.debug) tasks (the drill's progress
    lines, its verdict and report paths, the site summary), every failure in full, and the recap.
  - Hides task banners, C(ok) and C(skipped) results, loop items, retries and ignored failures,
    which make up nearly all of a drill's 900 lines under the default callback.
  - With C(-v) or more it prints exactly what the C(ansible.builtin.default) callback prints; the
    full detail of a drill is also in its reports (JSON journal, Markdown, PNG timeline).
  - The repository's C(ansible.cfg) selects it (C(stdout_callback = meshdr.alicloud.brief)). AWX and
    ansible-runner keep their own event callbacks and are not affected.
extends_documentation_fragment:
  - default_callback
  - result_format_callback
requirements:
  - set as stdout callback in configuration
'''

from ansible.plugins.callback.default import CallbackModule as DefaultCallback
from ansible import constants as C


def _task_of(result):
    return getattr(result, 'task', None) or result._task


def _result_of(result):
    data = getattr(result, 'result', None)
    return data if data is not None else result._result


def _host_of(result):
    host = getattr(result, 'host', None) or result._host
    return host.get_name()


class CallbackModule(DefaultCallback):

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'stdout'
    CALLBACK_NAME = 'meshdr.alicloud.brief'

    def _verbose(self):
        return self._display.verbosity > 0

    def _line(self, text, color=None):
        self._display.display(text, color=color)

    # -- plays and tasks -------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        if self._verbose():
            super(CallbackModule, self).v2_playbook_on_start(playbook)

    def v2_playbook_on_play_start(self, play):
        if self._verbose():
            return super(CallbackModule, self).v2_playbook_on_play_start(play)
        self._play = play
        name = play.get_name().strip()
        self._line('== %s' % name if name else '== play on %s' % ', '.join(play.hosts))

    def v2_playbook_on_task_start(self, task, is_conditional):
        if self._verbose():
            return super(CallbackModule, self).v2_playbook_on_task_start(task, is_conditional)

    def v2_playbook_on_handler_task_start(self, task):
        if self._verbose():
            return super(CallbackModule, self).v2_playbook_on_handler_task_start(task)

    def v2_playbook_on_include(self, included_file):
        if self._verbose():
            return super(CallbackModule, self).v2_playbook_on_include(included_file)

    def v2_runner_on_start(self, host, task):
        if self._verbose():
            return super(CallbackModule, self).v2_runner_on_start(host, task)

    # -- results ---------------------------------------------------------------------------
    def _messages(self, result):
        """The msg of a debug task, one line per list item (the playbooks' own summaries)."""
        data = _result_of(result)
        if 'msg' in data:
            msg = data['msg']
        else:  # debug var=...: the variable's value
            keys = [k for k in data if not k.startswith('_') and k not in ('changed', 'failed')]
            msg = ['%s: %s' % (k, data[k]) for k in keys]
        if isinstance(msg, (list, tuple)):
            self._line('  [%s] msg:' % _host_of(result))
            for item in msg:
                self._line('    %s' % (item,))
        else:
            self._line('  [%s] msg: %s' % (_host_of(result), msg))

    def v2_runner_on_ok(self, result):
        if self._verbose():
            return super(CallbackModule, self).v2_runner_on_ok(result)
        task = _task_of(result)
        data = _result_of(result)
        self._handle_warnings_and_exception(result)
        if task.action in ('debug', 'ansible.builtin.debug', 'ansible.legacy.debug'):
            if not data.get('skipped_reason'):
                self._messages(result)
            return
        if data.get('changed', False):
            self._line('  changed: [%s] %s' % (_host_of(result), task.get_name().strip()), color=C.COLOR_CHANGED)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if self._verbose():
            return super(CallbackModule, self).v2_runner_on_failed(result, ignore_errors)
        if ignore_errors:
            return  # an expected failure (the playbook handles it): shown with -v
        task = _task_of(result)
        data = _result_of(result)
        self._handle_warnings_and_exception(result)
        self._line('  FAILED: [%s] %s' % (_host_of(result), task.get_name().strip()), color=C.COLOR_ERROR)
        items = data.get('results') if task.loop else None
        if isinstance(items, list):
            for item in items:
                if isinstance(item, dict) and item.get('failed'):
                    label = self._get_item_label(item)
                    self._line('    (item=%s) %s' % (label, item.get('msg', '')), color=C.COLOR_ERROR)
        else:
            self._clean_results(data, task.action)
            self._line(self._dump_results(data, indent=4), color=C.COLOR_ERROR)

    def v2_runner_on_skipped(self, result):
        if self._verbose():
            return super(CallbackModule, self).v2_runner_on_skipped(result)

    def v2_runner_on_unreachable(self, result):
        if not self._verbose():
            self._line('  task: %s' % _task_of(result).get_name().strip(), color=C.COLOR_UNREACHABLE)
        return super(CallbackModule, self).v2_runner_on_unreachable(result)

    def v2_runner_item_on_ok(self, result):
        if self._verbose():
            return super(CallbackModule, self).v2_runner_item_on_ok(result)

    def v2_runner_item_on_skipped(self, result):
        if self._verbose():
            return super(CallbackModule, self).v2_runner_item_on_skipped(result)

    def v2_runner_item_on_failed(self, result):
        # Item failures are reported once, with the task's failure (or not at all when ignored).
        if self._verbose():
            return super(CallbackModule, self).v2_runner_item_on_failed(result)

    def v2_runner_retry(self, result):
        if self._verbose():
            return super(CallbackModule, self).v2_runner_retry(result)

    def v2_runner_on_async_poll(self, result):
        if self._verbose():
            return super(CallbackModule, self).v2_runner_on_async_poll(result)

    def v2_on_file_diff(self, result):
        # --diff asks for the diffs: print them at every verbosity.
        return super(CallbackModule, self).v2_on_file_diff(result)

    def v2_playbook_on_stats(self, stats):
        # The standard recap (tools such as Molecule's idempotence check read it).
        return super(CallbackModule, self).v2_playbook_on_stats(stats)

# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: file_mode
short_description: The permission bits of a file on the controller, as a four-digit octal string
version_added: 0.1.0
author: meshdr.alicloud authors
description:
  - Returns the permission bits of the file at the given path, in the form C(ansible.builtin.stat) reports as
    C(stat.mode) (for example C(0600)), or an empty string when nothing is at that path.
  - Like every filter it runs on the controller, so the path is a controller path. The roles use it for the
    kubeconfigs they hand to Kubernetes modules that also run on the controller (C(ansible_connection=local)),
    where it answers what a C(stat) task would, without starting a module.
  - A symbolic link is followed, as C(ansible.builtin.stat) with C(follow=true) does.
options:
  _input:
    description: Path of the file on the controller.
    type: path
    required: true
"""

EXAMPLES = r"""
- name: The kubeconfig is private
  ansible.builtin.assert:
    that: (cluster_kubeconfig | meshdr.alicloud.file_mode) in ['0600', '0400']
"""

RETURN = r"""
_value:
  description: The permission bits in octal (C(0600)), or an empty string when the path does not exist.
  type: str
"""

import os
import stat

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native


def file_mode(path):
    if not isinstance(path, str):
        raise AnsibleFilterError('file_mode expects a path (a string), not %s' % type(path).__name__)
    try:
        return '%04o' % stat.S_IMODE(os.stat(os.path.expanduser(path)).st_mode)
    except FileNotFoundError:
        return ''
    except OSError as exc:
        raise AnsibleFilterError('file_mode cannot read %s: %s' % (path, to_native(exc)))


class FilterModule:
    def filters(self):
        return {'file_mode': file_mode}

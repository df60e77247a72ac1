# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Answers compared with the official SDK's response models, and with what this collection reads.

The SDK models are the one description of the API's answers that neither the modules nor drlab
wrote.  Their ``from_map`` silently drops what they do not know and passes ``Dict[str, Any]``
fields through unchecked, so a comparison must walk the model's declared fields itself:
:func:`model_fields` reads each field's wire name from the model's own ``to_map`` and its type
from the ``__init__`` annotations.  Used by ``cloud_probe`` against a real account and by the
contract tests against drlab.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys

try:
    import typing

    from Tea.model import TeaModel
except ImportError:  # the module reports the missing SDK through AlibabaCloudModule
    TeaModel = None

_FIELDS_CACHE = {}


def _is_model(hint):
    return isinstance(hint, type) and TeaModel is not None and issubclass(hint, TeaModel)


def _placeholder(hint):
    if _is_model(hint):
        return hint()
    origin = getattr(hint, '__origin__', None)
    if origin in (list, typing.List):
        return []
    if origin in (dict, typing.Dict):
        return {}
    return 'x'


def model_fields(model_class):
    """``{wire name: type hint}`` of a Tea model, read from the model's own code."""
    if model_class in _FIELDS_CACHE:
        return _FIELDS_CACHE[model_class]
    namespace = vars(sys.modules[model_class.__module__])
    hints = typing.get_type_hints(model_class.__init__, namespace)
    hints.pop('return', None)
    fields = {}
    for attribute, hint in hints.items():
        probe = model_class()
        setattr(probe, attribute, _placeholder(hint))
        keys = list(probe.to_map() or {})
        if len(keys) == 1:
            fields[keys[0]] = hint
    _FIELDS_CACHE[model_class] = fields
    return fields


def response_body_model(product, action):
    """The SDK's ``<Action>ResponseBody`` class of a product (``servicemesh`` or ``alidns``)."""
    package = {'servicemesh': 'alibabacloud_servicemesh20200111', 'alidns': 'alibabacloud_alidns20150109'}[product]
    models = __import__(package + '.models', fromlist=['models'])
    return getattr(models, action + 'ResponseBody')


def _kind(value):
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, int):
        return 'int'
    if isinstance(value, float):
        return 'float'
    if isinstance(value, str):
        return 'str'
    if isinstance(value, dict):
        return 'object'
    if isinstance(value, list):
        return 'list'
    return type(value).__name__


def _expected_kind(hint):
    if _is_model(hint):
        return 'object'
    origin = getattr(hint, '__origin__', None)
    if origin in (list, typing.List):
        return 'list'
    if origin in (dict, typing.Dict):
        return 'object'
    return {bool: 'bool', int: 'int', float: 'float', str: 'str'}.get(hint)


def shape_differences(model_class, answer, path=''):
    """Where ``answer`` (a decoded JSON body) leaves the model: ``[(path, problem)]``.

    A problem is a key the model does not declare, or a value of another kind than declared
    (an object where a list is declared, a string where a number is...).  ``float`` accepts
    whole numbers, as JSON does not tell them apart.
    """
    problems = []
    if not isinstance(answer, dict):
        return [(path or '(body)', 'expected an object, got %s' % _kind(answer))]
    fields = model_fields(model_class)
    for key in sorted(answer):
        value = answer[key]
        where = '%s.%s' % (path, key) if path else key
        if key not in fields:
            problems.append((where, 'not in the SDK model'))
            continue
        if value is None:
            continue
        hint = fields[key]
        want = _expected_kind(hint)
        have = _kind(value)
        if want and have != want and not (want == 'float' and have == 'int'):
            problems.append((where, 'the SDK declares %s, got %s' % (want, have)))
            continue
        if _is_model(hint):
            problems.extend(shape_differences(hint, value, where))
        elif want == 'list':
            element = (getattr(hint, '__args__', None) or (None,))[0]
            for index, item in enumerate(value):
                item_path = '%s[%d]' % (where, index)
                if _is_model(element):
                    problems.extend(shape_differences(element, item, item_path))
                else:
                    item_want = _expected_kind(element)
                    if item_want and _kind(item) != item_want:
                        problems.append((item_path, 'the SDK declares %s, got %s' % (item_want, _kind(item))))
    return problems


def read_path(answer, path):
    """The values at ``path`` (``A.B[].C``: ``[]`` walks every element of a list); ``[]`` if none."""
    values = [answer]
    for part in path.split('.'):
        each = part.endswith('[]')
        name = part[:-2] if each else part
        found = []
        for value in values:
            if isinstance(value, dict) and value.get(name) is not None:
                item = value[name]
                if each:
                    found.extend(item if isinstance(item, list) else [])
                else:
                    found.append(item)
        values = found
    return values

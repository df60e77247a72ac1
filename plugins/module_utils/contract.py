# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Values compared with the official SDK's request and response models.

The SDK models are the one description of the API that neither the modules nor drlab wrote.
Their ``from_map`` silently drops every key it does not know (``AlibabaCloudModule`` builds each
request and reads each answer through it), and passes ``Dict[str, Any]`` fields through
unchecked, so a comparison reads the model's schema from the model itself:

* the wire keys and the attribute each fills, from the source of ``from_map``
  (``if m.get('Key') is not None: self.attr = ...``): exactly what the SDK keeps;
* each attribute's type, from the ``__init__`` annotations (``str``, ``int``, ``bool``, ``float``,
  ``Any``, ``List[X]``, ``Dict[str, X]`` or a nested model).

Every check returns ``(path, problem)`` pairs (empty = fine).  Used by ``cloud_probe`` against a
real account, and by the contract tests against the modules' requests and drlab's answers.
"""

import ast
import importlib
import inspect
import textwrap

try:
    import typing
except ImportError:  # pragma: no cover - every supported Python has it
    typing = None

PACKAGES = {
    'servicemesh': 'alibabacloud_servicemesh20200111',
    'alidns': 'alibabacloud_alidns20150109',
}


class Type:
    """An SDK field type: ``kind`` is str/int/bool/float/any/model/list/dict."""

    def __init__(self, kind, model=None, item=None):
        self.kind = kind
        self.model = model  # for kind == 'model'
        self.item = item  # for list and dict (the value type)

    def __eq__(self, other):
        return isinstance(other, Type) and (self.kind, self.model, self.item) == (other.kind, other.model, other.item)

    def __hash__(self):
        return hash((self.kind, self.model, self.item))

    def __repr__(self):
        if self.kind == 'model':
            return self.model.__name__
        if self.kind == 'list':
            return 'List[%r]' % (self.item,)
        if self.kind == 'dict':
            return 'Dict[str, %r]' % (self.item,)
        return self.kind

    __str__ = __repr__


ANY = Type('any')
_SCHEMAS = {}


def models(product):
    return importlib.import_module(PACKAGES[product] + '.models')


def request_model(product, action):
    return getattr(models(product), action + 'Request', None)


def response_body_model(product, action):
    return getattr(models(product), action + 'ResponseBody', None)


def is_model(hint):
    return inspect.isclass(hint) and hasattr(hint, 'from_map') and hasattr(hint, 'to_map')


def type_of(hint):
    if hint is typing.Any or hint is None:
        return ANY
    if hint in (str, bytes):
        return Type('str')
    for scalar in (bool, int, float):
        if hint is scalar:
            return Type(scalar.__name__)
    if is_model(hint):
        return Type('model', model=hint)
    origin = getattr(hint, '__origin__', None)
    args = getattr(hint, '__args__', None) or ()
    if origin in (list, typing.List) or hint is list:
        return Type('list', item=type_of(args[0]) if args else ANY)
    if origin in (dict, typing.Dict) or hint is dict:
        return Type('dict', item=type_of(args[1]) if len(args) == 2 else ANY)
    return ANY


def _from_map_keys(model):
    """Wire key -> attribute, read from the source of ``model.from_map``."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(model.from_map)))
    keys = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.If):
            continue
        test = node.test
        if not (isinstance(test, ast.Compare) and isinstance(test.left, ast.Call)
                and isinstance(test.left.func, ast.Attribute) and test.left.func.attr == 'get'
                and test.left.args and isinstance(test.left.args[0], ast.Constant)):
            continue
        for sub in ast.walk(ast.Module(body=node.body, type_ignores=[])):
            if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == 'self':
                keys[test.left.args[0].value] = sub.attr
                break
    return keys


def schema(model):
    """Wire key -> :class:`Type` for every key ``model.from_map`` keeps."""
    if model not in _SCHEMAS:
        namespace = vars(inspect.getmodule(model))
        hints = typing.get_type_hints(model.__init__, namespace)
        _SCHEMAS[model] = dict((key, type_of(hints.get(attr))) for key, attr in _from_map_keys(model).items())
    return _SCHEMAS[model]


def _kind_of(value):
    if isinstance(value, bool):
        return 'bool'
    for kind, types in (('str', str), ('int', int), ('float', float), ('list', list), ('dict', dict)):
        if isinstance(value, types):
            return kind
    return type(value).__name__


def _scalar_ok(value, kind):
    if kind == 'str':
        return isinstance(value, str)
    if kind == 'bool':
        return isinstance(value, bool)
    if kind == 'int':
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == 'float':  # JSON does not tell whole numbers from floats
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


def value_problems(value, tp, where, ignore=lambda value: False):
    """Problems of ``value`` against the SDK type ``tp``: unknown keys and values of another type.

    ``ignore(value)`` skips values whose type the caller cannot know (a variable in a call site).
    """
    if value is None or ignore(value) or tp.kind == 'any':
        return []
    if tp.kind in ('str', 'int', 'bool', 'float'):
        if _scalar_ok(value, tp.kind):
            return []
        return [(where, 'the SDK types it %s, got %s %r' % (tp.kind, _kind_of(value), value))]
    if tp.kind in ('list', 'dict'):
        wanted = list if tp.kind == 'list' else dict
        if not isinstance(value, wanted):
            return [(where, 'the SDK types it %s, got %s' % (tp, _kind_of(value)))]
        items = enumerate(value) if tp.kind == 'list' else sorted(value.items())
        problems = []
        for key, item in items:
            step = '%s[%d]' % (where, key) if tp.kind == 'list' else '%s.%s' % (where, key)
            problems.extend(value_problems(item, tp.item, step, ignore))
        return problems
    return field_problems(value, tp.model, where, ignore)


def field_problems(value, model, where='', ignore=lambda value: False):
    """``value`` (a wire-named dict) against the model, recursively."""
    if not isinstance(value, dict):
        return [(where or '(body)', 'the SDK types it %s (an object), got %s' % (model.__name__, _kind_of(value)))]
    known = schema(model)
    problems = []
    for key in sorted(value):
        path = '%s.%s' % (where, key) if where else key
        if key not in known:
            if value[key] is not None:
                problems.append((path, 'not a field of %s (from_map drops it)' % model.__name__))
            continue
        problems.extend(value_problems(value[key], known[key], path, ignore))
    return problems


def shape_differences(model, answer):
    """Where a decoded answer body leaves the response model: ``[(path, problem)]``.

    A problem is a key the model does not declare (see :func:`is_unknown_field`) or a value of
    another type than declared (an object where the model has a list, a string where it has a number).
    """
    return field_problems(answer, model)


def is_unknown_field(problem):
    """The problem is a key the model does not declare (not a value of the wrong type)."""
    return problem.startswith('not a field of ')


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

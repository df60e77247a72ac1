"""Every API call site of the collection, read from the source with ``ast``.

A call site is ``<x>.call('<product>', '<Action>', Key=value, **more)`` (``AlibabaCloudModule.call``),
``self.call('<Action>', ...)`` in a class whose ``call`` forwards to one product, or
``list_all(<caller>, '<Action>', container, item, Key=value)`` (gtm.list_all adds PageNumber and
PageSize).  For each site the scanner records the static keyword names with the shape of their
values where the expression tells it (a literal, ``client_token()``, ``enable_str(...)``, a dict or
list display...), resolves ``**name`` when ``name`` is a dict built in the same function, and
keeps what it cannot resolve (``**helper(...)``, an action in a variable) for the test to cover by
running the helpers.
"""

from __future__ import annotations

import ast
import glob
import os
from dataclasses import dataclass, field
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SOURCES = ('plugins/modules/*.py', 'plugins/module_utils/*.py', 'plugins/module_utils/*/*.py')
PRODUCTS = ('servicemesh', 'alidns')


from sdk_contract import UNKNOWN  # noqa: E402  (next to this file)

# Keyword arguments of AlibabaCloudModule.call and gtm.list_all that are options, not wire parameters (the
# test checks this set against their signatures).
OPTIONS = {'retry', 'adopt', 'retry_codes', 'page_size'}

# Functions of the collection whose result type is fixed (alicloud.client_token, gtm.enable_str).
STR_FUNCS = {'client_token', 'enable_str', 'str', 'dumps', 'owner_remark', 'join', 'format', 'lower', 'rstrip',
             'domain_fqdn'}
INT_FUNCS = {'int', 'len', 'to_int'}
BOOL_FUNCS = {'bool', 'as_bool'}


@dataclass
class CallSite:
    file: str
    line: int
    function: str
    product: str | None
    action: str | None  # None: the action is an expression (see action_expr)
    action_expr: str
    params: dict[str, Any] = field(default_factory=dict)  # wire name -> sample value (UNKNOWN if not known)
    unresolved: list[str] = field(default_factory=list)  # source of each ** the scanner could not resolve
    via: str = 'call'

    @property
    def key(self) -> tuple[str, str]:
        """How the test's table of helper samples names this site: (function, action or its expression)."""
        return self.function, self.action or self.action_expr

    @property
    def where(self) -> str:
        return f'{self.file}:{self.line} ({self.function}) '


def sample_value(node: ast.AST) -> Any:
    """A representative value of the expression's type, or UNKNOWN."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.JoinedStr,)):
        return 'text'
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) \
            and isinstance(node.left.value, str):
        return 'text'
    if isinstance(node, (ast.Compare, ast.BoolOp)) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
        return True
    if isinstance(node, ast.List):
        return [sample_value(e) for e in node.elts[:1]]
    if isinstance(node, ast.ListComp):
        return [sample_value(node.elt)]
    if isinstance(node, ast.Dict):
        if all(isinstance(k, ast.Constant) for k in node.keys):
            return dict((k.value, sample_value(v)) for k, v in zip(node.keys, node.values, strict=False))
        return UNKNOWN
    if isinstance(node, ast.Call):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, 'id', None)
        if name == 'dict' and not node.args and all(k.arg for k in node.keywords):
            return dict((k.arg, sample_value(k.value)) for k in node.keywords)
        if name in STR_FUNCS:
            return 'text'
        if name in INT_FUNCS:
            return 1
        if name in BOOL_FUNCS:
            return True
    return UNKNOWN


class _Function:
    """The function (or module body) a site is in: its local dict assignments, to resolve ``**name``."""

    def __init__(self, node: ast.AST, qualname: str, outer: _Function | None = None):
        self.node = node
        self.qualname = qualname
        # A lambda sees its enclosing function's names: ``lambda: module.call('x', action, **params)``
        # inside ``def change(module, action, **params)`` forwards change()'s arguments.
        self.params = set(outer.params) if outer is not None else set()
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            args = node.args
            self.params |= {a.arg for a in args.args + args.kwonlyargs}
            if args.kwarg:
                self.params.add(args.kwarg.arg)

    def resolve(self, expr: ast.AST) -> tuple[dict[str, Any], list[str]]:
        """Keys (with sample values) of a ``**expr``, and the parts that need running the helpers."""
        if isinstance(expr, ast.Call) and getattr(expr.func, 'id', None) == 'dict':
            out, left = {}, []
            for arg in expr.args:
                keys, rest = self.resolve(arg)
                out.update(keys)
                left.extend(rest)
            for kw in expr.keywords:
                if kw.arg is None:
                    keys, rest = self.resolve(kw.value)
                    out.update(keys)
                    left.extend(rest)
                else:
                    out[kw.arg] = sample_value(kw.value)
            return out, left
        if isinstance(expr, ast.Dict):
            value = sample_value(expr)
            return (value, []) if isinstance(value, dict) else ({}, [ast.unparse(expr)])
        if isinstance(expr, ast.Name) and expr.id not in self.params:
            assigned = [n for n in ast.walk(self.node) if isinstance(n, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == expr.id for t in n.targets)]
            updates = [n for n in ast.walk(self.node) if isinstance(n, ast.Call)
                       and isinstance(n.func, ast.Attribute) and n.func.attr == 'update'
                       and isinstance(n.func.value, ast.Name) and n.func.value.id == expr.id]
            if len(assigned) == 1:
                keys, rest = self.resolve(assigned[0].value)
                if not rest:
                    for node in ast.walk(self.node):  # name['Key'] = value
                        if isinstance(node, ast.Assign):
                            for target in node.targets:
                                if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
                                        and target.value.id == expr.id and isinstance(target.slice, ast.Constant):
                                    keys[target.slice.value] = sample_value(node.value)
                    for call in updates:  # name.update(Key=value)
                        for kw in call.keywords:
                            if kw.arg:
                                keys[kw.arg] = sample_value(kw.value)
                    return keys, []
        return {}, [ast.unparse(expr)]


def _forwarders(tree: ast.AST) -> dict[str, tuple[str | None, int | None, int, set[str]]]:
    """Functions that pass their arguments on to ``.call``: name -> (fixed product, product index, action index,
    the forwarder's own keyword parameters).

    ``def call(self, action, **params): return self.module.call('alidns', action, **params)`` gives
    ``('alidns', None, 0, {'action'})``; ``def read(self, product, action, **params): self.module.call(product,
    action, **params)`` gives ``(None, 0, 1, ...)`` (indexes of the arguments a caller passes, ``self`` not
    counted).  A caller's keywords naming the forwarder's own parameters (``last=``, ``adopt=``) are options of
    the forwarder, not wire parameters.
    """
    out = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        names = [a.arg for a in node.args.args if a.arg != 'self']
        own = set(names) | {a.arg for a in node.args.kwonlyargs}
        for sub in ast.walk(node):
            if not (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == 'call'
                    and len(sub.args) >= 2 and isinstance(sub.args[1], ast.Name) and sub.args[1].id in names):
                continue
            first = sub.args[0]
            if isinstance(first, ast.Constant) and first.value in PRODUCTS:
                out[node.name] = (first.value, None, names.index(sub.args[1].id), own)
            elif isinstance(first, ast.Name) and first.id in names:
                out[node.name] = (None, names.index(first.id), names.index(sub.args[1].id), own)
    return out


def _is_forwarding(call: ast.Call, func: _Function, action_at: int = 1) -> bool:
    """``module.call('alidns', action, **kw)`` where action and kw are the enclosing function's parameters."""
    return len(call.args) > action_at and isinstance(call.args[action_at], ast.Name) \
        and call.args[action_at].id in func.params


def _lambda_product(node: ast.AST) -> str | None:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == 'call' \
                and sub.args and isinstance(sub.args[0], ast.Constant) and sub.args[0].value in PRODUCTS:
            return sub.args[0].value
    return None


def _site(path: str, call: ast.Call, func: _Function, product: str | None, action_node: ast.AST,
          keywords, via: str, extra: dict[str, Any] | None = None) -> CallSite:
    action = action_node.value if isinstance(action_node, ast.Constant) else None
    site = CallSite(file=path, line=call.lineno, function=func.qualname, product=product, action=action,
                    action_expr=ast.unparse(action_node), via=via)
    site.params.update(extra or {})
    for kw in keywords:
        if kw.arg is None:
            keys, rest = func.resolve(kw.value)
            site.params.update(keys)
            site.unresolved.extend(rest)
        elif kw.arg not in OPTIONS:  # call()'s and list_all()'s own options, not wire names
            value = sample_value(kw.value)
            site.params[kw.arg] = value
            if value is UNKNOWN and isinstance(kw.value, ast.Call) \
                    and getattr(kw.value.func, 'attr', None) != 'get':  # a helper builds it: run the helper
                site.unresolved.append(f'{kw.arg}={ast.unparse(kw.value)}')
    return site


def scan_source(path: str, text: str) -> list[CallSite]:
    tree = ast.parse(text, filename=path)
    forwarders = _forwarders(tree)
    sites: list[CallSite] = []

    def visit(node: ast.AST, func: _Function, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                name = prefix + child.name
                visit(child, _Function(child, name) if isinstance(child, ast.FunctionDef) else func, name + '.')
                continue
            if isinstance(child, ast.Lambda):
                visit(child, _Function(child, func.qualname + '.<lambda>', outer=func), prefix)
                continue
            if isinstance(child, ast.Call):
                handle(child, func)
            visit(child, func, prefix)

    def handle(call: ast.Call, func: _Function) -> None:
        fname = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, 'id', None)
        if isinstance(call.func, ast.Name) and call.func.id in func.params:
            return  # a callable handed in (gtm.list_all's ``call``): its callers are the sites
        first = call.args[0] if call.args else None
        if fname == 'call' and isinstance(first, ast.Constant) and first.value in PRODUCTS:
            if len(call.args) >= 2 and not _is_forwarding(call, func):  # AlibabaCloudModule.call itself
                sites.append(_site(path, call, func, first.value, call.args[1], call.keywords, 'call'))
        elif fname in forwarders and fname != 'list_all':
            product, product_at, action_at, own = forwarders[fname]
            if product_at is not None:
                node = call.args[product_at] if len(call.args) > product_at else None
                product = node.value if isinstance(node, ast.Constant) and node.value in PRODUCTS else None
            if len(call.args) > action_at and not _is_forwarding(call, func, action_at):
                keywords = [kw for kw in call.keywords if kw.arg not in own]
                sites.append(_site(path, call, func, product, call.args[action_at], keywords, fname))
        elif fname == 'call' and not _is_forwarding(call, func):
            # A .call( the scanner cannot read: reported (no product), so a new way of calling is never skipped.
            sites.append(_site(path, call, func, None, first if first is not None else call.func, call.keywords,
                               'call'))
        elif fname == 'list_all' and len(call.args) >= 2:
            caller = call.args[0]
            if isinstance(caller, ast.Lambda):
                product = _lambda_product(caller)
            else:
                name = caller.attr if isinstance(caller, ast.Attribute) else getattr(caller, 'id', None)
                product = (forwarders.get(name) or (None,))[0]
            sites.append(_site(path, call, func, product, call.args[1], call.keywords, 'list_all',
                               extra={'PageNumber': 1, 'PageSize': 100}))

    visit(tree, _Function(tree, '<module>'), '')
    return sites


def scan(root: str = ROOT) -> list[CallSite]:
    sites = []
    for pattern in SOURCES:
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            with open(path, encoding='utf-8') as handle:
                sites.extend(scan_source(os.path.relpath(path, root), handle.read()))
    return sites

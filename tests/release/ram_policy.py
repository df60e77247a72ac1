"""Derive the least-privilege RAM policy from the code: every Alibaba Cloud API action the collection calls.

The modules reach the cloud only through ``AlibabaCloudModule.call(product, action, ...)``
(plugins/module_utils/alicloud.py).  This script reads plugins/ with the ``ast`` module:

* ``x.call('servicemesh', 'DescribeServiceMeshes', ...)``: product and action are literals;
* ``x.call('alidns', action, ...)`` with the action in a variable (pagination helpers): every string
  literal of the same file that names a request model of that product's SDK counts as called;
* a call whose product is also a variable: string literals that name a request model of any product.

Every action is checked against the official SDK's request models, so a typo cannot reach the policy.

    python tests/release/ram_policy.py           # check docs/ram-policy.json and docs/ram-policy.md
    python tests/release/ram_policy.py --write   # regenerate them
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGINS = os.path.join(ROOT, "plugins")
POLICY = os.path.join(ROOT, "docs", "ram-policy.json")
TABLE = os.path.join(ROOT, "docs", "ram-policy.md")

# product name in module.call() -> (SDK package, RAM service code)
PRODUCTS = {
    "servicemesh": ("alibabacloud_servicemesh20200111", "servicemesh"),
    "alidns": ("alibabacloud_alidns20150109", "alidns"),
}
# Module-level strings that are documentation, not code.
DOC_NAMES = {"DOCUMENTATION", "EXAMPLES", "RETURN"}
# Prefixes of actions that only read (the rest change something).
READ_PREFIXES = ("Describe", "List", "Get", "Query", "Check", "Preview", "Search")


def sdk_actions(product: str) -> set[str]:
    models = importlib.import_module(PRODUCTS[product][0] + ".models")
    return {name[: -len("Request")] for name in dir(models) if name.endswith("Request") and name[0].isupper()}


def code_strings(tree: ast.Module) -> set[str]:
    """String literals of a module except docstrings and DOCUMENTATION/EXAMPLES/RETURN."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in DOC_NAMES for t in node.targets):
            skip.update(id(n) for n in ast.walk(node.value))
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
    return {n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip}


def literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def scan_file(path: str, known: dict[str, set[str]]) -> dict[str, set[str]]:
    """{product: {actions}} called from one file."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), filename=path)
    found: dict[str, set[str]] = {}
    dynamic: set[str | None] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "call"):
            continue
        if len(node.args) < 2:
            continue
        product, action = literal(node.args[0]), literal(node.args[1])
        if product is not None and product not in PRODUCTS:
            continue  # some other object's .call()
        if product and action:
            if action not in known[product]:
                raise SystemExit(f"{os.path.relpath(path, ROOT)}: {product} has no action {action!r} in its SDK")
            found.setdefault(product, set()).add(action)
        else:
            dynamic.add(product)
    if dynamic:
        strings = code_strings(tree)
        for product in (PRODUCTS if None in dynamic else dynamic):
            hits = strings & known[product]
            if hits:
                found.setdefault(product, set()).update(hits)
    return found


def collect() -> dict[str, dict[str, set[str]]]:
    """{relative file: {product: {actions}}} for every file under plugins/ that calls the cloud."""
    known = {product: sdk_actions(product) for product in PRODUCTS}
    result = {}
    for base, _dirs, files in os.walk(PLUGINS):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(base, name)
                found = scan_file(path, known)
                if found:
                    result[os.path.relpath(path, ROOT)] = found
    return result


def render(calls: dict[str, dict[str, set[str]]]) -> tuple[str, str]:
    by_product: dict[str, set[str]] = {}
    for found in calls.values():
        for product, actions in found.items():
            by_product.setdefault(product, set()).update(actions)
    statements = [{"Effect": "Allow",
                   "Action": [f"{PRODUCTS[p][1]}:{a}" for a in sorted(by_product[p])],
                   "Resource": "*"} for p in sorted(by_product)]
    policy = json.dumps({"Version": "1", "Statement": statements}, indent=2) + "\n"
    lines = [
        "# RAM actions by source file",
        "",
        "Generated by `tests/release/ram_policy.py --write` from the `module.call(...)` sites in `plugins/`;",
        "`make release-check` fails when this page or `ram-policy.json` drifts from the code.",
        "",
        "| file | RAM action | kind |",
        "|---|---|---|",
    ]
    for path in sorted(calls):
        for product in sorted(calls[path]):
            for action in sorted(calls[path][product]):
                kind = "read" if action.startswith(READ_PREFIXES) else "write"
                lines.append(f"| `{path}` | `{PRODUCTS[product][1]}:{action}` | {kind} |")
    if not calls:
        lines.append("| (no cloud calls yet) | | |")
    return policy, "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--write", action="store_true", help="regenerate docs/ram-policy.json and .md")
    args = parser.parse_args(argv)
    policy, table = render(collect())
    if args.write:
        os.makedirs(os.path.dirname(POLICY), exist_ok=True)
        for path, text in ((POLICY, policy), (TABLE, table)):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        print(f"wrote {os.path.relpath(POLICY, ROOT)} and {os.path.relpath(TABLE, ROOT)}")
        return 0
    stale = []
    for path, text in ((POLICY, policy), (TABLE, table)):
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if current != text:
            stale.append(os.path.relpath(path, ROOT))
    if stale:
        print("out of date with the code: " + ", ".join(stale) + " (run: python tests/release/ram_policy.py --write)")
        return 1
    print("RAM policy matches the code")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Each doc fragment documents exactly the argument spec it is paired with (names, types, defaults, choices,
aliases, elements, required, suboptions), so a shared option cannot drift from its documentation."""

import pytest
import yaml

from ansible_collections.meshdr.alicloud.plugins.doc_fragments.alicloud import ModuleDocFragment
from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import ALICLOUD_COMMON_ARGS, WAIT_ARGS
from ansible_collections.meshdr.alicloud.plugins.module_utils.asm import common as asm_common

PAIRS = [
    ('alicloud', ModuleDocFragment.DOCUMENTATION, ALICLOUD_COMMON_ARGS),
    ('alicloud.wait', ModuleDocFragment.WAIT, WAIT_ARGS),
    ('alicloud.mesh_access', ModuleDocFragment.MESH_ACCESS, asm_common.mesh_access_args()),
]


def disagreements(docs, spec, where=''):
    """Every way ``docs`` (fragment options) and ``spec`` (argument spec) differ, as messages."""
    problems = []
    for name in sorted(set(docs) - set(spec)):
        problems.append(f'{where}{name}: documented, not in the spec')
    for name in sorted(set(spec) - set(docs)):
        problems.append(f'{where}{name}: in the spec, not documented')
    for name in sorted(set(docs) & set(spec)):
        doc, arg = docs[name], spec[name]
        here = f'{where}{name}'
        if doc.get('type', 'str') != arg.get('type', 'str'):
            problems.append('{}: type {} documented, {} in the spec'.format(
                here, doc.get('type', 'str'), arg.get('type', 'str')))
        for key in ('default', 'choices', 'aliases', 'elements'):
            if doc.get(key) != arg.get(key):
                problems.append(f'{here}: {key} {doc.get(key)!r} documented, {arg.get(key)!r} in the spec')
        if bool(doc.get('required')) != bool(arg.get('required')):
            problems.append(f'{here}: required differs')
        problems.extend(disagreements(doc.get('suboptions') or {}, arg.get('options') or {}, here + '.'))
    return problems


@pytest.mark.parametrize('name, text, spec', PAIRS, ids=[p[0] for p in PAIRS])
def test_fragment_documents_its_spec(name, text, spec):
    assert disagreements(yaml.safe_load(text)['options'], spec) == []


def test_a_drift_is_found():
    docs = yaml.safe_load(ModuleDocFragment.WAIT)['options']
    spec = dict(WAIT_ARGS, wait_timeout=dict(type='int', default=300), extra=dict(type='str'))
    assert disagreements(docs, spec) == ['extra: in the spec, not documented',
                                         'wait_timeout: default 600 documented, 300 in the spec']

# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Kubernetes access for the CR-based ASM modules, through the official ``kubernetes`` client.

A :class:`Kube` wraps one ``DynamicClient`` built from a kubeconfig (a file, or the text
DescribeServiceMeshKubeconfig returns) and speaks plain dicts.  Errors become
:class:`KubeError` with the API server's status, reason and message.
"""

import copy
import json
import traceback

from ansible.module_utils.common.dict_transformations import dict_merge

from ansible_collections.meshdr.alicloud.plugins.module_utils.alicloud import compare_dicts
from ansible_collections.meshdr.alicloud.plugins.module_utils.outcome import Outcome

try:
    import yaml
    from kubernetes import config as kube_config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import DynamicApiError, NotFoundError, ResourceNotFoundError

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError:
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

MERGE_PATCH = 'application/merge-patch+json'


class KubeError(Exception):
    def __init__(self, message, status=None, reason=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason


def _error_message(exc):
    body = getattr(exc, 'body', None)
    if isinstance(body, bytes):
        body = body.decode('utf-8', 'replace')
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        data = {}
    return data.get('message') or getattr(exc, 'summary', lambda: None)() or str(exc)


def _fold(exc, what):
    status = getattr(exc, 'status', None)
    reason = getattr(exc, 'reason', None)
    return KubeError('%s: %s' % (what, _error_message(exc)), status=status, reason=reason)


def _plain(obj):
    if obj is None:
        return None
    if hasattr(obj, 'to_dict'):
        return obj.to_dict()
    return obj


def lb_address(service):
    """The first load balancer address (IP or hostname) of a Service, or None."""
    ingress = (((service or {}).get('status') or {}).get('loadBalancer') or {}).get('ingress') or []
    for entry in ingress:
        address = entry.get('ip') or entry.get('hostname')
        if address:
            return address
    return None


class Kube:
    """One Kubernetes API server, addressed by a kubeconfig file or kubeconfig text."""

    def __init__(self, path=None, text=None, what='Kubernetes API'):
        self.what = what
        try:
            if text is not None:
                api = kube_config.new_client_from_config_dict(yaml.safe_load(text))
            else:
                api = kube_config.new_client_from_config(config_file=path)
            self.client = DynamicClient(api)
        except (ApiException, DynamicApiError) as exc:
            raise _fold(exc, 'cannot reach %s' % what)
        except Exception as exc:  # noqa: BLE001 - config errors and connection failures alike
            raise KubeError('cannot use the kubeconfig of %s (%s): %s' % (what, path or 'inline', exc))

    def resource(self, api_version, kind):
        try:
            return self.client.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            raise KubeError('%s does not serve %s %s' % (self.what, api_version, kind), status=404,
                            reason='NotFound')

    def get(self, api_version, kind, name, namespace=None):
        try:
            return _plain(self.resource(api_version, kind).get(name=name, namespace=namespace))
        except NotFoundError:
            return None
        except DynamicApiError as exc:
            raise _fold(exc, 'reading %s %s/%s from %s' % (kind, namespace, name, self.what))

    def create(self, obj, dry_run=False):
        meta = obj['metadata']
        try:
            return _plain(self.resource(obj['apiVersion'], obj['kind']).create(
                body=obj, namespace=meta.get('namespace'), **({'dry_run': 'All'} if dry_run else {})))
        except DynamicApiError as exc:
            raise _fold(exc, 'creating %s %s/%s in %s' % (obj['kind'], meta.get('namespace'), meta['name'],
                                                          self.what))

    def merge_patch(self, api_version, kind, name, namespace, patch, dry_run=False):
        try:
            return _plain(self.resource(api_version, kind).patch(
                body=patch, name=name, namespace=namespace, content_type=MERGE_PATCH,
                **({'dry_run': 'All'} if dry_run else {})))
        except DynamicApiError as exc:
            raise _fold(exc, 'patching %s %s/%s in %s' % (kind, namespace, name, self.what))

    def delete(self, api_version, kind, name, namespace=None):
        """Delete; True if it existed."""
        try:
            self.resource(api_version, kind).delete(name=name, namespace=namespace)
            return True
        except NotFoundError:
            return False
        except DynamicApiError as exc:
            raise _fold(exc, 'deleting %s %s/%s in %s' % (kind, namespace, name, self.what))


def managed_view(obj, spec_keys=None):
    """What a CR module shows in ``diff``: name, namespace and the spec (or its given keys)."""
    if not obj:
        return {}
    spec = obj.get('spec') or {}
    if spec_keys is not None:
        spec = dict((k, v) for k, v in spec.items() if k in spec_keys)
    meta = obj.get('metadata') or {}
    return {'name': meta.get('name'), 'namespace': meta.get('namespace'), 'spec': spec}


def public_object(obj):
    """A CR as returned to the user: without managedFields (noise) but with identity and spec."""
    if not obj:
        return {}
    out = dict(obj)
    meta = dict(out.get('metadata') or {})
    meta.pop('managedFields', None)
    out['metadata'] = meta
    return out


def new_object(api_version, kind, name, namespace, spec):
    return {'apiVersion': api_version, 'kind': kind, 'metadata': {'name': name, 'namespace': namespace},
            'spec': spec}


# Answers meaning the server does not offer a dry run for this request (it refuses the dryRun parameter
# itself): API servers before 1.18 (dryRun went GA in 1.18, KEP 576) or an aggregated API without it.
DRY_RUN_REFUSED = (400, 405, 415, 501)


class CustomResource:
    """One namespaced custom resource, managed the way kubernetes.core's k8s module manages an object.

    :meth:`plan` reads nothing and writes nothing: from the current object (``get``) and the spec fields the
    user set, it decides create / patch / nothing and predicts the object after.  The module may then
    check what it needs before the first write (clusters reachable...), and :meth:`apply` creates, or
    merge-patches the fields the user set (lists replace, maps merge: RFC 7386).  In check mode
    :meth:`apply` sends the same request with ``dryRun=All`` where the server offers it, so the
    prediction is the server's own answer; else the local prediction stands.  ``changed`` comes from
    what the server answered (a patch the server stores as it was is no change).
    """

    def __init__(self, module, kube, api_version, kind, name, namespace):
        self.module = module
        self.kube = kube
        self.api_version = api_version
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.dry_run = True

    @property
    def where(self):
        return '%s %s/%s' % (self.kind, self.namespace, self.name)

    def get(self):
        return self.kube.get(self.api_version, self.kind, self.name, self.namespace)

    def plan(self, current, spec, defaults=None):
        """``{'current', 'action', 'predicted', 'changes'}``; ``defaults`` are spec fields set at creation only."""
        if current is None:
            obj_spec = dict(defaults or {})
            obj_spec.update(spec)
            predicted = new_object(self.api_version, self.kind, self.name, self.namespace, obj_spec)
            return dict(current=None, action='create', predicted=predicted, changes=['%s: create' % self.kind])
        diffs = compare_dicts(spec, current.get('spec') or {})
        if not diffs:
            return dict(current=current, action='none', predicted=current, changes=[])
        predicted = copy.deepcopy(current)
        predicted['spec'] = dict_merge(current.get('spec') or {}, spec)
        return dict(current=current, action='patch', predicted=predicted, spec=spec,
                    changes=['spec.%s' % path for path, _have, _want in diffs])

    def apply(self, plan):
        """Carry out (check mode: dry-run) a :meth:`plan`; an :class:`Outcome` whose ``state`` is the object."""
        current, action = plan['current'], plan['action']
        before = managed_view(current)
        if action == 'none':
            return Outcome(changed=False, before=before, after=before, state=current)
        check = self.module.check_mode
        if action == 'create':
            after = self._dry(lambda: self.kube.create(plan['predicted'], dry_run=True), plan['predicted']) \
                if check else self._create(plan['predicted'])
            changed = True
        else:
            patch = {'spec': plan['spec']}
            if check:
                after = self._dry(lambda: self.kube.merge_patch(self.api_version, self.kind, self.name, self.namespace,
                                                                patch, dry_run=True), plan['predicted'])
            else:
                after = self.kube.merge_patch(self.api_version, self.kind, self.name, self.namespace, patch)
            changed = managed_view(after) != before
        if changed and not check:
            self.module.wrote('%s %s%s' % ('created' if action == 'create' else 'patched', self.where,
                                           '' if action == 'create' else ': ' + ', '.join(plan['changes'])))
        return Outcome(changed=changed, changes=plan['changes'] if changed else [], before=before,
                       after=managed_view(after), state=after)

    def delete(self, current):
        """Delete the object if it exists (nothing in check mode); an :class:`Outcome`."""
        if current is None:
            return Outcome()
        if not self.module.check_mode:
            self.kube.delete(self.api_version, self.kind, self.name, self.namespace)
            self.module.wrote('deleted %s' % self.where)
        return Outcome(changed=True, changes=['%s: delete' % self.kind], before=managed_view(current), after={},
                       state={})

    def _dry(self, send, predicted):
        if not self.dry_run:
            return predicted
        try:
            return send()
        except KubeError as exc:
            if exc.status in DRY_RUN_REFUSED and 'dry' in (exc.message or '').lower():
                self.dry_run = False
                return predicted
            raise

    def _create(self, obj):
        """Create; if it already exists (a concurrent run created it since we read), adopt it.

        The Kubernetes API answers 409 AlreadyExists to a second create of a name (API conventions); the
        object the other run made is re-read and brought to our spec with a merge patch when it differs,
        so two runs converge on one object instead of one failing.
        """
        try:
            return self.kube.create(obj)
        except KubeError as exc:
            if exc.status != 409:
                raise
        current = self.get()
        if current is None:  # created and deleted again meanwhile: let the next run decide
            return self.kube.create(obj)
        if not compare_dicts(obj.get('spec') or {}, current.get('spec') or {}):
            return current
        return self.kube.merge_patch(self.api_version, self.kind, self.name, self.namespace,
                                     {'spec': obj.get('spec') or {}})

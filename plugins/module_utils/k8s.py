# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Kubernetes access for the CR-based ASM modules, through the official ``kubernetes`` client.

A :class:`Kube` wraps one ``DynamicClient`` built from a kubeconfig (a file, or the text
DescribeServiceMeshKubeconfig returns) and speaks plain dicts.  Errors become
:class:`KubeError` with the API server's status, reason and message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import traceback

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
        super(KubeError, self).__init__(message)
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


class Kube(object):
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

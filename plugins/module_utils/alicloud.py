# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The base every meshdr.alicloud module is built on.

One argument spec for credentials, region and endpoints (documented once in the
``meshdr.alicloud.alicloud`` doc fragment), one client factory for the official
Tea SDKs, one retry policy, and one way of turning an API error into
``fail_json``.  Modules name operations by their wire names and pass wire-named
parameters, so a module reads like the API reference:

    mesh = module.call('servicemesh', 'DescribeServiceMeshDetail', ServiceMeshId=mesh_id)
"""

import importlib.util
import random
import re
import time
import traceback
import uuid

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib


def _installed(package):
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


# The SDK is imported when a client is built, not with this file: its core costs ~0.3 s a process
# (Tea.core pulls in aiohttp and requests, the credentials client apscheduler), and a run that needs
# no cloud call (asm_gateway or asm_ratelimit answered from the mesh's Kubernetes API) should not pay
# it.  Measured by benchmarks/site_converge.py.
HAS_TEA = _installed('alibabacloud_tea_openapi') and _installed('alibabacloud_tea_util')
TEA_IMPORT_ERROR = None if HAS_TEA else 'alibabacloud_tea_openapi or alibabacloud_tea_util cannot be found'
HAS_CREDENTIALS = _installed('alibabacloud_credentials')

# Product -> (SDK package, default endpoint or None to let the SDK's endpoint rules decide).
PRODUCTS = {
    'servicemesh': ('alibabacloud_servicemesh20200111', 'servicemesh.aliyuncs.com'),
    'alidns': ('alibabacloud_alidns20150109', None),
}

ENDPOINT_ENV = {
    'servicemesh': ['MESHDR_SERVICEMESH_ENDPOINT', 'ALIBABA_CLOUD_SERVICEMESH_ENDPOINT'],
    'alidns': ['MESHDR_ALIDNS_ENDPOINT', 'ALIBABA_CLOUD_ALIDNS_ENDPOINT'],
}

# Documented by the doc fragment meshdr.alicloud.alicloud (plugins/doc_fragments/alicloud.py DOCUMENTATION,
# unit-tested to agree).
ALICLOUD_COMMON_ARGS = dict(
    access_key_id=dict(
        type='str', aliases=['alicloud_access_key', 'access_key'],
        fallback=(env_fallback, ['ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALICLOUD_ACCESS_KEY']),
    ),
    access_key_secret=dict(
        type='str', no_log=True, aliases=['alicloud_secret_key', 'secret_key'],
        fallback=(env_fallback, ['ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'ALICLOUD_SECRET_KEY']),
    ),
    security_token=dict(
        type='str', no_log=True, aliases=['alicloud_security_token'],
        fallback=(env_fallback, ['ALIBABA_CLOUD_SECURITY_TOKEN', 'ALICLOUD_SECURITY_TOKEN']),
    ),
    region_id=dict(
        type='str', aliases=['region', 'alicloud_region'],
        fallback=(env_fallback, ['ALIBABA_CLOUD_REGION_ID', 'ALICLOUD_REGION']),
    ),
    profile=dict(
        type='str', aliases=['alicloud_profile'],
        fallback=(env_fallback, ['ALIBABA_CLOUD_PROFILE', 'ALICLOUD_PROFILE']),
    ),
    shared_credentials_file=dict(
        type='path',
        fallback=(env_fallback, ['ALIBABA_CLOUD_CREDENTIALS_FILE', 'ALICLOUD_SHARED_CREDENTIALS_FILE']),
    ),
    assume_role=dict(
        type='dict', aliases=['alicloud_assume_role'],
        options=dict(
            role_arn=dict(type='str', required=True),
            session_name=dict(type='str', default='meshdr-alicloud'),
            session_expiration=dict(type='int', default=3600),
            policy=dict(type='str'),
            external_id=dict(type='str', no_log=True),
        ),
    ),
    servicemesh_endpoint=dict(type='str', fallback=(env_fallback, ENDPOINT_ENV['servicemesh'])),
    alidns_endpoint=dict(type='str', fallback=(env_fallback, ENDPOINT_ENV['alidns'])),
    protocol=dict(
        type='str', choices=['https', 'http'], default='https',
        fallback=(env_fallback, ['MESHDR_ALICLOUD_PROTOCOL']),
    ),
    api_retries=dict(type='int', default=8),
    api_retry_max_time=dict(type='float', default=120.0),
)

# wait / wait_timeout of the modules that wait for a resource; documented by the doc fragment
# meshdr.alicloud.alicloud.wait (plugins/doc_fragments/alicloud.py WAIT, unit-tested to agree).
WAIT_ARGS = dict(
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=600),
)

# Error codes that mean "try again later": the service refused before acting, so repeating the call
# is safe.  Sources, all in aliyun/terraform-provider-alicloud (the provider the cloud's own teams keep):
# - alicloud/errors.go NeedRetry: a code containing "Throttling" (Throttling, Throttling.User,
#   Throttling.Api, Rejected.Throttling), ServiceUnavailable, and any HTTP 5xx (handled by status);
# - alicloud/resource_alicloud_alidns_record.go: InternalError, LastOperationNotFinished;
# - alicloud/resource_alicloud_alidns_domain.go: RecordForbidden.DNSChange, DnsSystemBusyness;
# - alicloud/service_alicloud_alidns.go: DnsGtmSystemBusyness (GTM 2.0, same "SystemBusyness" family).
# Busy codes of one resource (a mesh still applying a change) are not here: the module waiting on
# that resource passes them as ``retry_codes`` to the call that needs them.
RETRYABLE_CODE_PATTERNS = (
    re.compile(r'Throttling'),
    re.compile(r'SystemBusyness$'),
)
RETRYABLE_CODES = frozenset((
    'ServiceUnavailable',
    'InternalError',
    'LastOperationNotFinished',
    'RecordForbidden.DNSChange',
))
# What the Tea SDK says when the request never left this machine (urllib3's messages inside its
# UnretryableException): repeating such a call cannot duplicate anything.
NOT_SENT_MARKERS = ('Failed to establish a new connection', 'Connection refused', 'ConnectTimeout',
                    'connect timeout', 'Name or service not known', 'Temporary failure in name resolution')
# Writes that create something: repeating one whose reply was lost would create it twice, so they
# are retried after an unknown outcome only when the call says how to find what it created (adopt)
# or carries a ClientToken the service de-duplicates by.
CREATING_PREFIXES = ('Create', 'Add')
# Operations that only read (the RAM policy's read actions): what a read-only module may call.
READ_PREFIXES = ('Describe', 'List', 'Get')


class AlicloudError(Exception):
    """An API failure reduced to what a user needs: code, message, request id and HTTP status."""

    def __init__(self, code, message, request_id=None, http_status=None, action=None, retryable=False,
                 outcome_unknown=False, retry_after=None):
        super().__init__('%s: %s' % (code, message))
        self.code = code
        self.message = message
        self.request_id = request_id
        self.http_status = http_status
        self.action = action
        self.retryable = retryable
        # True when the service may have acted although the client saw a failure: the reply was
        # lost after the request was sent (reset, read timeout) or the service answered 5xx.
        self.outcome_unknown = outcome_unknown
        # Seconds the service asked us to wait (x-acs-retry-after), or None.
        self.retry_after = retry_after

    def noted(self, note):
        """The same error with ``note`` added to its message."""
        return AlicloudError(self.code, self.message + note, request_id=self.request_id,
                             http_status=self.http_status, action=self.action, retryable=self.retryable,
                             outcome_unknown=self.outcome_unknown, retry_after=self.retry_after)

    def as_dict(self):
        return dict(code=self.code, message=self.message, request_id=self.request_id,
                    http_status=self.http_status, action=self.action)


def _first(*values):
    for value in values:
        if value not in (None, ''):
            return value
    return None


def fold_exception(exc, action=None):
    """Turn an SDK/transport exception into an :class:`AlicloudError`.

    The Tea SDKs raise ClientException (4xx), ServerException (5xx), ThrottlingException
    (any status with ``x-acs-retry-after``), all TeaException subclasses, and
    UnretryableException for network errors and non-JSON bodies.
    """
    if isinstance(exc, AlicloudError):
        return exc
    data = getattr(exc, 'data', None) or {}
    if not isinstance(data, dict):
        data = {}
    status = _first(getattr(exc, 'status_code', None), getattr(exc, 'statusCode', None), data.get('statusCode'))
    try:
        status = int(status) if status is not None else None
    except (TypeError, ValueError):
        status = None
    code = _first(getattr(exc, 'code', None), data.get('Code'))
    message = _first(data.get('Message'), getattr(exc, 'message', None), str(exc))
    request_id = _first(getattr(exc, 'request_id', None), data.get('RequestId'))
    kind = type(exc).__name__
    network = kind in ('UnretryableException', 'ConnectionError', 'Timeout', 'ReadTimeout', 'ConnectTimeout') \
        or isinstance(exc, (OSError, ConnectionError))
    if code is None:
        code = 'NetworkError' if network else kind
    retryable = is_retryable(code, status, network)
    sent = not (network and any(marker in str(exc) + repr(getattr(exc, 'inner_exception', ''))
                                for marker in NOT_SENT_MARKERS))
    outcome_unknown = (network and sent) or (status is not None and status >= 500)
    return AlicloudError(str(code), str(message), request_id=request_id, http_status=status,
                         action=action, retryable=retryable, outcome_unknown=outcome_unknown,
                         retry_after=retry_after_seconds(exc))


def retry_after_seconds(exc):
    """The wait the service asked for, in seconds, or None.

    tea-openapi raises ThrottlingException with ``retry_after`` from the ``x-acs-retry-after``
    header (utils.py get_throttling_time_left: positive integers only); darabonba's own retry
    policy (policy/retry.py, MAX_DELAY_TIME = 120 * 1000, sleep(millisecond / 1000)) reads it as
    milliseconds, and so do we.
    """
    value = getattr(exc, 'retry_after', None)
    try:
        value = int(value)
    except (TypeError, ValueError):
        return None
    return value / 1000.0 if value > 0 else None


def is_retryable(code, http_status=None, network_error=False):
    """The retry policy: throttling, busy and 5xx answers and connection failures; never other 4xx."""
    if network_error:
        return True
    if http_status is not None and http_status >= 500:
        return True
    if code and (str(code) in RETRYABLE_CODES or any(p.search(str(code)) for p in RETRYABLE_CODE_PATTERNS)):
        return True
    return False


def backoff_delays(attempts, base=0.5, cap=10.0, rng=None):
    """Full-jitter exponential backoff: the sleep before retry n is uniform in [0, min(cap, base*2**n)]."""
    rng = rng or random
    for attempt in range(attempts):
        yield rng.uniform(0, min(cap, base * (2 ** attempt)))


def call_with_retry(func, action=None, attempts=8, max_time=120.0, sleep=time.sleep, clock=time.monotonic,
                    on_retry=None, rng=None, retry_codes=(), adopt=None, repeatable=True):
    """Call ``func()``; retry retryable failures with jittered backoff, bounded by attempts and total time.

    ``retry_codes`` adds codes retried for this call only (a resource's own busy codes).  A wait the
    service asked for (``x-acs-retry-after``) replaces the jittered delay when it is longer.

    ``adopt`` makes a create safe to retry: after a failure whose outcome is unknown (the reply was
    lost, or a 5xx) and after any refusal (such as "already exists": an earlier attempt, or another
    run, created it), ``adopt()`` is asked for what the call would have created; a non-None answer is
    returned as the call's result.  ``repeatable=False`` (a create with neither adopt nor a
    ClientToken) never repeats a call whose outcome is unknown: it fails and says so.

    Raises :class:`AlicloudError` for the last failure (or the first non-retryable one).
    """
    started = clock()
    delays = backoff_delays(max(attempts - 1, 0), rng=rng)
    while True:
        try:
            return func()
        except Exception as exc:  # noqa: BLE001  pylint: disable=broad-except
            error = fold_exception(exc, action=action)
        if adopt is not None and (error.outcome_unknown or not error.retryable):
            adopted = adopt()
            if adopted is not None:
                return adopted
        if not (error.retryable or error.code in retry_codes):
            raise error
        if error.outcome_unknown and adopt is None and not repeatable:
            raise error.noted(' (the reply was lost after the request was sent, so whether %s took effect is '
                              'unknown; it is not repeated blindly: run the task again, it reads first)'
                              % (action or 'the call'))
        delay = next(delays, None)
        if delay is not None and error.retry_after:
            delay = max(delay, error.retry_after)
        if delay is None or clock() - started + delay > max_time:
            raise error
        if on_retry is not None:
            on_retry(error, delay)
        sleep(delay)


def snake_case(name):
    return re.sub(r'(?<=[a-z0-9])([A-Z])', r'_\1', name).lower()


def scrub(text, secrets):
    """Replace every secret value in text by a mask (belt and braces on top of no_log)."""
    if not isinstance(text, str):
        return text
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, '********')
    return text


def resolve_credentials(params, environ=None):
    """Decide where credentials come from, by the documented precedence.

    Returns ``(kind, details)``: ``kind`` is ``static`` (keys from options or the environment,
    which the argument spec already merged), ``profile`` (a named profile or credentials file),
    or ``default`` (the official default chain: env, OIDC, CLI profile, ini file, ECS RAM role,
    credentials URI).  ``assume_role`` wraps whichever it is.
    """
    if params.get('access_key_id') and params.get('access_key_secret'):
        kind = 'sts' if params.get('security_token') else 'static'
    elif params.get('access_key_id') or params.get('access_key_secret'):
        raise ValueError('access_key_id and access_key_secret must be given together')
    elif params.get('profile') or params.get('shared_credentials_file'):
        kind = 'profile'
    else:
        kind = 'default'
    return kind, bool(params.get('assume_role'))


def build_credential_provider(params):
    from alibabacloud_credentials.provider import (
        CLIProfileCredentialsProvider,
        DefaultCredentialsProvider,
        ProfileCredentialsProvider,
        RamRoleArnCredentialsProvider,
        StaticAKCredentialsProvider,
        StaticSTSCredentialsProvider,
    )

    kind, assume = resolve_credentials(params)
    if kind == 'static':
        provider = StaticAKCredentialsProvider(access_key_id=params['access_key_id'],
                                               access_key_secret=params['access_key_secret'])
    elif kind == 'sts':
        provider = StaticSTSCredentialsProvider(access_key_id=params['access_key_id'],
                                                access_key_secret=params['access_key_secret'],
                                                security_token=params['security_token'])
    elif kind == 'profile':
        if params.get('shared_credentials_file'):
            provider = ProfileCredentialsProvider(profile_file=params['shared_credentials_file'],
                                                  profile_name=params.get('profile') or 'default')
        else:
            provider = CLIProfileCredentialsProvider(profile_name=params['profile'])
    else:
        provider = DefaultCredentialsProvider()
    if assume:
        role = params['assume_role']
        provider = RamRoleArnCredentialsProvider(
            credentials_provider=provider,
            role_arn=role['role_arn'],
            role_session_name=role.get('session_name'),
            duration_seconds=role.get('session_expiration'),
            policy=role.get('policy'),
            external_id=role.get('external_id'),
        )
    return kind, provider


def compare_dicts(desired, current, path=''):
    """Differences for the keys the user set (``None`` in desired means "not set").

    Returns a list of ``(path, current_value, desired_value)``; lists compare whole, dicts recurse.
    """
    diffs = []
    for key in sorted(desired):
        want = desired[key]
        if want is None:
            continue
        have = (current or {}).get(key)
        where = '%s.%s' % (path, key) if path else key
        if isinstance(want, dict) and isinstance(have, dict):
            diffs.extend(compare_dicts(want, have, where))
        elif want != have:
            diffs.append((where, have, want))
    return diffs


class WaitTimeout(Exception):
    pass


def wait_for(fetch, done, timeout, what, delay=2.0, sleep=time.sleep, clock=time.monotonic, describe=None):
    """Poll ``fetch()`` until ``done(value)``; on timeout, name the resource and its last state."""
    deadline = clock() + timeout
    value = fetch()
    while not done(value):
        if clock() + delay > deadline:
            last = describe(value) if describe else value
            raise WaitTimeout('timed out after %ss waiting for %s (last state: %s)' % (timeout, what, last))
        sleep(delay)
        value = fetch()
    return value


class AlibabaCloudModule:
    """An AnsibleModule with Alibaba Cloud credentials, clients, retries and error folding."""

    def __init__(self, argument_spec=None, read_only=False, **kwargs):
        # read_only: call() refuses every operation that is not a Describe/List/Get before it is sent.
        self.read_only = read_only
        spec = dict(ALICLOUD_COMMON_ARGS)
        spec.update(argument_spec or {})
        self._module = AnsibleModule(argument_spec=spec, **kwargs)
        self.params = self._module.params
        self.check_mode = self._module.check_mode
        self._clients = {}
        self._secrets = [self.params.get('access_key_secret'), self.params.get('security_token')]
        self.api_calls = []
        self.adopted = []
        # What this run already changed (writes that succeeded, or whose outcome is unknown): a failure
        # after any of them reports changed=true and lists them, so a user is never told nothing changed.
        self.writes = []
        # The last answer as the service sent it, before the SDK model dropped what it does not know.
        self.last_answer = None
        if not HAS_TEA:
            self._module.fail_json(msg=missing_required_lib('alibabacloud-tea-openapi'), exception=TEA_IMPORT_ERROR)

    # AnsibleModule pass-throughs
    def __getattr__(self, name):
        return getattr(self._module, name)

    def fail_json(self, **kwargs):
        kwargs['msg'] = scrub(kwargs.get('msg', ''), self._secrets)
        writes = self.__dict__.get('writes')
        if writes:
            kwargs['changed'] = True
            kwargs.setdefault('writes', list(writes))
        self._module.fail_json(**kwargs)

    def wrote(self, what):
        """Record a write made outside :meth:`call` (a Kubernetes object), for :meth:`fail_json`."""
        self.__dict__.setdefault('writes', []).append(what)

    def fail_api(self, error, msg=None):
        error = fold_exception(error)
        text = '%s%s: %s' % ((msg + ': ') if msg else '', error.code, error.message)
        if error.request_id:
            text += ' (request id %s)' % error.request_id
        self.fail_json(msg=text, error=error.as_dict())

    # -- clients ---------------------------------------------------------------
    def endpoint(self, product):
        override = self.params.get('%s_endpoint' % product)
        return override or PRODUCTS[product][1]

    def client(self, product):
        if product in self._clients:
            return self._clients[product]
        if not HAS_CREDENTIALS:
            self.fail_json(msg=missing_required_lib('alibabacloud-credentials'))
        package, _default = PRODUCTS[product]
        try:
            module = __import__(package + '.client', fromlist=['Client'])
            from alibabacloud_credentials.client import Client as CredentialClient
            from alibabacloud_tea_openapi import models as open_api_models
        except ImportError:
            self.fail_json(msg=missing_required_lib(package.replace('_', '-')),
                           exception=traceback.format_exc())
        try:
            kind, provider = build_credential_provider(self.params)
        except ValueError as exc:
            self.fail_json(msg=str(exc))
        config = open_api_models.Config(
            credential=CredentialClient(provider=provider),
            region_id=self.params.get('region_id') or 'cn-hangzhou',
            protocol=self.params.get('protocol') or 'https',
            connect_timeout=5000,
            read_timeout=20000,
        )
        endpoint = self.endpoint(product)
        if endpoint:
            config.endpoint = endpoint
        client = module.Client(config)
        send = client.call_api  # every generated X_with_options goes through it (both SDK generations)

        def recording_call_api(*args, **kwargs):
            answer = send(*args, **kwargs)
            self.last_answer = answer.get('body') if isinstance(answer, dict) else None
            return answer

        client.call_api = recording_call_api
        self._clients[product] = client
        return client

    def request_model(self, product, action, params):
        package = PRODUCTS[product][0]
        models = __import__(package + '.models', fromlist=['models'])
        request_class = getattr(models, action + 'Request')
        return request_class().from_map(dict((k, v) for k, v in params.items() if v is not None))

    def call(self, product, action, retry=True, adopt=None, retry_codes=(), **params):
        """Call ``action`` of ``product`` with wire-named ``params``; return the body as a wire-named dict.

        A create must say how it stays safe when its reply is lost: a ClientToken (GTM 3.0 writes take
        one, see :func:`client_token`; the service answers a repeat with the first result) or
        ``adopt``, a function that re-reads what the call creates and returns it as a body (or None
        when it does not exist), see :func:`call_with_retry`.  Adopted answers are listed in
        ``self.adopted`` so the module can say so.
        """
        if self.read_only and not action.startswith(READ_PREFIXES):
            raise AlicloudError('ReadOnly', '%s is not a read operation; this module only reads' % action,
                                action=action)
        client = self.client(product)
        request = self.request_model(product, action, params)
        method = getattr(client, snake_case(action) + '_with_options')
        self.api_calls.append(action)

        from alibabacloud_tea_util import models as util_models

        def invoke():
            response = method(request, util_models.RuntimeOptions())
            return response.body.to_map() if response.body is not None else {}

        def adopt_existing():
            found = adopt()
            if found is not None:
                self.adopted.append(action)
            return found

        repeatable = not action.startswith(CREATING_PREFIXES) or bool(params.get('ClientToken'))
        attempts = self.params.get('api_retries') if retry else 1
        try:
            answer = call_with_retry(invoke, action=action, attempts=max(1, attempts),
                                     max_time=self.params.get('api_retry_max_time') or 120.0,
                                     retry_codes=retry_codes, adopt=adopt_existing if adopt else None,
                                     repeatable=repeatable)
        except AlicloudError as error:
            if error.outcome_unknown and not action.startswith(READ_PREFIXES):
                self.wrote('%s (outcome unknown)' % action)
            raise
        if not action.startswith(READ_PREFIXES):
            self.wrote(action)
        return answer

    def exit_json(self, **kwargs):
        self._module.exit_json(**kwargs)


def client_token():
    """A ClientToken (<= 64 chars) for idempotent create calls."""
    return uuid.uuid4().hex

# -*- coding: utf-8 -*-
# Copyright: meshdr.alicloud contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    # Credentials, region, endpoints and retries shared by every meshdr.alicloud module.  Paired with
    # module_utils/alicloud.py ALICLOUD_COMMON_ARGS (unit-tested to agree).
    DOCUMENTATION = r'''
options:
  access_key_id:
    description:
      - Alibaba Cloud AccessKey ID.
      - If not set, the environment variable E(ALIBABA_CLOUD_ACCESS_KEY_ID) is used, then the legacy
        E(ALICLOUD_ACCESS_KEY).
      - "Precedence of credential sources: module options, then environment variables, then a profile or
        credentials file (O(profile), O(shared_credentials_file)), then the default chain of the official
        C(alibabacloud-credentials) library (OIDC, CLI profile, ECS instance RAM role, credentials URI)."
    type: str
    aliases: [alicloud_access_key, access_key]
  access_key_secret:
    description:
      - Alibaba Cloud AccessKey secret. Never logged or returned.
      - If not set, E(ALIBABA_CLOUD_ACCESS_KEY_SECRET), then E(ALICLOUD_SECRET_KEY).
    type: str
    aliases: [alicloud_secret_key, secret_key]
  security_token:
    description:
      - STS security token, for temporary credentials. Never logged or returned.
      - If not set, E(ALIBABA_CLOUD_SECURITY_TOKEN), then E(ALICLOUD_SECURITY_TOKEN).
    type: str
    aliases: [alicloud_security_token]
  region_id:
    description:
      - Region the request is about, for example V(cn-hangzhou).
      - If not set, E(ALIBABA_CLOUD_REGION_ID), then E(ALICLOUD_REGION).
    type: str
    aliases: [region, alicloud_region]
  profile:
    description:
      - Named profile of the Alibaba Cloud CLI configuration (C(~/.aliyun/config.json)), or of
        O(shared_credentials_file) when that is set.
      - If not set, E(ALIBABA_CLOUD_PROFILE), then E(ALICLOUD_PROFILE).
      - Used only when no access key pair is given by options or environment.
    type: str
    aliases: [alicloud_profile]
  shared_credentials_file:
    description:
      - Path of an INI credentials file (as read by C(alibabacloud-credentials)).
      - If not set, E(ALIBABA_CLOUD_CREDENTIALS_FILE), then E(ALICLOUD_SHARED_CREDENTIALS_FILE).
    type: path
  assume_role:
    description:
      - Assume a RAM role with the credentials found above, and act with the role's temporary credentials.
    type: dict
    aliases: [alicloud_assume_role]
    suboptions:
      role_arn:
        description: ARN of the RAM role, for example V(acs:ram::123456789012:role/meshdr-operator).
        type: str
        required: true
      session_name:
        description: Role session name, shown in ActionTrail.
        type: str
        default: meshdr-alicloud
      session_expiration:
        description: Lifetime of the temporary credentials, in seconds.
        type: int
        default: 3600
      policy:
        description: An optional policy document (JSON) that further restricts the role's permissions.
        type: str
      external_id:
        description: External ID required by the role's trust policy, if any.
        type: str
  servicemesh_endpoint:
    description:
      - Endpoint (host or host:port) of the Service Mesh API, instead of C(servicemesh.aliyuncs.com).
      - If not set, E(MESHDR_SERVICEMESH_ENDPOINT), then E(ALIBABA_CLOUD_SERVICEMESH_ENDPOINT).
      - The local lab (C(drlab env)) sets this to its own address.
    type: str
  alidns_endpoint:
    description:
      - Endpoint (host or host:port) of the Alibaba Cloud DNS API (GTM and records), instead of the
        regional C(alidns) endpoint.
      - If not set, E(MESHDR_ALIDNS_ENDPOINT), then E(ALIBABA_CLOUD_ALIDNS_ENDPOINT).
    type: str
  protocol:
    description:
      - Protocol used to reach the endpoints. V(http) only makes sense for the local lab.
      - If not set, E(MESHDR_ALICLOUD_PROTOCOL).
    type: str
    choices: [https, http]
    default: https
  api_retries:
    description:
      - Attempts per API call when the service answers with a code containing C(Throttling)
        (C(Throttling.User), C(Rejected.Throttling)...), a code ending in C(SystemBusyness),
        C(ServiceUnavailable), C(InternalError), C(LastOperationNotFinished), C(RecordForbidden.DNSChange),
        any HTTP 5xx, or the connection fails. These are the codes terraform-provider-alicloud retries.
        Other errors fail at once, except the busy codes of a resource the module is waiting on
        (each module's notes name them).
      - Retries wait with full-jitter exponential backoff (0.5 s doubling, at most 10 s per wait), or
        longer when the service asks for it (C(x-acs-retry-after)).
      - A create whose reply was lost (connection reset or read timeout after the request was sent, or
        an HTTP 5xx) is never repeated blindly; the module first looks up what it was creating and
        adopts it when it exists, or repeats the call with the same C(ClientToken) the service
        de-duplicates by.
    type: int
    default: 8
  api_retry_max_time:
    description: Upper bound, in seconds, of the time spent retrying one API call.
    type: float
    default: 120
requirements:
  - python >= 3.8
  - alibabacloud-tea-openapi >= 0.4.6
  - alibabacloud-credentials >= 1.0.12
'''

    # mesh_id, mesh_name, kubeconfig: how a custom-resource module (asm_gateway, asm_ratelimit) reaches the
    # mesh's Kubernetes API.  Paired with module_utils/asm/common.py mesh_access_args() (unit-tested to agree).
    MESH_ACCESS = r'''
options:
  mesh_id:
    description: Id of the mesh. One of O(mesh_id), O(mesh_name) or O(kubeconfig) is required.
    type: str
  mesh_name:
    description: Name of the mesh (with O(region_id) when names repeat across regions).
    type: str
  kubeconfig:
    description: Path of the mesh kubeconfig, instead of fetching it with C(DescribeServiceMeshKubeconfig).
    type: path
'''

    # Paired with module_utils/alicloud.py WAIT_ARGS (unit-tested to agree).
    WAIT = r'''
options:
  wait:
    description:
      - Wait until the resource reaches the requested state before returning.
    type: bool
    default: true
  wait_timeout:
    description:
      - How long to wait, in seconds. A timeout fails the task and names the resource and its last state.
    type: int
    default: 600
'''

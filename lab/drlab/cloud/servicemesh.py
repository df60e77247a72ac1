"""ASM control-plane API (servicemesh 2020-01-11): meshes, member clusters, features, gateways.

Behaviour copied from the cloud (shared/reference/alibaba-openapi.md §4):

* a new mesh is ``initial`` for ``timing.mesh_create_delay`` seconds, then ``running``;
  mutations meanwhile get ``StillInitializing`` (Terraform retries that code);
* every change (AddClusterIntoServiceMesh, RemoveClusterFromServiceMesh, UpdateMeshFeature,
  UpdateMeshCRAggregation) leaves the mesh ``updating`` for ``timing.mesh_update_delay`` seconds:
  terraform waits for ``ServiceMeshInfo.State == running`` after each of them
  (resource_alicloud_service_mesh_service_mesh.go, Update: a BuildStateConf(..., "running") after
  every call), so the real mesh is busy meanwhile.  The name ``updating`` is inferred: the only
  documented states are ``running`` and ``initial`` (website/docs/d/service_mesh_service_meshes),
  and the modules treat every state but ``running`` as busy, so the name is not load-bearing;
* certificate fields of CreateServiceMesh are Base64 (SDK CreateServiceMeshRequest field docs:
  "encoded in Base64"), raw PEM is refused;
* ``DeleteServiceMesh`` puts it in ``deleting``; ``timing.mesh_delete_delay`` later it is
  gone and ``DescribeServiceMeshDetail`` answers ``ServiceMesh.NotFound``;
* states derive from persisted timestamps, so a restart mid-transition resumes correctly.

Each mesh owns a Kubernetes API (``kube.ensure_server(mesh_id, "mesh")``), the one
``DescribeServiceMeshKubeconfig`` hands out; Create/UpdateASMGateway write the
``IstioGateway`` CR into it, where the mesh controllers pick it up.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Callable

from . import ids
from .ca import make_root_ca
from .errors import ApiError, invalid
from .params import Params

ISTIO_VERSION = "v1.22.6.71-g7d67a80b-aliyun"
GATEWAY_API = "istio.alibabacloud.com/v1beta1"


def not_found(mesh_id: str) -> ApiError:
    return ApiError(404, "ServiceMesh.NotFound", f"ServiceMesh {mesh_id} is not found.")


def still_initializing(mesh_id: str, state: str = "initial") -> ApiError:
    # StillInitializing is the busy code terraform retries on DeleteServiceMesh
    # (resource_alicloud_service_mesh_service_mesh.go, Delete).  For a mesh busy with an earlier
    # change (``updating``) no source names the refusal; reusing the one busy code is inferred.
    what = "still initializing" if state == "initial" else "being updated by an earlier operation"
    return ApiError(400, "StillInitializing", f"ServiceMesh {mesh_id} is {what}, please try later.")


def related_resource_reused(mesh_id: str, clusters: list[str]) -> ApiError:
    # Terraform retries RelatedResourceReused on DeleteServiceMesh (same file, Delete); the
    # message is ours.
    return ApiError(400, "RelatedResourceReused",
                    f"ServiceMesh {mesh_id} is still used by clusters {clusters}; remove them (and wait for the "
                    f"mesh to be running) or use Force.")


def decode_base64_field(p: Params, name: str, marker: str) -> str:
    """A Base64 certificate/key parameter decoded to its PEM text; raw PEM or junk is refused.

    SDK CreateServiceMeshRequest: ExistingRootCaCert / ExistingRootCaKey / ExistingCaCert /
    ExistingCaKey are "encoded in Base64".  The exact error the service gives for raw PEM is not
    published; ``InvalidParameter`` (400) is the generic code of the Alibaba OpenAPI gateway, so inferred.
    """
    raw = p.req(name)
    if "-----BEGIN" in raw:
        raise ApiError(400, "InvalidParameter", f'The specified parameter "{name}" is not valid: it must be the '
                                                f'Base64 encoding of the PEM text, not the PEM text itself.')
    try:
        text = base64.b64decode("".join(raw.split()), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "InvalidParameter", f'The specified parameter "{name}" is not valid Base64.') from None
    if marker not in text:
        raise ApiError(400, "InvalidParameter", f'The specified parameter "{name}" does not decode to a PEM '
                                                f'{marker.lower()}.')
    return text


class ServiceMeshApi:
    def __init__(self, cloud):
        self.cloud = cloud
        self.meshes: dict[str, dict[str, Any]] = cloud.data["meshes"]
        timing = cloud.topology.get("timing", {})
        self.create_delay = float(timing.get("mesh_create_delay", 2.0))
        self.delete_delay = float(timing.get("mesh_delete_delay", 1.0))
        self.update_delay = float(timing.get("mesh_update_delay", 2.0))
        self.clusters = {c["id"]: c for r in cloud.topology["regions"] for c in r["clusters"]}

    def actions(self) -> dict[str, Callable[[Params], dict]]:
        return {
            "CreateServiceMesh": self.create,
            "DescribeServiceMeshes": self.describe_all,
            "DescribeServiceMeshDetail": self.describe_detail,
            "DeleteServiceMesh": self.delete,
            "ModifyServiceMeshName": self.rename,
            "AddClusterIntoServiceMesh": self.add_cluster,
            "RemoveClusterFromServiceMesh": self.remove_cluster,
            "DescribeClustersInServiceMesh": self.describe_clusters,
            "DescribeServiceMeshKubeconfig": self.kubeconfig,
            "UpdateMeshFeature": self.update_feature,
            "UpdateMeshCRAggregation": self.update_cr_aggregation,
            "GetCaCert": self.ca_cert,
            "CreateASMGateway": self.create_gateway,
            "UpdateASMGateway": self.update_gateway,
        }

    # -- state machine -----------------------------------------------------------------
    def state_of(self, mesh: dict[str, Any], now: float | None = None) -> str:
        now = time.time() if now is None else now
        if mesh.get("deleting_at"):
            return "deleting"
        if now - mesh["created"] < self.create_delay:
            return "initial"
        if now < mesh.get("busy_until", 0):
            return "updating"
        return "running"

    def _busy(self, mesh: dict[str, Any]) -> None:
        """Start the mesh's ``updating`` period after an accepted change."""
        now = time.time()
        mesh["updated"] = now
        mesh["busy_until"] = now + self.update_delay

    def tick(self) -> bool:
        """Finish due deletions and announce meshes that became running; True if state changed."""
        now = time.time()
        dirty = False
        for mesh_id, mesh in list(self.meshes.items()):
            if mesh.get("deleting_at") and now - mesh["deleting_at"] >= self.delete_delay:
                del self.meshes[mesh_id]
                kube = self.cloud.kube()
                if kube is not None:
                    kube.remove_server(mesh_id)
                self.cloud.lab.record_event("mesh_deleted", mesh_id=mesh_id)
                self.cloud.changed("mesh", mesh_id)
                dirty = True
            elif not mesh.get("announced") and self.state_of(mesh, now) == "running":
                mesh["announced"] = True
                self.cloud.lab.record_event("mesh_running", mesh_id=mesh_id, name=mesh["name"])
                self.cloud.changed("mesh", mesh_id)
                dirty = True
        return dirty

    def restore(self) -> None:
        """After a restart, make sure every persisted mesh still has its Kubernetes API."""
        kube = self.cloud.kube()
        if kube is not None:
            for mesh_id, mesh in self.meshes.items():
                if not mesh.get("deleting_at"):
                    kube.ensure_server(mesh_id, "mesh")

    def find(self, mesh_id: str) -> dict[str, Any] | None:
        mesh = self.meshes.get(mesh_id)
        if mesh and mesh.get("deleting_at") and time.time() - mesh["deleting_at"] >= self.delete_delay:
            return None  # the ticker has not swept it yet, but the cloud would say it is gone
        return mesh

    def list_live(self) -> list[dict[str, Any]]:
        return [m for m in (self.find(i) for i in list(self.meshes)) if m is not None]

    def _get(self, p: Params, param: str = "ServiceMeshId") -> dict[str, Any]:
        mesh_id = p.req(param)
        mesh = self.find(mesh_id)
        if mesh is None:
            raise not_found(mesh_id)
        return mesh

    def _get_running(self, p: Params) -> dict[str, Any]:
        mesh = self._get(p)
        state = self.state_of(mesh)
        if state in ("initial", "updating"):
            raise still_initializing(mesh["id"], state)
        if state == "deleting":
            raise ApiError(400, "StatusForbidden", f"ServiceMesh {mesh['id']} is being deleted.")
        return mesh

    def public(self, mesh: dict[str, Any]) -> dict[str, Any]:
        """The view other lab components use (mesh controllers)."""
        return {
            "id": mesh["id"], "name": mesh["name"], "region_id": mesh["region_id"], "state": self.state_of(mesh),
            "clusters": list(mesh["clusters"]), "discovery_only": dict(mesh.get("discovery_only", {})),
            "features": dict(mesh["features"]), "ca_cert_pem": mesh["ca"]["cert"],
        }

    # -- meshes --------------------------------------------------------------------------
    def create(self, p: Params) -> dict:
        region_id = p.req("RegionId")
        regions = {r["id"]: r for r in self.cloud.topology["regions"]}
        if region_id not in regions:
            raise invalid("RegionId", region_id, sorted(regions))
        vpc_id = p.req("VpcId")
        if vpc_id != regions[region_id]["vpc_id"]:
            raise ApiError(400, "InvalidVpcId.NotFound", f"The specified VPC {vpc_id} does not exist in {region_id}.")
        vswitches = p.json("VSwitches", required=True, kind=list)
        unknown = [v for v in vswitches if v not in regions[region_id]["vswitches"]]
        if not vswitches or unknown:
            raise ApiError(400, "InvalidVSwitchId.NotFound", f"The specified vSwitch {unknown or vswitches} does not "
                                                             f"exist in {vpc_id}.")
        name = p.str("Name") or "mesh-" + ids.numeric("", 6)
        # NameAlreadyExist: terraform retries it on CreateServiceMesh (resource_alicloud_service_mesh_
        # service_mesh.go, Create), which only makes sense if the name is unique per region and stays
        # taken while its mesh is still being deleted.  So: taken by any mesh of that name in the region,
        # deleting ones included, until they are gone.  The message is ours.
        if any(m["name"] == name and m["region_id"] == region_id for m in self.list_live()):
            raise ApiError(400, "NameAlreadyExist", f"ServiceMesh name {name} already exists.")
        ca = self._ca_from(p)
        now = time.time()
        mesh_id = ids.mesh_id()
        features = {k: v for k, v in p.values.items()
                    if k not in ("RegionId", "VpcId", "VSwitches", "Name", "UseExistingCA", "ExistingCaType",
                                 "ExistingCaCert", "ExistingCaKey", "ExistingRootCaCert", "ExistingRootCaKey",
                                 "CertChain", "GuestCluster", "ClientToken")
                    and not k.startswith("Tag.")}
        mesh = {
            "id": mesh_id, "name": name, "region_id": region_id, "vpc_id": vpc_id, "vswitches": vswitches,
            "created": now, "updated": now, "clusters": [], "discovery_only": {}, "features": features,
            "tags": p.flat_list("Tag"), "ca": ca,
            "cluster_spec": p.str("ClusterSpec", "standard", choices=["standard", "enterprise", "ultimate"]),
            "version": p.str("IstioVersion") or ISTIO_VERSION,
        }
        self.meshes[mesh_id] = mesh
        kube = self.cloud.kube()
        if kube is not None:
            kube.ensure_server(mesh_id, "mesh")
        guest = p.str("GuestCluster")
        if guest:
            self._attach(mesh, guest, discovery_only=False)
        self.cloud.lab.record_event("mesh_created", mesh_id=mesh_id, name=name, region_id=region_id)
        self.cloud.changed("mesh", mesh_id)
        return {"ServiceMeshId": mesh_id}

    def _ca_from(self, p: Params) -> dict[str, str]:
        # Multi-master DR needs every mesh to share one root CA: ExistingCaType 2 ("plugin
        # cacerts") passes the root cert+key; type 1 passes the istiod CA cert+key itself.
        # ExistingCaType is a string in the SDK (CreateServiceMeshRequest.existing_ca_type: str).
        if not p.bool("UseExistingCA", False):
            return make_root_ca()
        ca_type = p.int("ExistingCaType", required=True, choices=[1, 2])
        cert_field, key_field = ("ExistingCaCert", "ExistingCaKey") if ca_type == 1 else (
            "ExistingRootCaCert", "ExistingRootCaKey")
        cert = decode_base64_field(p, cert_field, "CERTIFICATE")
        key = decode_base64_field(p, key_field, "PRIVATE KEY")
        ca = {"cert": cert, "key": key, "source": f"existing-type-{ca_type}"}
        if "CertChain" in p:
            # The SDK says only "the certificate chain from the CA certificate to the root certificate";
            # it does not say Base64.  Treated like its sibling fields (unverified).
            ca["chain"] = decode_base64_field(p, "CertChain", "CERTIFICATE")
        return ca

    def _info(self, mesh: dict[str, Any]) -> dict[str, Any]:
        return {"ServiceMeshId": mesh["id"], "Name": mesh["name"], "RegionId": mesh["region_id"],
                "State": self.state_of(mesh), "Version": mesh["version"], "Profile": "Default",
                "CreationTime": ids.iso_seconds(mesh["created"]), "UpdateTime": ids.iso_seconds(mesh["updated"]),
                "ErrorMessage": ""}

    def _endpoints(self, mesh: dict[str, Any]) -> dict[str, str]:
        kube = self.cloud.kube()
        server = kube.server(mesh["id"]) if kube is not None else None
        ports = self.cloud.topology["ports"]
        url = server.url if server is not None else f"https://{self.cloud.lab.host}:{ports['kube']}/meshes/{mesh['id']}"
        return {"PublicApiServerEndpoint": url, "IntranetApiServerEndpoint": url,
                "PublicPilotEndpoint": "", "IntranetPilotEndpoint": ""}

    def _mesh_config(self, mesh: dict[str, Any]) -> dict[str, Any]:
        """DescribeServiceMeshDetail ``Spec.MeshConfig``, in the SDK response model's shape."""
        f = mesh["features"]

        def flag(name: str) -> bool:
            return str(f.get(name, "false")).lower() == "true"

        conf: dict[str, Any] = {}
        if f.get("LocalityLBConf"):
            try:
                conf = json.loads(f["LocalityLBConf"])
            except ValueError:
                conf = {}
            if not isinstance(conf, dict):
                conf = {}
        # SDK ...SpecMeshConfigLocalityLB types Distribute and Failover as objects (Dict[str, Any]),
        # "Either Failover or Distribute can be set".  What the object holds is not documented; the
        # lab answers the Istio rule list wrapped under its Istio key ({"failover": [...]}), an
        # assumption the cloud_probe playbook reports against a real account (docs/api-contract.md).
        locality: dict[str, Any] = {"Enabled": flag("LocalityLoadBalancing")}
        if conf.get("failover"):
            locality["Failover"] = {"failover": conf["failover"]}
        if conf.get("distribute"):
            locality["Distribute"] = {"distribute": conf["distribute"]}
        try:
            selectors = json.loads(f.get("DiscoverySelectors") or "[]")
        except ValueError:
            selectors = []
        cr_aggregation = flag("CRAggregationEnabled")
        return {
            "Telemetry": flag("Telemetry"), "Tracing": flag("Tracing"),
            "EnableLocalityLB": flag("LocalityLoadBalancing"),
            "LocalityLB": locality,
            "OutboundTrafficPolicy": f.get("OutboundTrafficPolicy", "ALLOW_ANY"),
            "AccessLog": {"Enabled": flag("AccessLogEnabled"), "Project": f.get("AccessLogProject", "")},
            # Terraform reads ExtraConfiguration.CRAggregationConfiguration.Enabled (resource_alicloud_
            # service_mesh_service_mesh.go, Read); the SDK model also has the older flat
            # CRAggregationEnabled flag, answered too.  DiscoverySelectors is a list of objects in the SDK.
            "ExtraConfiguration": {"CRAggregationConfiguration": {"Enabled": cr_aggregation},
                                   "CRAggregationEnabled": cr_aggregation,
                                   "DiscoverySelectors": selectors if isinstance(selectors, list) else []},
            "Edition": {"Name": mesh["cluster_spec"]},
        }

    def _detail(self, mesh: dict[str, Any], tags: bool = False) -> dict[str, Any]:
        out = {
            "ServiceMeshInfo": self._info(mesh), "ClusterSpec": mesh["cluster_spec"],
            "Clusters": list(mesh["clusters"]), "Endpoints": self._endpoints(mesh),
            "OwnerId": self.cloud.topology["account_id"], "OwnerType": "",
            "Spec": {"Network": {"VpcId": mesh["vpc_id"], "VSwitches": mesh["vswitches"], "SecurityGroupId": ""},
                     "LoadBalancer": {}, "MeshConfig": self._mesh_config(mesh)},
        }
        if tags:
            out["Tag"] = mesh["tags"]
        return out

    def describe_all(self, p: Params) -> dict:
        wanted = p.flat_list("Tag")
        meshes = [m for m in self.list_live()
                  if all(t in m["tags"] for t in wanted)]
        return {"ServiceMeshes": [self._list_entry(m) for m in sorted(meshes, key=lambda m: m["created"])]}

    def _list_entry(self, mesh: dict[str, Any]) -> dict[str, Any]:
        # DescribeServiceMeshesResponseBodyServiceMeshesSpecMeshConfig is slimmer than the detail's:
        # no LocalityLB, AccessLog, EnableLocalityLB, Edition or CR aggregation.
        detail = self._detail(mesh, tags=True)
        config = detail["Spec"]["MeshConfig"]
        detail["Spec"]["MeshConfig"] = {k: config[k] for k in ("Telemetry", "Tracing", "OutboundTrafficPolicy")}
        return detail

    def describe_detail(self, p: Params) -> dict:
        return {"ServiceMesh": self._detail(self._get(p))}

    def delete(self, p: Params) -> dict:
        mesh = self._get(p)
        state = self.state_of(mesh)
        if state == "deleting":
            return {}
        force = bool(p.bool("Force", False))
        # Clusters still attached, or detaching (the mesh is busy after RemoveClusterFromServiceMesh):
        # RelatedResourceReused, which terraform retries; a mesh busy otherwise: StillInitializing,
        # which it retries too (resource_alicloud_service_mesh_service_mesh.go, Delete).
        if not force and (mesh["clusters"] or (state == "updating" and mesh.get("last_change") == "remove")):
            raise related_resource_reused(mesh["id"], mesh["clusters"])
        if state in ("initial", "updating"):
            raise still_initializing(mesh["id"], state)
        mesh["deleting_at"] = time.time()
        self.cloud.lab.record_event("mesh_deleting", mesh_id=mesh["id"])
        self.cloud.changed("mesh", mesh["id"])
        return {}

    def rename(self, p: Params) -> dict:
        mesh = self._get_running(p)
        mesh["name"] = p.req("Name")
        mesh["updated"] = time.time()
        self.cloud.changed("mesh", mesh["id"])
        return {}

    # -- member clusters -------------------------------------------------------------------
    def _attach(self, mesh: dict[str, Any], cluster_id: str, discovery_only: bool) -> None:
        if cluster_id not in self.clusters:
            raise ApiError(404, "ERR404", f"Cluster {cluster_id} is not found.")
        if cluster_id in mesh["clusters"]:
            raise ApiError(400, "Cluster.AlreadyExists",  # inferred code
                           f"Cluster {cluster_id} is already in ServiceMesh {mesh['id']}.")
        if not discovery_only:
            # A cluster's data plane is managed by one mesh; peers may only discover it.
            for other in self.list_live():
                if cluster_id in other["clusters"] and not other["discovery_only"].get(cluster_id):
                    raise ApiError(400, "InvalidActiveState.ACK",
                                   f"Cluster {cluster_id} is already managed by ServiceMesh {other['id']}.")
        mesh["clusters"].append(cluster_id)
        mesh.setdefault("discovery_only", {})[cluster_id] = discovery_only
        self.cloud.lab.record_event("mesh_cluster_added", mesh_id=mesh["id"], cluster_id=cluster_id,
                                    discovery_only=discovery_only)

    def _changed(self, mesh: dict[str, Any], what: str) -> None:
        mesh["last_change"] = what
        self._busy(mesh)
        self.cloud.changed("mesh", mesh["id"])

    def add_cluster(self, p: Params) -> dict:
        mesh = self._get_running(p)
        self._attach(mesh, p.req("ClusterId"), bool(p.bool("DiscoveryOnly", False)))
        self._changed(mesh, "add")
        return {"Code": "200", "Message": "success"}

    def remove_cluster(self, p: Params) -> dict:
        mesh = self._get_running(p)
        cluster_id = p.req("ClusterId")
        if cluster_id not in mesh["clusters"]:
            raise ApiError(404, "ERR404", f"Cluster {cluster_id} is not in ServiceMesh {mesh['id']}.")
        mesh["clusters"].remove(cluster_id)
        mesh.get("discovery_only", {}).pop(cluster_id, None)
        self.cloud.lab.record_event("mesh_cluster_removed", mesh_id=mesh["id"], cluster_id=cluster_id)
        self._changed(mesh, "remove")
        return {}

    def describe_clusters(self, p: Params) -> dict:
        mesh = self._get(p)
        out = []
        for cluster_id in mesh["clusters"]:
            cluster = self.clusters[cluster_id]
            out.append({"ClusterId": cluster_id, "Name": cluster["name"], "RegionId": cluster["region_id"],
                        "State": "running", "ClusterType": "ManagedKubernetes", "VpcId": cluster["vpc_id"],
                        "ClusterDomain": "cluster.local", "Version": "1.31.1-aliyun.1", "ErrorMessage": "",
                        "CreationTime": ids.iso_seconds(mesh["created"]),
                        "UpdateTime": ids.iso_seconds(mesh["updated"])})
        return {"Clusters": out}

    def kubeconfig(self, p: Params) -> dict:
        mesh = self._get(p)
        kube = self.cloud.kube()
        if kube is None:
            raise ApiError(503, "ServiceUnavailable", "drlab: the kube component is not running in this lab.")
        kube.ensure_server(mesh["id"], "mesh")
        # ExpireTime: "the expiration time of the kubeconfig certificate" (DescribeServiceMeshKubeconfigResponseBody).
        expires = kube.client_certificate(mesh["id"])["expires"] if kube.kubeconfig_auth != "token" \
            else time.time() + 3 * 365 * 86400
        return {"Kubeconfig": kube.kubeconfig(mesh["id"]), "ExpireTime": ids.iso_seconds(expires)}

    # -- features ---------------------------------------------------------------------------
    def update_feature(self, p: Params) -> dict:
        mesh = self._get_running(p)
        changes = {k: v for k, v in p.values.items() if k != "ServiceMeshId"}
        for key in ("LocalityLBConf", "DiscoverySelectors"):
            if key in changes and changes[key]:
                p.json(key)  # reject malformed JSON like the cloud does
        if "OutboundTrafficPolicy" in changes:
            p.str("OutboundTrafficPolicy", choices=["ALLOW_ANY", "REGISTRY_ONLY"])
        mesh["features"].update(changes)
        self._changed(mesh, "feature")
        return {}

    def update_cr_aggregation(self, p: Params) -> dict:
        mesh = self._get_running(p)
        enabled = p.bool("Enabled")
        if enabled is None:
            raise invalid("Enabled", "")
        mesh["features"]["CRAggregationEnabled"] = "true" if enabled else "false"
        self._changed(mesh, "cr_aggregation")
        return {}

    def ca_cert(self, p: Params) -> dict:
        # GetCaCertResponseBody.ca_cert: "The Base64-encoded content of the CA certificate" (SDK); the
        # API reference's sample shows PEM text, so readers should accept both (asm_mesh does).
        mesh = self._get(p)
        return {"CaCert": base64.b64encode(mesh["ca"]["cert"].encode()).decode()}

    # -- gateways ---------------------------------------------------------------------------
    def _gateway_body(self, p: Params) -> dict[str, Any]:
        body = p.json("Body", required=True, kind=dict)
        if body.get("apiVersion") != GATEWAY_API or body.get("kind") != "IstioGateway":
            raise invalid("Body", f"{body.get('apiVersion')}/{body.get('kind')}", [f"{GATEWAY_API}/IstioGateway"])
        meta = body.setdefault("metadata", {})
        name = p.str("IstioGatewayName") or meta.get("name")
        if not name:
            raise ApiError(400, "MissingParameter", 'The input parameter "IstioGatewayName" that is mandatory '
                                                    'for processing this request is not supplied.')
        meta["name"] = name
        if meta.setdefault("namespace", "istio-system") != "istio-system":
            raise invalid("Body.metadata.namespace", meta["namespace"], ["istio-system"])
        return body

    def _mesh_kube(self, mesh: dict[str, Any]):
        kube = self.cloud.kube()
        if kube is None:
            raise ApiError(503, "ServiceUnavailable", "drlab: the kube component is not running in this lab.")
        return kube.ensure_server(mesh["id"], "mesh")

    @staticmethod
    def _kube_write(operation: Callable[[dict[str, Any]], Any], obj: dict[str, Any]) -> None:
        # The mesh API server validates the CR; its refusal is the caller's fault, as in ASM.
        from ..kube.errors import ApiError as KubeApiError

        try:
            operation(obj)
        except KubeApiError as exc:
            if exc.code >= 500:
                raise ApiError(500, "InternalError", f"mesh API server: {exc.message}") from None
            raise ApiError(400, "InvalidParameter", f"Body: {exc.message}") from None

    def create_gateway(self, p: Params) -> dict:
        mesh = self._get_running(p)
        body = self._gateway_body(p)
        server = self._mesh_kube(mesh)
        name = body["metadata"]["name"]
        if server.get(GATEWAY_API, "IstioGateway", "istio-system", name) is not None:
            raise ApiError(400, "ASMGateway.AlreadyExists",  # inferred code
                           f"IstioGateway istio-system/{name} already exists in ServiceMesh {mesh['id']}.")
        self._kube_write(server.create, body)
        self.cloud.lab.record_event("asm_gateway_created", mesh_id=mesh["id"], name=name)
        return {}

    def update_gateway(self, p: Params) -> dict:
        mesh = self._get_running(p)
        body = self._gateway_body(p)
        server = self._mesh_kube(mesh)
        name = body["metadata"]["name"]
        current = server.get(GATEWAY_API, "IstioGateway", "istio-system", name)
        if current is None:
            raise ApiError(404, "ASMGateway.NotFound",  # inferred code
                           f"IstioGateway istio-system/{name} is not found in ServiceMesh {mesh['id']}.")
        body["metadata"].pop("resourceVersion", None)  # the API replaces the spec wholesale
        merged = dict(current)
        merged["spec"] = body.get("spec", {})
        merged["metadata"] = {**current.get("metadata", {}),
                              **{k: v for k, v in body["metadata"].items() if k in ("labels", "annotations")}}
        merged["metadata"].pop("resourceVersion", None)
        self._kube_write(server.replace, merged)
        self.cloud.lab.record_event("asm_gateway_updated", mesh_id=mesh["id"], name=name)
        return {}

"""Pod subresources: log, exec, attach, portforward and eviction.

The lab has no kubelet.  ``pods/log`` answers with a lab log line (text/plain, as the kubelet's
log stream is); exec, attach and portforward are refused as an apiserver refuses them when it
cannot reach the node's kubelet: 400 "Upgrade request required" for a plain request (the
upgrade-aware proxy handler), otherwise 500 "error dialing backend".  ``pods/eviction`` is the
Eviction API (https://kubernetes.io/docs/concepts/scheduling-eviction/api-eviction/): 429 while a
PodDisruptionBudget allows no disruption, else the Pod is deleted and a Success Status returned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import ApiError, bad_request, method_not_allowed
from .selectors import parse_label_selector

if TYPE_CHECKING:
    from .api import KubeApi
    from .resources import ResourceType
    from .server import KubeServer


def _containers(pod: dict[str, Any]) -> list[str]:
    return [c.get("name") for c in (pod.get("spec") or {}).get("containers") or [] if isinstance(c, dict)]


def _pick_container(pod: dict[str, Any], wanted: str | None) -> str:
    names = _containers(pod)
    init = [c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or [] if isinstance(c, dict)]
    name = pod["metadata"]["name"]
    if not wanted:
        if len(names) == 1:
            return names[0]
        raise bad_request(f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
                          + (f" or one of the init containers: [{' '.join(init)}]" if init else ""))
    if wanted not in names + init:
        raise bad_request(f"container {wanted} is not valid for pod {name}")
    return wanted


async def pod_log(api: KubeApi, server: KubeServer, request: web.Request, rt: ResourceType,
                  namespace: str | None, name: str) -> web.StreamResponse:
    if request.method != "GET":
        raise method_not_allowed()
    pod = server.get_object(rt, namespace, name)
    container = _pick_container(pod, request.query.get("container"))
    started = ((pod.get("status") or {}).get("startTime")) or pod["metadata"].get("creationTimestamp", "")
    line = (f"drlab: container {container} of pod {namespace}/{name} runs no process (the lab has no kubelet); "
            f"started {started}\n")
    if request.query.get("timestamps") in ("true", "1"):
        line = f"{started} {line}"
    if request.query.get("previous") in ("true", "1"):
        raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
    return web.Response(text=line, content_type="text/plain")


async def pod_stream(api: KubeApi, server: KubeServer, request: web.Request, rt: ResourceType,
                     namespace: str | None, name: str) -> web.StreamResponse:
    if request.method not in ("GET", "POST"):
        raise method_not_allowed()
    pod = server.get_object(rt, namespace, name)
    if "portforward" not in request.path:
        _pick_container(pod, request.query.get("container"))
    if "upgrade" not in request.headers.get("Connection", "").lower() and not request.headers.get("Upgrade"):
        raise bad_request("Upgrade request required")
    node = (pod.get("spec") or {}).get("nodeName") or "drlab-node"
    raise ApiError(500, "InternalError", f"error dialing backend: dial tcp 10.0.0.10:10250: connect: connection "
                                         f"refused (node {node} runs no kubelet in drlab)")


async def pod_eviction(api: KubeApi, server: KubeServer, request: web.Request, rt: ResourceType,
                       namespace: str | None, name: str) -> web.StreamResponse:
    if request.method != "POST":
        raise method_not_allowed()
    body = await api.body(request, optional=True) or {}
    pod = server.get_object(rt, namespace, name)
    labels = pod["metadata"].get("labels") or {}
    pdb_rt = server.lookup("policy", "v1", "poddisruptionbudgets")
    for pdb in server.list_objects(pdb_rt, namespace):
        selector = (pdb.get("spec") or {}).get("selector")
        if not selector or not _selects(selector, labels):
            continue
        if _disruptions_allowed(server, pdb) <= 0:
            raise ApiError(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption "
                                                   "budget.",
                           causes=[{"reason": "DisruptionBudget", "message": f"The disruption budget "
                                    f"{pdb['metadata']['name']} needs {_min_available(pdb)} healthy pods and has "
                                    f"{len(_selected(server, pdb))} currently"}])
    options = body.get("deleteOptions") or {}
    server.delete_object(rt, namespace, name, propagation=options.get("propagationPolicy"),
                         preconditions=options.get("preconditions"))
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "code": 201}, status=201)


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    text = ",".join(f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items())
    for expression in selector.get("matchExpressions") or []:
        values = ",".join(expression.get("values") or [])
        operator = expression.get("operator")
        key = expression.get("key")
        part = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key,
                "DoesNotExist": f"!{key}"}.get(operator)
        if part:
            text = f"{text},{part}" if text else part
    return parse_label_selector(text)(labels)


def _selected(server: KubeServer, pdb: dict[str, Any]) -> list[dict[str, Any]]:
    pod_rt = server.lookup("", "v1", "pods")
    selector = (pdb.get("spec") or {}).get("selector") or {}
    return [p for p in server.list_objects(pod_rt, pdb["metadata"]["namespace"], shallow=True)
            if _selects(selector, p["metadata"].get("labels") or {}) and not p["metadata"].get("deletionTimestamp")]


def _min_available(pdb: dict[str, Any]) -> int:
    spec = pdb.get("spec") or {}
    value = spec.get("minAvailable")
    return value if isinstance(value, int) else 0


def _disruptions_allowed(server: KubeServer, pdb: dict[str, Any]) -> int:
    spec = pdb.get("spec") or {}
    healthy = len(_selected(server, pdb))
    if isinstance(spec.get("maxUnavailable"), int):
        return spec["maxUnavailable"]
    if isinstance(spec.get("minAvailable"), int):
        return healthy - spec["minAvailable"]
    return 1


POD_HANDLERS = {"log": pod_log, "exec": pod_stream, "attach": pod_stream, "portforward": pod_stream,
                "eviction": pod_eviction}

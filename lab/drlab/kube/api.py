"""HTTP front of every Kubernetes API server: auth, discovery, REST verbs, watch.

URLs are ``/clusters/<id>/...`` and ``/meshes/<id>/...`` (lab/README.md); what
follows the prefix is the standard apiserver path layout.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web

from . import calls, kinds, openapi, schemas, subresources
from .calls import KubeCalls
from .errors import ApiError, bad_request, conflict, method_not_allowed, not_found, unsupported_media_type
from .kinds import scale_object, set_scale
from .patch import json_patch, merge_patch, strategic_merge
from .resources import POD_SUBRESOURCES, ResourceType
from .server import KubeServer
from .standard import review
from .tables import table_for

if TYPE_CHECKING:
    from .component import KubeComponent

log = logging.getLogger("drlab.kube")

VERSION_INFO = {
    "major": "1", "minor": "31", "gitVersion": "v1.31.1-drlab.1",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22.5", "compiler": "gc", "platform": "linux/amd64",
}
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+json": "apply",
}
WATCH_MAX_SECONDS = 1800
BOOKMARK_SECONDS = 10.0  # idle interval between bookmarks when a client allows them


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=status,
                        content_type="application/json")


def error_response(error: ApiError) -> web.Response:
    response = json_response(error.status(), error.code)
    if error.details.get("retryAfterSeconds"):
        response.headers["Retry-After"] = str(error.details["retryAfterSeconds"])
    return response


class KubeApi:
    def __init__(self, component: KubeComponent, calls: KubeCalls):
        self.component = component
        self.calls = calls
        self.app = web.Application(client_max_size=16 * 1024 * 1024)
        self.app.router.add_route("*", r"/{scope:clusters|meshes}/{sid}{tail:(/.*)?}", self.handle)
        # Absolute paths without the server prefix: `kubectl get --raw /api/...` (RequestURI replaces the
        # kubeconfig server's path) and any client that resolves paths against the host.  The credential
        # tells which cluster or mesh is meant, each having its own.
        self.app.router.add_route("*", r"/{tail:(api|apis|version|openapi|healthz|livez|readyz)(/.*)?}",
                                  self.handle_unprefixed)
        self.app.on_shutdown.append(self._on_shutdown)

    async def _on_shutdown(self, app: web.Application) -> None:
        for server in self.component.servers.values():
            server.close()  # ends open watches so the lab stops promptly

    async def handle(self, request: web.Request) -> web.StreamResponse:
        scope = request.match_info["scope"]
        server = self.component.servers.get(request.match_info["sid"])
        if server is None or (server.kind == "cluster") != (scope == "clusters"):
            return error_response(ApiError(404, "NotFound", "the server could not find the requested resource"))
        if not self.authenticated(server, request):
            return error_response(ApiError(401, "Unauthorized", "Unauthorized"))
        return await self.serve(server, request, request.match_info["tail"])

    async def handle_unprefixed(self, request: web.Request) -> web.StreamResponse:
        # the bearer token or the client certificate says which cluster or mesh is meant
        server = next((s for s in self.component.servers.values() if self.authenticated(s, request)), None)
        if server is None:
            return error_response(ApiError(401, "Unauthorized", "Unauthorized"))
        return await self.serve(server, request, "/" + request.match_info["tail"])

    async def serve(self, server: KubeServer, request: web.Request, tail: str) -> web.StreamResponse:
        parts = [p for p in tail.split("/") if p]
        validation_token = None
        calls_token = calls.begin_request()
        status = 500
        try:
            # fieldValidation and its warnings, for drlab.kube.schemas (decoding runs deep in KubeServer)
            context, validation_token = schemas.begin_request(request.query.get("fieldValidation"))
            response = await self.dispatch(server, request, parts)
            status = response.status
            for warning in context.warnings:
                response.headers.add("Warning", schemas.warning_header(warning))
            return response
        except ApiError as error:
            response = error_response(error)
            status = response.status
            return response
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:  # noqa: BLE001 - answer like an apiserver (a Status), never an HTML/text 500 page
            log.exception("kube API %s %s failed", request.method, request.path)
            return error_response(ApiError(500, "InternalError", "Internal error occurred: drlab kube emulator "
                                                                 "failed; see drlab.log"))
        finally:
            if validation_token is not None:
                schemas.end_request(validation_token)
            self.calls.record(request.method, parts, request.query, status, calls.end_request(calls_token))

    def authenticated(self, server: KubeServer, request: web.Request) -> bool:
        """[auth] The server's bearer token, or a client certificate issued for it (CN user, O groups);
        like the apiserver's union authenticator, the first that succeeds wins."""
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if token and hmac.compare_digest(token.encode(), server.token.encode()):
            return True
        peercert = request.transport.get_extra_info("peercert") if request.transport is not None else None
        return self.component.tls.authenticate(server.id, peercert) is not None

    # -- routing -------------------------------------------------------------------------
    async def dispatch(self, server: KubeServer, request: web.Request, parts: list[str]) -> web.StreamResponse:
        if parts in (["healthz"], ["livez"], ["readyz"]):
            return web.Response(text="ok")
        if parts == ["version"]:
            return json_response(VERSION_INFO)
        if parts == ["api"]:
            return json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.component.lab.host}:{self.component.port}"}]})
        if parts == ["apis"]:
            return json_response(self.group_list(server))
        if parts[:2] == ["openapi", "v3"]:
            return self.openapi_v3(server, parts[2:])
        if parts == ["openapi", "v2"]:
            return self.openapi_v2(server)
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 2:
            if len(parts) == 2:
                return json_response(self.group(server, parts[1]))
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if version not in server.group_versions().get(group, []):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            return json_response(self.resource_list(server, group, version))
        watch = False
        if rest[0] == "watch":
            watch, rest = True, rest[1:]
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and not (group == "" and len(rest) == 3
                                                                 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        rt = server.lookup(group, version, rest[0])
        if rt is None or len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if namespace is not None and not rt.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        pod_sub = rt.builtin and rt.kind == "Pod" and sub in subresources.POD_HANDLERS
        if sub not in (None, "status", "scale", "finalize") and not pod_sub or (sub == "status" and not rt.status) \
                or (sub == "scale" and rt.scale is None) or (sub == "finalize" and rt.key != "/namespaces"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if rt.namespaced and name is not None and namespace is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if name is None:
            return await self.collection(server, request, rt, namespace, watch)
        if rt.virtual:
            raise method_not_allowed()
        if pod_sub:
            return await subresources.POD_HANDLERS[sub](self, server, request, rt, namespace, name)
        return await self.item(server, request, rt, namespace, name, sub)

    # -- discovery -------------------------------------------------------------------------
    def openapi_v3(self, server: KubeServer, parts: list[str]) -> web.Response:
        groups = server.group_versions()
        if not parts:
            return json_response(openapi.root(server.types(), groups, server.prefix, server))
        if parts[0] == "api" and len(parts) == 2:
            group, version = "", parts[1]
        elif parts[0] == "apis" and len(parts) == 3:
            group, version = parts[1], parts[2]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if version not in groups.get(group, []):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        text, _ = openapi.group_version_text(server.types(), group, version, server)
        response = web.Response(text=text, content_type="application/json")
        response.headers["Cache-Control"] = "no-cache, private"
        return response

    def openapi_v2(self, server: KubeServer) -> web.Response:
        response = json_response(openapi.swagger(server))
        response.headers["Cache-Control"] = "no-cache, private"
        return response

    def group_list(self, server: KubeServer) -> dict[str, Any]:
        groups = [self.group(server, g) for g in server.group_versions() if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def group(self, server: KubeServer, name: str) -> dict[str, Any]:
        versions = server.group_versions().get(name)
        if not versions or not name:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": entries,
                "preferredVersion": entries[0]}

    def resource_list(self, server: KubeServer, group: str, version: str) -> dict[str, Any]:
        resources = []
        for rt in server.types():
            if rt.group != group or rt.version != version:
                continue
            entry: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                                     "kind": rt.kind, "verbs": list(rt.verbs),
                                     "storageVersionHash": hashlib.sha256(rt.key.encode()).hexdigest()[:11]}
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            resources.append(entry)
            if rt.status:
                resources.append({"name": f"{rt.plural}/status", "singularName": "", "namespaced": rt.namespaced,
                                  "kind": rt.kind, "verbs": ["get", "patch", "update"]})
            if rt.scale is not None:
                resources.append({"name": f"{rt.plural}/scale", "singularName": "", "namespaced": rt.namespaced,
                                  "group": "autoscaling", "version": "v1", "kind": "Scale",
                                  "verbs": ["get", "patch", "update"]})
            if rt.builtin and rt.key == "/pods":
                resources.extend({"singularName": "", "namespaced": True, **entry} for entry in POD_SUBRESOURCES)
            if rt.builtin and rt.key == "/namespaces":
                resources.append({"name": "namespaces/finalize", "singularName": "", "namespaced": False,
                                  "kind": "Namespace", "verbs": ["update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version, "resources": resources}

    # -- collections -------------------------------------------------------------------------
    async def collection(self, server: KubeServer, request: web.Request, rt: ResourceType, namespace: str | None,
                         watch: bool) -> web.StreamResponse:
        query = request.query
        if rt.virtual:
            if request.method != "POST":
                raise method_not_allowed()
            kinds.check_shape(rt, body := await self.body(request))
            return json_response(review(rt, body), 201)
        if request.method == "GET":
            if watch or query.get("watch") in ("true", "1"):
                return await self.watch(server, request, rt, namespace)
            return self.list(server, request, rt, namespace)
        if request.method == "POST":
            if rt.namespaced and namespace is None:
                raise method_not_allowed()
            body = await self.body(request)
            obj = server.create_object(rt, namespace, body, dry_run=dry_run(query), manager=manager(request),
                                       client=True)
            return json_response(obj, 201)
        if request.method == "DELETE":
            items = server.list_objects(rt, namespace, query.get("labelSelector"), query.get("fieldSelector"))
            options = await self.body(request, optional=True) or {}
            propagation = query.get("propagationPolicy") or options.get("propagationPolicy")
            deleted = []
            for item in items:
                meta = item["metadata"]
                obj, is_status = server.delete_object(rt, meta.get("namespace"), meta["name"],
                                                      dry_run=dry_run(query), propagation=propagation)
                deleted.append(item if is_status else obj)
            return json_response({"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                                  "metadata": {"resourceVersion": str(server.rv)}, "items": deleted})
        raise method_not_allowed()

    def list(self, server: KubeServer, request: web.Request, rt: ResourceType, namespace: str | None) -> web.Response:
        query = request.query
        limit = _int_param(query, "limit")
        start, snapshot = 0, 0
        if query.get("continue"):
            # Later pages come from the first page's snapshot, so the whole list is one consistent state.
            try:
                token = json.loads(_unb64(query["continue"]))
                start, snapshot = int(token["start"]), int(token["snapshot"])
            except (ValueError, KeyError, TypeError):
                raise bad_request("continue key is not valid") from None
            rv, items = server.snapshots.get(snapshot)
        else:
            items = server.list_objects(rt, namespace, query.get("labelSelector"), query.get("fieldSelector"),
                                        shallow=True)
            rv = str(server.rv)
        meta: dict[str, Any] = {"resourceVersion": rv}
        if limit > 0 and start + limit < len(items):
            if not snapshot:
                snapshot = server.snapshots.keep(rv, items)
            meta["continue"] = _b64(json.dumps({"rv": rv, "start": start + limit, "snapshot": snapshot}))
            meta["remainingItemCount"] = len(items) - start - limit
            items = items[start:start + limit]
        else:
            items = items[start:]
        if "as=Table" in request.headers.get("Accept", ""):
            return json_response(table_for(rt, items, meta))
        return json_response({"kind": f"{rt.kind}List", "apiVersion": rt.api_version, "metadata": meta,
                              "items": items})

    async def watch(self, server: KubeServer, request: web.Request, rt: ResourceType,
                    namespace: str | None) -> web.StreamResponse:
        query = request.query
        timeout = min(_int_param(query, "timeoutSeconds") or WATCH_MAX_SECONDS, WATCH_MAX_SECONDS)
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
        response.enable_chunked_encoding()
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        # WatchList (sendInitialEvents=true): the current state as ADDED events, then a bookmark marking its end.
        initial_events = query.get("sendInitialEvents") in ("true", "1")
        try:
            watcher, initial = server.watch(rt, namespace, query.get("labelSelector"), query.get("fieldSelector"),
                                            None if initial_events else query.get("resourceVersion"))
        except ApiError as error:
            if error.code != 410:
                raise
            await response.prepare(request)
            await response.write(_line({"type": "ERROR", "object": error.status()}))
            await response.write_eof()
            return response
        as_table = "as=Table" in request.headers.get("Accept", "")  # kubectl get -w prints rows

        def event_line(event_type: str, obj: dict[str, Any]) -> bytes:
            if as_table:
                obj = table_for(rt, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")})
            return _line({"type": event_type, "object": obj})

        def bookmark(end_of_initial: bool = False) -> bytes:
            meta: dict[str, Any] = {"resourceVersion": str(server.rv)}
            if end_of_initial:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            return _line({"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version,
                                                         "metadata": meta}})

        try:
            await response.prepare(request)
            for event_type, obj in initial:
                await response.write(event_line(event_type, obj))
            if initial_events and bookmarks:
                await response.write(bookmark(end_of_initial=True))
            deadline = time.monotonic() + timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    wait = min(remaining, BOOKMARK_SECONDS) if bookmarks else remaining
                    event = await asyncio.wait_for(watcher.queue.get(), wait)
                except TimeoutError:
                    if bookmarks and watcher.queue.empty() and deadline - time.monotonic() > 0:
                        await response.write(bookmark())  # every event up to server.rv has been sent
                        continue
                    break
                if event is None:
                    break
                await response.write(event_line(event[0], event[1]))
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            server.unwatch(watcher)
        return response

    # -- single objects ------------------------------------------------------------------------
    async def item(self, server: KubeServer, request: web.Request, rt: ResourceType, namespace: str | None,
                   name: str, sub: str | None) -> web.Response:
        query = request.query
        method = request.method
        if sub == "scale":
            return await self.scale(server, request, rt, namespace, name)
        if method == "GET":
            obj = server.get_object(rt, namespace, name)
            if "as=Table" in request.headers.get("Accept", ""):
                return json_response(table_for(rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}))
            return json_response(obj)
        if sub == "finalize" and method != "PUT":
            raise method_not_allowed()
        if method == "PUT":
            body = await self.body(request)
            return json_response(server.replace_object(rt, namespace, name, body, dry_run=dry_run(query),
                                                       manager=manager(request), subresource=sub, client=True))
        if method == "PATCH":
            patch_type, patch = await self.patch_body(request, rt)
            force = query.get("force") in ("true", "1")
            obj, created = server.patch_object(rt, namespace, name, patch_type, patch, dry_run=dry_run(query),
                                               manager=manager(request, patch_type == "apply"), force=force,
                                               subresource=sub)
            return json_response(obj, 201 if created else 200)
        if method == "DELETE" and sub is None:
            options = await self.body(request, optional=True) or {}
            propagation = query.get("propagationPolicy") or options.get("propagationPolicy")
            if options.get("orphanDependents") is True and not propagation:
                propagation = "Orphan"
            is_dry = dry_run(query) or "All" in (options.get("dryRun") or [])
            grace = query.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
            obj, _ = server.delete_object(rt, namespace, name, dry_run=is_dry, propagation=propagation,
                                          preconditions=options.get("preconditions"),
                                          grace_period=int(grace) if grace not in (None, "") else None)
            return json_response(obj)
        raise method_not_allowed()

    async def scale(self, server: KubeServer, request: web.Request, rt: ResourceType, namespace: str | None,
                    name: str) -> web.Response:
        stored = server.get_object(rt, namespace, name)
        current = scale_object(rt, stored)
        if request.method == "GET":
            return json_response(current)
        if request.method == "PUT":
            wanted = await self.body(request)
        elif request.method == "PATCH":
            patch_type, patch = await self.patch_body(request, rt, scale=True)
            if patch_type == "apply":
                raise unsupported_media_type("", list(PATCH_TYPES)[:3])
            wanted = {"json": json_patch, "merge": merge_patch, "strategic": strategic_merge}[patch_type](
                current, patch)
        else:
            raise method_not_allowed()
        if not isinstance(wanted, dict):
            raise bad_request("invalid Scale object")
        rv = (wanted.get("metadata") or {}).get("resourceVersion")
        if rv and rv != stored["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)
        replicas = (wanted.get("spec") or {}).get("replicas")
        new = set_scale(rt, stored, replicas)
        new["metadata"].pop("resourceVersion", None)
        updated = server.replace_object(rt, namespace, name, new, dry_run=dry_run(request.query),
                                        manager=manager(request))
        return json_response(scale_object(rt, updated))

    # -- bodies --------------------------------------------------------------------------------
    async def body(self, request: web.Request, optional: bool = False) -> Any:
        raw = await request.read()
        if not raw.strip():
            if optional:
                return None
            raise bad_request("the body of the request was empty")
        content_type = request.content_type
        if "protobuf" in content_type:
            raise unsupported_media_type(content_type, ["application/json", "application/yaml"])
        try:
            if "yaml" in content_type:
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"the body of the request could not be decoded: {exc}") from None

    async def patch_body(self, request: web.Request, rt: ResourceType, scale: bool = False) -> tuple[str, Any]:
        patch_type = PATCH_TYPES.get(request.content_type)
        accepted = [t for t, k in PATCH_TYPES.items() if rt.builtin or scale or k != "strategic"]
        if patch_type is None or (patch_type == "strategic" and not rt.builtin and not scale):
            # Real servers answer 415 for strategic merge on custom resources; clients then fall back to merge.
            raise unsupported_media_type(request.content_type, accepted)
        raw = await request.read()
        try:
            body = yaml.safe_load(raw) if patch_type == "apply" else json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"the body of the request could not be decoded: {exc}") from None
        return patch_type, body


def dry_run(query) -> bool:
    values = query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise ApiError(400, "BadRequest", f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return bool(values)


def manager(request: web.Request, required: bool = False) -> str | None:
    """The field manager: ``fieldManager`` or, as the apiserver does, the User-Agent's program name."""
    name = request.query.get("fieldManager")
    if name or required:
        return name
    agent = request.headers.get("User-Agent", "unknown")
    return agent.split("/")[0][:128] or "unknown"


def _int_param(query, name: str) -> int:
    value = query.get(name) or "0"
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"{name}: Invalid value: \"{value}\": must be an integer") from None
    if number < 0:
        raise bad_request(f"{name}: Invalid value: {number}: must be greater than or equal to 0")
    return number


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text.encode()).decode()


__all__ = ["KubeApi", "VERSION_INFO", "not_found"]

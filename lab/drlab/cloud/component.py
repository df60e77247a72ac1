"""The emulated Alibaba OpenAPI endpoint: servicemesh 2020-01-11 and alidns 2015-01-09.

One RPC endpoint (``POST|GET /`` on the cloud port) serves both products, told apart by
the version the client sends (``x-acs-version`` header, or ``Version`` in v1 requests),
as a custom ``endpoint=`` in the SDK config makes every product hit the same address.

Request path: parse -> verify signature -> injected faults -> action handler -> JSON.
Each product module maps action names to handlers taking :class:`Params` and returning
the response body; :class:`ApiError` becomes the real error body.  State lives in one
JSON document (``DIR/state/cloud.json``) saved after every successful write, so a
restart, or a ``kill -9``, loses nothing acknowledged.

Other components use the in-process API below (``lab.components["cloud"]``):
``meshes()``, ``mesh(mesh_id)``, ``gtm_snapshot()``, ``gtm_answer(fqdn, rr_type)``,
``health_targets()``, ``set_address_health(...)``, ``zone_records(zone)`` and
``on_change(callback)``.  Temporary (STS) credentials are issued by the admin route
``POST /__drlab/sts`` (``drlab sts``) and accepted with their token (see ``sts.py``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from typing import Any, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from ..store import JsonStore
from . import errors
from .errors import ApiError
from .gtm import GtmApi
from .params import Params
from .records import RecordsApi
from .servicemesh import ServiceMeshApi
from .signing import SignedRequest, Verifier
from .sts import DEFAULT_DURATION, REAL_MIN_DURATION, StsIssuer

log = logging.getLogger("drlab.cloud")

READ_PREFIXES = ("Describe", "List", "Get", "Search", "Check")
# Parameters of the v1 signature protocol itself, never passed to handlers.
V1_PROTOCOL = {"Action", "Version", "Format", "AccessKeyId", "SecurityToken", "Signature", "SignatureMethod",
               "SignatureVersion", "SignatureNonce", "SignatureType", "Timestamp"}
CLIENT_TOKEN_TTL = 600.0  # seconds a write's ClientToken keeps returning the first answer


class Product:
    """One API version: its host id (for error bodies) and action -> handler table."""

    def __init__(self, name: str, version: str, host_id: str, actions: dict[str, Callable[[Params], dict]]):
        self.name = name
        self.version = version
        self.host_id = host_id
        self.actions = actions


class CloudComponent:
    def __init__(self, lab):
        self.lab = lab
        self.topology = lab.topology
        self.store = JsonStore(lab.dir.file("state", "cloud.json"))
        self.data = self.store.data
        for key, default in (("meshes", {}), ("gtm", {}), ("records", {}), ("alert_logs", [])):
            self.data.setdefault(key, default)
        self.sts = StsIssuer(self.data)
        self.verifier = Verifier(self._secret_for, self._check_token)
        faults = self.topology.get("faults", {})
        # Rates roll a die per call; the *_next counters refuse exactly the next N calls (tests that must
        # see a retry happen use those, so they cannot pass or fail by chance).
        # drop_reply_next commits the next N writes (of drop_reply_actions, or any write) and then closes
        # the connection without an answer: what a client sees when a reply is lost after the service
        # acted (read timeout, reset), so tests can prove a create is re-read, never blindly repeated.
        self.faults = {"throttle_rate": float(faults.get("throttle_rate", 0.0)),
                       "error_rate": float(faults.get("error_rate", 0.0)),
                       "throttle_next": int(faults.get("throttle_next", 0)),
                       "error_next": int(faults.get("error_next", 0)),
                       "drop_reply_next": int(faults.get("drop_reply_next", 0)),
                       "drop_reply_actions": list(faults.get("drop_reply_actions", []))}
        self.calls: dict[str, dict[str, Any]] = {}
        self._listeners: list[Callable[[str, str], None]] = []
        self._ticker: asyncio.Task | None = None
        self._client_tokens: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self.servicemesh = ServiceMeshApi(self)
        self.gtm = GtmApi(self)
        self.records = RecordsApi(self)
        self.products = {
            "2020-01-11": Product("servicemesh", "2020-01-11", "servicemesh.aliyuncs.com", self.servicemesh.actions()),
            "2015-01-09": Product("Alidns", "2015-01-09", "alidns.aliyuncs.com",
                                  {**self.gtm.actions(), **self.records.actions()}),
        }

    # -- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        self.lab.cloud_app.router.add_route("GET", "/", self._handle)
        self.lab.cloud_app.router.add_route("POST", "/", self._handle)
        self.lab.admin_route("GET", "faults", self._faults_handler)
        self.lab.admin_route("POST", "faults", self._faults_handler)
        self.lab.admin_route("GET", "calls", self._calls_handler)
        self.lab.admin_route("POST", "calls/reset", self._calls_reset_handler)
        self.lab.admin_route("POST", "gtm/address-health", self._address_health_handler)
        self.lab.admin_route("GET", "gtm/answer", self._gtm_answer_handler)
        self.lab.admin_route("POST", "sts", self._sts_handler)
        self.servicemesh.restore()
        self._ticker = asyncio.create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            try:
                await self._ticker
            except asyncio.CancelledError:
                pass
        self.store.save()

    def status(self) -> dict[str, Any]:
        meshes = self.servicemesh.list_live()
        gtm = self.data["gtm"]
        summary = [f"OpenAPI servicemesh 2020-01-11 + alidns 2015-01-09 at http://{self.lab.host}:"
                   f"{self.topology['ports']['cloud']}/ (ACS3 and v1 signatures checked)"]
        for mesh in meshes:
            summary.append(f"mesh {mesh['id']} ({mesh['name']}, {mesh['region_id']}) "
                           f"{self.servicemesh.state_of(mesh)}, clusters: {', '.join(mesh['clusters']) or '-'}")
        for config in gtm.get("configs", {}).values():
            summary.append(f"GTM {config['ScheduleHostname']}.{config['ScheduleZoneName']} "
                           f"{config['ScheduleRrType']} ttl {config['Ttl']} ({config['EnableStatus']})")
        if any(self.faults.values()):
            summary.append("faults: " + ", ".join(f"{k} {v}" for k, v in self.faults.items() if v))
        return {
            "summary": summary,
            "meshes": [{"id": m["id"], "name": m["name"], "region_id": m["region_id"],
                        "state": self.servicemesh.state_of(m), "clusters": m["clusters"]} for m in meshes],
            "gtm": {kind: len(gtm.get(kind, {})) for kind in ("templates", "addresses", "pools", "instances",
                                                                "configs")},
            "records": len(self.data["records"]),
            "faults": dict(self.faults),
            "sts_live": self.sts.live_count(),
        }

    async def _tick_forever(self) -> None:
        # Asynchronous cloud work (mesh becoming running, deletes finishing) advances here.
        while True:
            try:
                if self.servicemesh.tick():
                    self.save()
            except Exception:  # noqa: BLE001 - a bad tick must not stop later ones
                log.exception("cloud tick failed")
            await asyncio.sleep(0.25)

    # -- shared helpers for the product modules ------------------------------------------
    def save(self) -> None:
        self.store.save()

    def on_change(self, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(kind, object_id)`` after each change; kind is mesh, gtm or record."""
        self._listeners.append(callback)

    def changed(self, kind: str, object_id: str) -> None:
        for callback in list(self._listeners):
            try:
                callback(kind, object_id)
            except Exception:  # noqa: BLE001 - one broken listener must not fail the API call
                log.exception("cloud change listener failed")

    def kube(self):
        return self.lab.components.get("kube")

    def _secret_for(self, access_key_id: str) -> str | None:
        creds = self.lab.credentials
        if access_key_id == creds["access_key_id"]:
            return creds["access_key_secret"]
        return self.sts.secret_for(access_key_id)

    def _check_token(self, access_key_id: str, token: str | None) -> None:
        # Only temporary keys need a token; the lab's long-term key ignores one, as the gateway does.
        if access_key_id != self.lab.credentials["access_key_id"]:
            self.sts.check(access_key_id, token)

    # -- in-process API for other components (delegates) -----------------------------------
    def meshes(self) -> list[dict[str, Any]]:
        return [self.servicemesh.public(m) for m in self.servicemesh.list_live()]

    def mesh(self, mesh_id: str) -> dict[str, Any] | None:
        mesh = self.servicemesh.find(mesh_id)
        return self.servicemesh.public(mesh) if mesh else None

    def gtm_snapshot(self) -> list[dict[str, Any]]:
        return self.gtm.snapshot()

    def gtm_answer(self, fqdn: str, rr_type: str) -> dict[str, Any] | None:
        return self.gtm.answer(fqdn, rr_type)

    def health_targets(self) -> list[dict[str, Any]]:
        return self.gtm.health_targets()

    def set_address_health(self, address_id: str, health_status: str, available_status: str,
                           reason: str = "") -> bool:
        return self.gtm.set_address_health(address_id, health_status, available_status, reason)

    def gtm_address_states(self) -> list[dict[str, Any]]:
        """Every GTM address with what GTM decides about it (for the lab's exporter)."""
        return [{"address_id": a["AddressId"], "address": a["Address"],
                 "available": self.gtm.address_available(a) == "available"} for a in self.gtm.addresses.values()]

    def zone_records(self, zone: str) -> list[dict[str, Any]]:
        return self.records.zone_records(zone)

    # -- the RPC endpoint ----------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        request_id = str(uuid.uuid4()).upper()
        body = await request.read()
        query = parse_qsl(request.query_string, keep_blank_values=True)
        form: list[tuple[str, str]] = []
        if body and request.content_type == "application/x-www-form-urlencoded":
            form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        headers = {name.lower(): request.headers.getall(name) for name in set(request.headers.keys())}
        version = request.headers.get("x-acs-version") or dict(query).get("Version", "")
        action = request.headers.get("x-acs-action") or dict(query).get("Action", "")
        product = self.products.get(version)
        host_id = product.host_id if product else "drlab"
        try:
            if not action:
                raise errors.missing("Action")
            if not version:
                raise errors.missing("Version")
            self.verifier.verify(SignedRequest(request.method, request.path, query, form, headers, body))
            if product is None:
                raise errors.unknown_version(version)
            handler = product.actions.get(action)
            if handler is None:
                raise errors.unknown_action(action, version)
            self._inject_faults()
            params = {k: v for k, v in [*query, *form] if k not in V1_PROTOCOL}
            result = self._idempotent(action, params, handler)
        except ApiError as exc:
            self._count(action, ok=False, code=exc.code)
            if exc.status >= 500:
                log.info("%s %s -> %s %s", version, action, exc.status, exc.code)
            return web.json_response(exc.body(request_id, host_id, product.name if product else "drlab"),
                                     status=exc.status)
        except Exception:  # noqa: BLE001 - the cloud answers JSON, never an HTML crash page
            log.exception("%s %s failed", version, action)
            self._count(action, ok=False, code="InternalError")
            return web.json_response(errors.internal_error().body(request_id, host_id, product.name if product
                                                                  else "drlab"), status=500)
        self._count(action, ok=True)
        if not action.startswith(READ_PREFIXES):
            self.save()
            if self._reply_dropped(action):
                return await self._drop_connection(request, action)
        return web.json_response({"RequestId": request_id, **result})

    def _reply_dropped(self, action: str) -> bool:
        wanted = self.faults["drop_reply_actions"]
        if not self.faults["drop_reply_next"] or (wanted and action not in wanted):
            return False
        self.faults["drop_reply_next"] -= 1
        return True

    async def _drop_connection(self, request: web.Request, action: str) -> web.StreamResponse:
        """The write is committed and saved; the client gets no answer (connection closed)."""
        self.lab.record_event("cloud_reply_dropped", action=action)
        errors_seen = self.calls[action]["errors"]
        errors_seen["(reply dropped)"] = errors_seen.get("(reply dropped)", 0) + 1
        if request.transport is not None:
            request.transport.abort()
        # aiohttp needs a response object; nothing reaches the client once the transport is gone.
        return web.Response(status=204)

    def _idempotent(self, action: str, params: dict[str, str], handler: Callable[[Params], dict]) -> dict:
        """A write repeated with the same ClientToken gets the first answer, not a second effect."""
        token = params.get("ClientToken")
        if not token or action.startswith(READ_PREFIXES):
            return handler(Params(params))
        now = time.time()
        for key, (seen, _) in list(self._client_tokens.items()):
            if now - seen > CLIENT_TOKEN_TTL:
                del self._client_tokens[key]
        if (action, token) in self._client_tokens:
            return self._client_tokens[(action, token)][1]
        result = handler(Params(params))
        self._client_tokens[(action, token)] = (now, result)
        return result

    def _inject_faults(self) -> None:
        if self.faults["throttle_next"]:
            self.faults["throttle_next"] -= 1
            raise errors.throttled()
        if self.faults["error_next"]:
            self.faults["error_next"] -= 1
            raise random.choice([errors.internal_error(), errors.service_unavailable()])
        roll = random.random()
        if roll < self.faults["throttle_rate"]:
            raise errors.throttled()
        if roll < self.faults["throttle_rate"] + self.faults["error_rate"]:
            raise random.choice([errors.internal_error(), errors.service_unavailable()])

    def _count(self, action: str, ok: bool, code: str | None = None) -> None:
        entry = self.calls.setdefault(action or "(none)", {
            "kind": "read" if action.startswith(READ_PREFIXES) else "write", "count": 0, "errors": {}})
        entry["count"] += 1
        if not ok and code:
            entry["errors"][code] = entry["errors"].get(code, 0) + 1

    # -- admin routes (/__drlab/...) ---------------------------------------------------------
    async def _faults_handler(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                body = await request.json()
                if not isinstance(body, dict) or set(body) - set(self.faults):
                    raise ValueError(f"expected an object with some of {', '.join(self.faults)}")
                update = {}
                for key in ("throttle_rate", "error_rate"):
                    if key in body:
                        update[key] = float(body[key])
                        if not 0.0 <= update[key] <= 1.0:
                            raise ValueError(f"{key} must be between 0 and 1")
                if "drop_reply_actions" in body:
                    actions = body["drop_reply_actions"]
                    if not isinstance(actions, list) or not all(isinstance(a, str) and a for a in actions):
                        raise ValueError("drop_reply_actions must be a list of action names")
                    update["drop_reply_actions"] = actions
                for key in ("throttle_next", "error_next", "drop_reply_next"):
                    if key in body:
                        if isinstance(body[key], bool) or not isinstance(body[key], int) or body[key] < 0:
                            raise ValueError(f"{key} must be a whole number >= 0")
                        update[key] = body[key]
                self.faults.update(update)
            except (ValueError, TypeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
            self.lab.record_event("cloud_faults", **self.faults)
        return web.json_response(self.faults)

    def calls_report(self) -> dict[str, Any]:
        reads = sum(e["count"] for e in self.calls.values() if e["kind"] == "read")
        writes = sum(e["count"] for e in self.calls.values() if e["kind"] == "write")
        return {"total": reads + writes, "reads": reads, "writes": writes, "actions": self.calls}

    async def _calls_handler(self, request: web.Request) -> web.Response:
        return web.json_response(self.calls_report())

    async def _calls_reset_handler(self, request: web.Request) -> web.Response:
        report = self.calls_report()
        self.calls = {}
        return web.json_response(report)

    async def _address_health_handler(self, request: web.Request) -> web.Response:
        """Test/drill hook: force an address's health as the health checker would."""
        try:
            body = await request.json()
            changed = self.set_address_health(body["address_id"], body["health_status"],
                                              body["available_status"], body.get("reason", "admin"))
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"changed": changed, "at": time.time()})

    async def _sts_handler(self, request: web.Request) -> web.Response:
        """Play STS AssumeRole: issue temporary credentials (optional {"duration_seconds": N})."""
        try:
            body = await request.json() if request.can_read_body else {}
            duration = int((body or {}).get("duration_seconds", DEFAULT_DURATION))
            credentials = self.sts.issue(duration)
        except (ValueError, TypeError, AttributeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.save()
        self.lab.record_event("cloud_sts_issued", access_key_id=credentials["AccessKeyId"],
                              expiration=credentials["Expiration"])  # never the secret or token
        answer = {"RequestId": str(uuid.uuid4()).upper(), "Credentials": credentials}
        if duration < REAL_MIN_DURATION:
            answer["Note"] = f"lab-only duration: the real STS takes at least {REAL_MIN_DURATION} s"
        return web.json_response(answer)

    async def _gtm_answer_handler(self, request: web.Request) -> web.Response:
        answer = self.gtm_answer(request.query.get("name", ""), request.query.get("type", "A"))
        return web.json_response(answer)

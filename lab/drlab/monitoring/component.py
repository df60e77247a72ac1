"""A real Prometheus and Alertmanager for the lab (Debian packages ``prometheus`` and
``prometheus-alertmanager``), bound to the lab host, state in the lab directory.

Prometheus scrapes every region's gateway Envoy (``/stats/prometheus`` on its admin port, the
endpoint istio-proxy exposes on :15090/:15000) and the lab's exporter (kube-state-metrics names,
GTM address availability).  It loads the rule files the ratelimit role writes into
``<lab>/prometheus/*.rules.yml`` and reloads through its lifecycle API (``POST /-/reload``,
enabled by ``--web.enable-lifecycle``), the way the role would reload any Prometheus.
Alertmanager sends every notification to the exporter's ``/alerts`` webhook (the webhook_config
payload, version 4), which records it in the lab's event log, so a drill can put alerts on its
timeline next to the GTM transitions.

Dependencies are handed in: where to find scrape targets, Kubernetes objects and GTM state is
given as callables by the lab when it wires the components.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
from typing import Any, Callable

import yaml
from aiohttp import web

from ..store import write_atomic
from ..supervisor import Supervisor
from . import exporter

log = logging.getLogger("drlab.monitoring")

DEFAULT_PORTS = {"prometheus": 19090, "alertmanager": 19093, "exporter": 19100}


def binaries() -> dict[str, str | None]:
    return {"prometheus": os.environ.get("DRLAB_PROMETHEUS") or shutil.which("prometheus"),
            "alertmanager": os.environ.get("DRLAB_ALERTMANAGER") or shutil.which("prometheus-alertmanager")
            or shutil.which("alertmanager")}


def settings(topology: dict[str, Any]) -> dict[str, Any]:
    """The monitoring part of a topology with its defaults (``enabled``: auto, true or false)."""
    conf = dict(topology.get("monitoring") or {})
    conf.setdefault("enabled", "auto")
    # Seconds; Prometheus' default is 1m and ARMS scrapes every 15 s, the lab is faster so that
    # alerts fire within a drill.  Rule `for:` durations come from the inventory.
    conf.setdefault("scrape_interval", 2)
    conf.setdefault("evaluation_interval", 2)
    ports = topology.get("ports") or {}
    conf["ports"] = {name: int(ports.get(name, default)) for name, default in DEFAULT_PORTS.items()}
    return conf


def prometheus_config(host: str, conf: dict[str, Any], targets_file: str, rules_glob: str) -> dict[str, Any]:
    ports = conf["ports"]
    return {
        "global": {"scrape_interval": f"{conf['scrape_interval']}s",
                   "evaluation_interval": f"{conf['evaluation_interval']}s",
                   "external_labels": {"lab": "drlab"}},
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{host}:{ports['alertmanager']}"]}]}]},
        "rule_files": [rules_glob],
        "scrape_configs": [
            {"job_name": "istio-gateway", "metrics_path": "/stats/prometheus",
             "file_sd_configs": [{"files": [targets_file], "refresh_interval": "5s"}]},
            {"job_name": "drlab-exporter", "static_configs": [{"targets": [f"{host}:{ports['exporter']}"]}]},
        ],
    }


def alertmanager_config(host: str, conf: dict[str, Any]) -> dict[str, Any]:
    # Short waits so a drill of a few minutes sees firing and resolved notifications; the
    # Alertmanager defaults are group_wait 30s, group_interval 5m, repeat_interval 4h.
    return {
        "route": {"receiver": "drlab", "group_by": ["alertname", "region"], "group_wait": "1s",
                  "group_interval": "5s", "repeat_interval": "1h"},
        "receivers": [{"name": "drlab", "webhook_configs": [
            {"url": f"http://{host}:{conf['ports']['exporter']}/alerts", "send_resolved": True}]}],
    }


class MonitoringComponent:
    def __init__(self, lab: Any, scrape_targets: Callable[[], list[dict[str, Any]]],
                 kube_objects: Callable[[str, str], list[tuple[dict[str, str], dict]]],
                 gtm_addresses: Callable[[], list[dict[str, Any]]],
                 record_event: Callable[..., Any]):
        self.host: str = lab.host
        self.conf = settings(lab.topology)
        self.dir = lab.dir.file("monitoring")
        self.rules_dir = lab.dir.file("prometheus")
        self.endpoints_file = os.path.join(self.dir, "endpoints.json")
        self._scrape_targets = scrape_targets
        self._kube_objects = kube_objects
        self._gtm_addresses = gtm_addresses
        self._record_event = record_event
        self._serve = lab.serve
        self.children: dict[str, Supervisor] = {}
        self.missing: list[str] = []
        self._targets_text = ""
        self._task: asyncio.Task | None = None

    @property
    def enabled(self) -> bool:
        wanted = self.conf["enabled"]
        if wanted in (False, "false", "off"):
            return False
        found = binaries()
        self.missing = [name for name, path in found.items() if not path]
        if self.missing and wanted in (True, "true", "on"):
            raise RuntimeError(f"monitoring is enabled but {', '.join(self.missing)} is not installed "
                               "(Debian packages prometheus and prometheus-alertmanager; "
                               "`make monitoring-deps` installs them)")
        return not self.missing

    async def start(self) -> None:
        if not self.enabled:
            log.info("monitoring off (%s)", "missing " + ", ".join(self.missing) if self.missing else "disabled")
            return
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(self.rules_dir, exist_ok=True)
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/alerts", self._alerts)
        await self._serve(app, self.host, self.conf["ports"]["exporter"])
        self._write_targets()
        found = binaries()
        ports = self.conf["ports"]
        prom_dir, am_dir = os.path.join(self.dir, "prometheus"), os.path.join(self.dir, "alertmanager")
        for path in (prom_dir, am_dir):
            os.makedirs(path, exist_ok=True)
        prom_conf = os.path.join(prom_dir, "prometheus.yml")
        write_atomic(prom_conf, yaml.safe_dump(prometheus_config(
            self.host, self.conf, os.path.join(self.dir, "gateway-targets.json"),
            os.path.join(self.rules_dir, "*.rules.yml"))), mode=0o644)
        am_conf = os.path.join(am_dir, "alertmanager.yml")
        write_atomic(am_conf, yaml.safe_dump(alertmanager_config(self.host, self.conf)), mode=0o644)
        self.children["prometheus"] = Supervisor("prometheus", [
            found["prometheus"], f"--config.file={prom_conf}", f"--storage.tsdb.path={prom_dir}/data",
            f"--web.listen-address={self.host}:{ports['prometheus']}", "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=2d",
            # Prometheus drops an alert it could not deliver and sends it again only after this delay (1m by
            # default: `prometheus --help`, rules.alert.resend-delay); the lab's Alertmanager may still be
            # starting at the first evaluation, and the lab's other intervals are seconds too.
            f"--rules.alert.resend-delay={self.conf['evaluation_interval']}s",
            "--log.level=warn"], prom_dir, prom_conf)
        self.children["alertmanager"] = Supervisor("alertmanager", [
            found["alertmanager"], f"--config.file={am_conf}", f"--storage.path={am_dir}/data",
            f"--web.listen-address={self.host}:{ports['alertmanager']}",
            # an empty cluster address turns off the HA gossip, which would bind 0.0.0.0:9094
            "--cluster.listen-address=", "--log.level=warn"], am_dir, am_conf)
        for child in self.children.values():
            await child.start()
        # Where the inventory finds them (inventories/lab reads this file; absent when monitoring is off).
        write_atomic(self.endpoints_file, json.dumps(self.urls(), indent=1), mode=0o644)
        self._task = asyncio.create_task(self._refresh_targets())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if os.path.exists(self.endpoints_file):
            os.unlink(self.endpoints_file)
        await asyncio.gather(*(c.close() for c in self.children.values()), return_exceptions=True)

    def status(self) -> dict[str, Any]:
        if not self.children:
            return {"enabled": False, "missing": self.missing,
                    "summary": ["monitoring: off" + (f" ({', '.join(self.missing)} not installed)"
                                                      if self.missing else "")]}
        urls = self.urls()
        return {"enabled": True, **urls, "rules_dir": self.rules_dir,
                "pids": {name: c.pid for name, c in self.children.items()},
                "summary": [f"monitoring: Prometheus {urls['prometheus']}, Alertmanager {urls['alertmanager']}"]}

    def urls(self) -> dict[str, str]:
        ports = self.conf["ports"]
        return {"prometheus": f"http://{self.host}:{ports['prometheus']}",
                "alertmanager": f"http://{self.host}:{ports['alertmanager']}",
                "exporter": f"http://{self.host}:{ports['exporter']}/metrics"}

    # -- scrape targets -------------------------------------------------------------------
    def _write_targets(self) -> None:
        groups = [{"targets": [t["address"]], "labels": {k: str(v) for k, v in t["labels"].items()}}
                  for t in self._scrape_targets()]
        text = json.dumps(groups, sort_keys=True, indent=1)
        if text != self._targets_text:
            # file_sd re-reads the file when it changes (inotify) and every refresh_interval
            write_atomic(os.path.join(self.dir, "gateway-targets.json"), text, mode=0o644)
            self._targets_text = text

    async def _refresh_targets(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self._write_targets()
            except Exception:  # noqa: BLE001 - keep refreshing; the next round may succeed
                log.exception("writing scrape targets failed")

    # -- exporter ---------------------------------------------------------------------------
    async def _metrics(self, request: web.Request) -> web.Response:
        families = (exporter.deployment_families(self._kube_objects("apps/v1", "Deployment"))
                    + exporter.hpa_families(self._kube_objects("autoscaling/v2", "HorizontalPodAutoscaler"))
                    + exporter.gtm_families(self._gtm_addresses()))
        return web.Response(text=exporter.render(families), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def _alerts(self, request: web.Request) -> web.Response:
        # Alertmanager webhook_config payload (version "4"): one POST per group, each alert with
        # status, labels, annotations, startsAt, endsAt and fingerprint.
        try:
            payload = await request.json()
        except ValueError:
            return web.json_response({"error": "not JSON"}, status=400)
        for alert in payload.get("alerts") or []:
            labels = alert.get("labels") or {}
            self._record_event("alert_notification", status=alert.get("status"),
                               alertname=labels.get("alertname"), region=labels.get("region", ""),
                               labels=labels, starts_at=alert.get("startsAt"), ends_at=alert.get("endsAt"),
                               fingerprint=alert.get("fingerprint"), receiver=payload.get("receiver"))
        return web.json_response({"received": len(payload.get("alerts") or [])})

"""Bookinfo, realised from the Deployments applied to each cluster.

Every Bookinfo Deployment (label ``app`` in productpage/details/reviews/ratings) becomes
one aiohttp server on its cluster's region address and a port of its own.  Calls between
services go over real sockets to the endpoint chosen by the mesh (``router`` callback,
which applies Istio's locality rules), standing in for the sidecar.  Responses say who
served what: ``x-drlab-cluster`` (the cluster that served productpage) and
``x-drlab-backends`` (``details=cluster-1,reviews=cluster-1,ratings=cluster-1``), so
keep-in-cluster can be checked from outside.  A backend nobody can serve shows as
``unavailable`` on the page and in the header, as Bookinfo's own error boxes do.
"""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import dataclass
from typing import Any, Callable

import aiohttp
from aiohttp import web

from .locality import Endpoint

log = logging.getLogger("drlab.bookinfo")

APPS = ("productpage", "details", "reviews", "ratings")
PRODUCT = {"id": 0, "title": "The Comedy of Errors",
           "descriptionHtml": "<a href=\"https://en.wikipedia.org/wiki/The_Comedy_of_Errors\">Wikipedia Summary</a>: "
                              "The Comedy of Errors is one of William Shakespeare's early plays. It is his shortest "
                              "and one of his most farcical comedies, with a major part of the humour coming from "
                              "slapstick and mistaken identity, in addition to puns and word play."}
REVIEWS = [("Reviewer1", "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!"),
           ("Reviewer2", "Absolutely fun and entertaining. The play lacks thematic depth when compared to other "
                         "plays by Shakespeare.")]
STATIC_CSS = "body{font-family:sans-serif;margin:2em}.stars{color:#c00}.blackstars{color:#000}\n" * 20

# (caller cluster id, service fqdn, port, path, request headers) -> endpoint chosen by the mesh, or None
Router = Callable[[str, str, int, str, dict[str, str]], Endpoint | None]


def _cookie_user(cookie: str) -> str:
    for part in cookie.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "session":
            return value
    return ""


@dataclass
class Instance:
    cluster_id: str
    cluster_name: str
    namespace: str
    app: str
    version: str
    address: str
    port: int
    runner: web.AppRunner | None = None


class Bookinfo:
    """All Bookinfo instances of the lab, across clusters."""

    def __init__(self, router: Router):
        self.router = router
        self.instances: dict[tuple[str, str, str], Instance] = {}
        self._session: aiohttp.ClientSession | None = None

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # pooled keep-alive connections between services, as sidecars keep them
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=10),
                timeout=aiohttp.ClientTimeout(total=5))
        return self._session

    async def ensure(self, key: tuple[str, str, str], inst: Instance) -> Instance:
        """Start an instance unless one with this key already runs; return the running one."""
        current = self.instances.get(key)
        if current is not None:
            return current
        app = web.Application()
        app["inst"] = inst
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, inst.address, inst.port, reuse_address=True)
        await site.start()
        if inst.port == 0:
            inst.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        inst.runner = runner
        self.instances[key] = inst
        log.info("bookinfo %s-%s in %s on %s:%s", inst.app, inst.version, inst.cluster_name, inst.address, inst.port)
        return inst

    async def remove(self, key: tuple[str, str, str]) -> None:
        inst = self.instances.pop(key, None)
        if inst is not None and inst.runner is not None:
            await inst.runner.cleanup()

    async def close(self) -> None:
        for key in list(self.instances):
            await self.remove(key)
        if self._session is not None:
            await self._session.close()

    # -- outbound calls (the sidecar's job) --------------------------------------------
    async def call(self, inst: Instance, service: str, path: str, headers: dict[str, str]) -> tuple[
            int, Any, str, dict[str, str]]:
        host = f"{service}.{inst.namespace}.svc.cluster.local"
        fwd = {k: v for k, v in headers.items() if k.lower() in ("cookie", "end-user", "x-request-id", "user-agent")}
        session_user = _cookie_user(headers.get("Cookie") or headers.get("cookie") or "")
        if session_user:
            fwd["end-user"] = session_user  # as Bookinfo's productpage does for a signed-in user
        endpoint = self.router(inst.cluster_id, host, 9080, path, fwd)
        if endpoint is None:
            return 503, None, "unavailable", {}
        try:
            session = await self.session()
            async with session.get(f"http://{endpoint.address}:{endpoint.port}{path}", headers=fwd) as resp:
                body = await resp.json(content_type=None) if resp.status == 200 else None
                return resp.status, body, endpoint.cluster_name, dict(resp.headers)
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return 503, None, "unavailable", {}

    # -- handlers ---------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        inst: Instance = request.app["inst"]
        handler = getattr(self, f"_{inst.app}")
        response = await handler(inst, request)
        response.headers["x-drlab-cluster"] = inst.cluster_name
        response.headers["x-drlab-cluster-id"] = inst.cluster_id
        response.headers["x-drlab-version"] = f"{inst.app}-{inst.version}"
        return response

    async def _details(self, inst: Instance, request: web.Request) -> web.StreamResponse:
        return web.json_response({"id": 0, "author": "William Shakespeare", "year": 1595, "type": "paperback",
                                  "pages": 200, "publisher": "PublisherA", "language": "English",
                                  "ISBN-10": "1234567890", "ISBN-13": "123-1234567890"})

    async def _ratings(self, inst: Instance, request: web.Request) -> web.StreamResponse:
        return web.json_response({"id": 0, "ratings": {"Reviewer1": 5, "Reviewer2": 4}})

    async def _reviews(self, inst: Instance, request: web.Request) -> web.StreamResponse:
        reviews = [{"reviewer": who, "text": text} for who, text in REVIEWS]
        ratings_cluster = "none"
        if inst.version in ("v2", "v3"):
            status, body, ratings_cluster, _ = await self.call(inst, "ratings", "/ratings/0", dict(request.headers))
            color = "black" if inst.version == "v2" else "red"
            for review in reviews:
                if status == 200 and body:
                    review["rating"] = {"stars": body["ratings"].get(review["reviewer"], 0), "color": color}
                else:
                    review["rating"] = {"error": "Ratings service is currently unavailable"}
        response = web.json_response({"id": "0", "podname": f"reviews-{inst.version}", "clustername": inst.cluster_name,
                                      "reviews": reviews})
        response.headers["x-drlab-ratings-cluster"] = ratings_cluster
        return response

    async def _productpage(self, inst: Instance, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path in ("/", "/health"):
            return web.Response(text="Bookinfo productpage (drlab)" if path == "/" else "ok")
        if path.startswith("/static"):
            return web.Response(text=STATIC_CSS, content_type="text/css")
        if path == "/login":
            user = "jason"
            if request.method == "POST":
                form = await request.post()
                user = str(form.get("username") or user)
            response = web.HTTPFound("/productpage")
            response.set_cookie("session", user)
            return response
        if path == "/logout":
            response = web.HTTPFound("/productpage")
            response.del_cookie("session")
            return response
        if path == "/api/v1/products":
            return web.json_response([{"id": 0, "title": PRODUCT["title"],
                                       "descriptionHtml": PRODUCT["descriptionHtml"]}])
        if path.startswith("/api/v1/products/0/"):
            which = path.rsplit("/", 1)[-1]
            if which in ("reviews", "ratings"):
                status, body, cluster, _ = await self.call(inst, which, f"/{which}/0", dict(request.headers))
                response = web.json_response(body or {"error": f"{which} unavailable"}, status=status)
                response.headers["x-drlab-backends"] = f"{which}={cluster}"
                return response
        if path == "/productpage":
            return await self._page(inst, request)
        return web.Response(status=404, text="Not Found")

    async def _page(self, inst: Instance, request: web.Request) -> web.StreamResponse:
        headers = dict(request.headers)
        (d_status, details, d_cluster, _), (r_status, reviews, r_cluster, r_headers) = await asyncio.gather(
            self.call(inst, "details", "/details/0", headers),
            self.call(inst, "reviews", "/reviews/0", headers))
        ratings_cluster = r_headers.get("x-drlab-ratings-cluster", "none") if r_status == 200 else "unknown"
        user = request.cookies.get("session", "")
        parts = ["<html><head><title>Simple Bookstore App</title>"
                 "<link rel=\"stylesheet\" href=\"static/bootstrap/css/bootstrap.min.css\"></head><body>",
                 f"<nav><a href=\"#\">BookInfo Sample</a> {'Signed in as ' + html.escape(user) if user else ''}</nav>",
                 f"<h3>{PRODUCT['title']}</h3><p>Summary: {PRODUCT['descriptionHtml']}</p>"]
        if d_status == 200 and details:
            parts.append("<h4>Book Details</h4><dl>" + "".join(
                f"<dt>{html.escape(str(k))}:</dt><dd>{html.escape(str(v))}</dd>" for k, v in details.items()) + "</dl>")
        else:
            parts.append("<h4>Error fetching product details!</h4><p>Sorry, product details are currently "
                         "unavailable for this book.</p>")
        if r_status == 200 and reviews:
            parts.append("<h4>Book Reviews</h4>")
            for review in reviews["reviews"]:
                stars = ""
                rating = review.get("rating") or {}
                if "stars" in rating:
                    stars = f"<span class=\"{rating['color']}stars\">" + "&#9733;" * rating["stars"] + "</span>"
                elif "error" in rating:
                    stars = f"<p><i>{rating['error']}</i></p>"
                parts.append(f"<blockquote><p>{html.escape(review['text'])}</p>"
                             f"<small>{review['reviewer']}</small>{stars}</blockquote>")
            parts.append(f"<dl><dt>Reviews served by:</dt><dd><u>{reviews.get('podname')}</u>"
                         f" in {reviews.get('clustername')}</dd></dl>")
        else:
            parts.append("<h4>Error fetching product reviews!</h4><p>Sorry, product reviews are currently "
                         "unavailable for this book.</p>")
        parts.append(f"<footer>productpage served by {inst.cluster_name} ({inst.cluster_id})</footer>"
                     "<!-- " + "padding to a realistic page size " * 40 + "--></body></html>")
        response = web.Response(text="\n".join(parts), content_type="text/html")
        response.headers["x-drlab-backends"] = f"details={d_cluster},reviews={r_cluster},ratings={ratings_cluster}"
        if r_status == 200:
            response.headers["x-drlab-reviews"] = r_headers.get("x-drlab-version", "")
        return response

"""The lab token that guards the admin routes (``/__drlab/...`` on the cloud port).

Those routes mint STS credentials, inject faults, force GTM health and show the lab's access key,
so any local process must not be able to call them.  The token lives in ``DIR/admin-token``
(0600, created with the lab directory); ``drlab`` and ``drlab.testing`` read it from there.
Accepted as ``Authorization: Bearer <token>``, or as the password of HTTP Basic auth (any user
name) so that clients which keep passwords out of their logs (Ansible's ``uri`` ``url_password``)
can send it without printing it.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Awaitable, Callable

from aiohttp import web

PREFIX = "/__drlab/"


def presented(request: web.Request) -> str:
    """The token a request carries, or ''."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


def guard(token: str) -> Callable:
    """aiohttp middleware: every admin route needs the lab token (401 without one, 403 when wrong)."""

    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if not request.path.startswith(PREFIX):
            return await handler(request)
        given = presented(request)
        if not given:
            return web.json_response({"error": "the drlab admin API needs the lab token (DIR/admin-token)"},
                                     status=401, headers={"WWW-Authenticate": 'Bearer realm="drlab"'})
        if not hmac.compare_digest(given.encode(), token.encode()):
            return web.json_response({"error": "wrong drlab admin token"}, status=403)
        return await handler(request)

    return middleware


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

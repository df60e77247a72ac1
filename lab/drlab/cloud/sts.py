"""Temporary (STS) credentials issued by the lab, and their check on every signed request.

The real STS ``AssumeRole`` returns ``Credentials{AccessKeyId "STS.…", AccessKeySecret,
SecurityToken, Expiration}``; callers then sign with the temporary key and send the token
(ACS3: ``x-acs-security-token`` header; v1: ``SecurityToken`` query parameter).  The lab has
no RAM roles, so an admin route (``POST /__drlab/sts``, ``drlab sts``) plays AssumeRole.

Durations: the real service takes 900-43200 s.  The lab also accepts 1-899 s so tests can
watch a token expire without waiting 15 minutes; that is a lab-only allowance.

Issued credentials live in the cloud state (``sts`` key of ``DIR/state/cloud.json``), so they
survive a restart like any other cloud object.  Expired ones are kept for a day so a caller
still gets ``InvalidSecurityToken.Expired`` rather than an unknown key, then dropped.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import string
import time
from typing import Any

from . import errors
from .ids import iso_seconds

PREFIX = "STS."
TOKEN_PREFIX = "CAIS"  # noqa: S105 - a format prefix (real STS tokens start so), not a secret
TOKEN_BYTES = 240       # real tokens are several hundred characters; keep the lab's in that range
MIN_DURATION, MAX_DURATION, DEFAULT_DURATION = 1, 43200, 3600
REAL_MIN_DURATION = 900
KEEP_EXPIRED = 24 * 3600
_ALNUM = string.ascii_letters + string.digits


def _random_text(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def well_formed(token: str) -> bool:
    """Whether ``token`` has the shape of a token the lab issues (prefix + base64 payload)."""
    if not token.startswith(TOKEN_PREFIX):
        return False
    try:
        return len(base64.b64decode(token[len(TOKEN_PREFIX):], validate=True)) == TOKEN_BYTES
    except (binascii.Error, ValueError):
        return False


class StsIssuer:
    """Issues temporary credentials into ``data`` (the persisted cloud state) and checks them."""

    def __init__(self, data: dict[str, Any]):
        self.creds: dict[str, dict[str, Any]] = data.setdefault("sts", {})

    def issue(self, duration: int = DEFAULT_DURATION) -> dict[str, str]:
        if not MIN_DURATION <= duration <= MAX_DURATION:
            raise ValueError(f"duration_seconds must be between {MIN_DURATION} and {MAX_DURATION}")
        self._purge()
        now = time.time()
        access_key_id = PREFIX + _random_text(28)
        entry = {
            "secret": _random_text(44),
            "token": TOKEN_PREFIX + base64.b64encode(secrets.token_bytes(TOKEN_BYTES)).decode(),
            "issued": now,
            "expires": now + duration,
        }
        self.creds[access_key_id] = entry
        return {"AccessKeyId": access_key_id, "AccessKeySecret": entry["secret"], "SecurityToken": entry["token"],
                "Expiration": iso_seconds(entry["expires"])}

    def secret_for(self, access_key_id: str) -> str | None:
        entry = self.creds.get(access_key_id)
        return entry["secret"] if entry else None

    def check(self, access_key_id: str, token: str | None) -> None:
        """Raise the gateway's error unless ``token`` is the live token issued with ``access_key_id``."""
        entry = self.creds.get(access_key_id)
        if entry is None:
            raise errors.unknown_access_key()
        if not token:
            raise errors.sts_token_missing()
        if not well_formed(token):
            raise errors.sts_token_malformed()
        if not hmac.compare_digest(token, entry["token"]):
            raise errors.sts_token_mismatch()
        if time.time() >= entry["expires"]:
            raise errors.sts_token_expired()

    def live_count(self) -> int:
        now = time.time()
        return sum(1 for entry in self.creds.values() if entry["expires"] > now)

    def _purge(self) -> None:
        cutoff = time.time() - KEEP_EXPIRED
        for key in [k for k, entry in self.creds.items() if entry["expires"] < cutoff]:
            del self.creds[key]

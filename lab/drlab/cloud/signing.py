"""Verify Alibaba OpenAPI request signatures the way the cloud gateway does.

Two schemes reach an RPC endpoint (facts: shared/reference/alibaba-openapi.md §2):

* ACS3-HMAC-SHA256 (the SDKs' default): ``Authorization: ACS3-HMAC-SHA256
  Credential=AK,SignedHeaders=a;b,Signature=hex``; the canonical request covers the
  method, path, sorted query, the signed headers and sha256(body).
* v1 (``signature_algorithm='v2'`` in the SDK config): HMAC-SHA1 over every query and
  form parameter, carried in the ``Signature`` query parameter.

The server re-derives the canonical forms from what it received, so a client that
signs something other than what it sends is rejected, as in the cloud.  Nonces are
remembered for the timestamp window to refuse replays.  A security token (STS), when the
request carries one, is handed with the access key id to ``check_token`` once the
signature proves the caller holds the matching secret.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import quote, quote_plus

from . import errors

ACS3 = "ACS3-HMAC-SHA256"
WINDOW = 15 * 60  # seconds of clock skew and nonce memory, as the gateway allows


@dataclass
class SignedRequest:
    method: str
    path: str
    query: list[tuple[str, str]]       # decoded, in arrival order
    form: list[tuple[str, str]]        # decoded form body (v1 signs it too)
    headers: Mapping[str, list[str]]   # lower-case name -> values as received
    body: bytes


def _canonical_query(pairs: list[tuple[str, str]]) -> str:
    # Same rule as tea-openapi: keys as-is, values percent-encoded with only "~" safe.
    return "&".join(f"{k}={quote(v, safe='~')}" for k, v in sorted(pairs, key=lambda kv: kv[0]))


def _parse_time(value: str, fmt: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(value, fmt)))
    except ValueError:
        return None


class Verifier:
    def __init__(self, secret_for: Callable[[str], str | None],
                 check_token: Callable[[str, str | None], None] | None = None):
        self._secret_for = secret_for
        self._check_token = check_token  # (access_key_id, token or None) -> None, or raises ApiError
        self._nonces: dict[str, float] = {}

    def verify(self, req: SignedRequest) -> str:
        """Return the access key id of a correctly signed request, or raise ApiError."""
        auth = (req.headers.get("authorization") or [""])[0]
        if auth.startswith("ACS3-"):
            return self._verify_acs3(req, auth)
        params = dict(req.query)
        if "Signature" in params:
            return self._verify_v1(req, params)
        raise errors.missing("Authorization")

    # -- replay and clock -------------------------------------------------------
    def _check_fresh(self, stamp: float | None, nonce: str | None) -> None:
        now = time.time()
        if stamp is None or abs(now - stamp) > WINDOW:
            raise errors.timestamp_expired()
        if not nonce:
            raise errors.missing("SignatureNonce")
        for old, seen in list(self._nonces.items()):
            if now - seen > WINDOW:
                del self._nonces[old]
        if nonce in self._nonces:
            raise errors.nonce_used()
        self._nonces[nonce] = now

    def _secret(self, access_key_id: str) -> str:
        secret = self._secret_for(access_key_id)
        if secret is None:
            raise errors.unknown_access_key()
        return secret

    def _token(self, access_key_id: str, token: str | None) -> None:
        if self._check_token is not None:
            self._check_token(access_key_id, token)

    # -- ACS3 ------------------------------------------------------------------
    def _verify_acs3(self, req: SignedRequest, auth: str) -> str:
        algorithm, _, rest = auth.partition(" ")
        if algorithm != ACS3:
            raise errors.incomplete_signature(f"Unsupported signature algorithm {algorithm} (drlab checks {ACS3}).")
        fields = {}
        for part in rest.split(","):
            key, sep, value = part.strip().partition("=")
            if sep:
                fields[key] = value
        if not all(fields.get(k) for k in ("Credential", "SignedHeaders", "Signature")):
            raise errors.incomplete_signature("Authorization needs Credential, SignedHeaders and Signature.")
        secret = self._secret(fields["Credential"])
        signed = fields["SignedHeaders"].split(";")
        for required in ("host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce",
                         "x-acs-content-sha256"):
            if required not in signed:
                raise errors.incomplete_signature(f"Header {required} must be signed.")
        payload_hash = hashlib.sha256(req.body).hexdigest()
        claimed = (req.headers.get("x-acs-content-sha256") or [""])[0]
        if claimed.lower() != payload_hash:
            raise errors.incomplete_signature("x-acs-content-sha256 does not match the request body.")
        lines = []
        for name in signed:
            values = req.headers.get(name)
            if values is None:
                raise errors.incomplete_signature(f"Signed header {name} is missing from the request.")
            lines.append(f"{name}:{','.join(sorted(v.strip() for v in values))}\n")
        canonical = "\n".join([
            req.method.upper(), req.path or "/", _canonical_query(req.query),
            "".join(lines), ";".join(signed), payload_hash,
        ])
        string_to_sign = f"{ACS3}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        expected = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields["Signature"].lower()):
            raise errors.signature_mismatch(string_to_sign.replace("\n", "#"))
        token = (req.headers.get("x-acs-security-token") or [None])[0]
        if token is not None and "x-acs-security-token" not in signed:
            raise errors.incomplete_signature("Header x-acs-security-token must be signed.")
        self._token(fields["Credential"], token)
        stamp = _parse_time((req.headers.get("x-acs-date") or [""])[0], "%Y-%m-%dT%H:%M:%SZ")
        self._check_fresh(stamp, (req.headers.get("x-acs-signature-nonce") or [""])[0])
        return fields["Credential"]

    # -- v1 (HMAC-SHA1) -----------------------------------------------------------
    def _verify_v1(self, req: SignedRequest, params: dict[str, str]) -> str:
        for name in ("AccessKeyId", "SignatureMethod", "SignatureNonce", "Timestamp"):
            if not params.get(name):
                raise errors.missing(name)
        if params["SignatureMethod"] != "HMAC-SHA1":
            raise errors.incomplete_signature(f"Unsupported SignatureMethod {params['SignatureMethod']}.")
        secret = self._secret(params["AccessKeyId"])
        signed = [(k, v) for k, v in [*req.query, *req.form] if k != "Signature"]
        canonical = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}"
                             for k, v in sorted(signed, key=lambda kv: kv[0]))
        string_to_sign = f"{req.method.upper()}&%2F&{quote_plus(canonical, safe='~')}"
        digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), params["Signature"]):
            raise errors.signature_mismatch(string_to_sign)
        self._token(params["AccessKeyId"], params.get("SecurityToken"))
        self._check_fresh(_parse_time(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ"), params["SignatureNonce"])
        return params["AccessKeyId"]

"""Alibaba OpenAPI errors in the real wire shape.

Clients branch on the HTTP status (4xx -> ClientException, 5xx -> ServerException in
tea-openapi) and on ``Code``, so both must match what the cloud sends.  The body carries
``RequestId``, ``HostId``, ``Code``, ``Message`` and ``Recommend`` like the real gateway.
Codes whose exact value is not documented publicly are marked "inferred" where raised.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self, request_id: str, host_id: str, product: str) -> dict[str, Any]:
        return {
            "RequestId": request_id,
            "HostId": host_id,
            "Code": self.code,
            "Message": self.message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={self.code}&product={product}&requestId={request_id}",
        }


def missing(name: str) -> ApiError:
    return ApiError(400, "MissingParameter",
                    f'The input parameter "{name}" that is mandatory for processing this request is not supplied.')


def invalid(name: str, value: Any, allowed: Any = None) -> ApiError:
    hint = f" Valid values: {', '.join(map(str, allowed))}." if allowed else ""
    return ApiError(400, "InvalidParameter", f'The specified parameter "{name}" value "{value}" is not valid.{hint}')


# -- gateway-level errors (same for every product) --------------------------------
def signature_mismatch(string_to_sign: str) -> ApiError:
    # The real gateway echoes its string-to-sign so callers can debug their signer; it holds no secret.
    return ApiError(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation. "
                                                  f"server string to sign is:{string_to_sign}")


def incomplete_signature(detail: str) -> ApiError:
    return ApiError(400, "IncompleteSignature", f"The request signature does not conform to Aliyun standards. {detail}")


def unknown_access_key() -> ApiError:
    return ApiError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")


def nonce_used() -> ApiError:
    return ApiError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")


def timestamp_expired() -> ApiError:
    return ApiError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")


def unknown_action(action: str, version: str) -> ApiError:
    return ApiError(404, "InvalidAction.NotFound",
                    f"Specified api is not found, please check your url and method. "
                    f"(drlab emulates a subset of version {version}; {action} is not in it)")


def unknown_version(version: str) -> ApiError:
    return ApiError(400, "InvalidVersion", f"Specified parameter Version is not valid: {version}")


def throttled() -> ApiError:
    return ApiError(400, "Throttling.User", "Request was denied due to user flow control.")


def internal_error() -> ApiError:
    return ApiError(500, "InternalError",
                    "The request processing has failed due to some unknown error, exception or failure.")


def service_unavailable() -> ApiError:
    return ApiError(503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.")


# -- temporary (STS) credentials: codes, messages and status as the gateway's error tables list them;
# MissingSecurityToken (a temporary key sent without its token) is named in Alibaba's SDK FAQ, its
# message and status are inferred.
def sts_token_missing() -> ApiError:
    return ApiError(400, "MissingSecurityToken",
                    "SecurityToken is mandatory for this action when signing with a temporary AccessKey.")


def sts_token_malformed() -> ApiError:
    return ApiError(400, "InvalidSecurityToken.Malformed", "Specified SecurityToken is malformed.")


def sts_token_mismatch() -> ApiError:
    return ApiError(400, "InvalidSecurityToken.MismatchWithAccessKey",
                    "Specified SecurityToken mismatch with the AccessKey.")


def sts_token_expired() -> ApiError:
    return ApiError(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")

"""Identifier and timestamp formats the cloud uses, so clients see familiar shapes."""

from __future__ import annotations

import secrets
import time


def mesh_id() -> str:
    return "c" + secrets.token_hex(16)  # ASM ids are "c" + 32 hex, like ACK cluster ids


def numeric(prefix: str, digits: int = 18) -> str:
    # GTM 3.0 ids look like "addr-895182181143680000": prefix plus a long decimal number.
    return prefix + str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1))


def iso_seconds(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def iso_minutes(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(ts))  # GTM 3.0 CreateTime/UpdateTime format


def millis(ts: float) -> int:
    return int(ts * 1000)

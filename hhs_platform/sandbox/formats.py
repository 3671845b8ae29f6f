"""Wire formats the platforms use: timestamps, durations, rounded figures, page tokens."""

from __future__ import annotations

import base64
from datetime import UTC, datetime


def round_3_significant(n: int) -> int:
    """Round down to 3 significant figures as YouTube serves subscriberCount (1927873 → 1920000)."""
    if n < 1000:
        return n
    factor = 10 ** (len(str(n)) - 3)
    return n // factor * factor


def iso_ms(dt: datetime) -> str:
    """Bluesky's timestamp format: UTC with milliseconds and ``Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def iso_s(dt: datetime) -> str:
    """YouTube's timestamp format: UTC to the second with ``Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_duration(seconds: int) -> str:
    """ISO-8601 duration as contentDetails.duration gives it (``PT3M21S``, ``PT1H``)."""
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    out = "PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "")
    return out + (f"{s}S" if s or not (h or m) else "")


def page_token(offset: int, backwards: bool = False) -> str:
    """A page token in YouTube's format: protobuf {1: offset, 2: direction}, base64 (``CAoQAA``)."""
    raw = bytearray([0x08])
    n = offset
    while True:
        byte, n = n & 0x7F, n >> 7
        raw.append(byte | (0x80 if n else 0))
        if not n:
            break
    raw += bytes([0x10, 1 if backwards else 0])
    return base64.b64encode(bytes(raw)).decode().rstrip("=")


def parse_page_token(token: str) -> tuple[int, bool]:
    """Decode ``page_token``; ValueError if it is not one."""
    raw = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    if len(raw) < 4 or raw[0] != 0x08:
        raise ValueError(token)
    offset, shift, i = 0, 0, 1
    while True:
        byte = raw[i]
        offset |= (byte & 0x7F) << shift
        shift += 7
        i += 1
        if not byte & 0x80:
            break
    if raw[i:] not in (b"\x10\x00", b"\x10\x01"):
        raise ValueError(token)
    return offset, raw[i + 1] == 1

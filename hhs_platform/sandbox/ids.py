"""Stable seeded randomness and the platforms' id formats (DIDs, TIDs, CIDs, YouTube ids)."""

from __future__ import annotations

import base64
import hashlib
import random
from datetime import datetime

_B32_LOWER = "abcdefghijklmnopqrstuvwxyz234567"
# atproto TIDs use a sortable base32 alphabet so that record keys sort by time.
_B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def stable_hash(*parts: object) -> int:
    """A 64-bit hash of ``parts`` that is the same in every process (unlike ``hash()``)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def stable_rng(*parts: object) -> random.Random:
    """A ``random.Random`` seeded from ``parts`` through ``stable_hash``."""
    return random.Random(stable_hash(*parts))


def unit(*parts: object) -> float:
    """A uniform number in [0, 1) fixed by ``parts``."""
    return stable_hash(*parts) / 2**64


def did_plc(rng: random.Random) -> str:
    """A ``did:plc:`` identifier (24 lowercase base32 characters)."""
    return "did:plc:" + "".join(rng.choice(_B32_LOWER) for _ in range(24))


def tid(instant: datetime, clock_id: int) -> str:
    """An atproto TID record key: microseconds since 1970 and a 10-bit clock id, 13 characters."""
    micros = int(instant.timestamp() * 1_000_000)
    value = (micros << 10) | (clock_id & 0x3FF)
    chars = []
    for _ in range(13):
        chars.append(_B32_SORTABLE[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


def _cid(codec: int, *parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    raw = bytes([0x01, codec, 0x12, 0x20]) + digest
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def record_cid(*parts: object) -> str:
    """A CIDv1 (dag-cbor, sha-256) like the ``bafyrei...`` ids of records."""
    return _cid(0x71, *parts)


def blob_cid(*parts: object) -> str:
    """A CIDv1 (raw, sha-256) like the ``bafkrei...`` ids of blobs (images, videos)."""
    return _cid(0x55, *parts)


def youtube_channel_id(rng: random.Random) -> str:
    """A ``UC`` channel id: 22 base64url characters encoding 128 bits."""
    body = "".join(rng.choice(_B64URL) for _ in range(21))
    return "UC" + body + rng.choice("AQgw")


def youtube_video_id(rng: random.Random) -> str:
    """An 11-character video id (64 bits of base64url, so the last character is restricted)."""
    body = "".join(rng.choice(_B64URL) for _ in range(10))
    return body + rng.choice("AEIMQUYcgkosw048")


def etag(*parts: object) -> str:
    """A 27-character etag derived from the content it tags."""
    digest = hashlib.sha1("\x1f".join(str(p) for p in parts).encode()).digest()  # noqa: S324
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")

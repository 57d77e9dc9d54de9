"""
sid.py - a session cookie's parts and the names it has in Redis, derived as
app/tier/sid.c derives them: the cookie is base64url(key id || 32-byte ID
|| MAC); the session is named base64url(BLAKE2b-128(ID)), its record is
PREFIX s:{that name}.
"""

import base64
import hashlib
import re

from .core import check, check_eq

B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def b64u(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_cookie(value):
    """(key id, 32-byte ID, MAC) of a session cookie value."""
    check(isinstance(value, str) and len(value) == 87 and B64URL.match(value),
          f"session cookie {value!r} is not 87 characters of base64url")
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    check_eq(len(raw), 65, "decoded session cookie length (key id, ID, MAC)")
    return raw[0], raw[1:33], raw[33:]


def session_hash(value):
    """The name of a session in Redis and in its user's session list."""
    return b64u(hashlib.blake2b(decode_cookie(value)[1], digest_size=16).digest())


def record_key(prefix, h):
    """The Redis key of the record of the session named h."""
    return f"{prefix}s:{{{h}}}"

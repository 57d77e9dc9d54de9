"""
sid.py - a session cookie's parts and the names it has in Redis, derived as
app/tier/sid.c derives them: the cookie of a signed-in session is
base64url(key id || 32-byte ID || MAC), 87 characters; a guest's or a
"remember me" session's carries its kind after the key id, 88 characters.
The session is named base64url(BLAKE2b-128(ID)), its record is
PREFIX s:{that name}.
"""

import base64
import hashlib
import re

from .core import check, check_eq

B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def b64u(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


KINDS = {0: "user", 1: "guest", 2: "remembered"}


def decode_cookie(value):
    """(key id, 32-byte ID, MAC) of a session cookie value."""
    return decode_cookie_kind(value)[1:]


def decode_cookie_kind(value):
    """(kind, key id, 32-byte ID, MAC) of a session cookie value; kind is
    "user", "guest" or "remembered"."""
    check(isinstance(value, str) and len(value) in (87, 88) and B64URL.match(value),
          f"session cookie {value!r} is not 87 or 88 characters of base64url")
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if len(raw) == 65:
        return "user", raw[0], raw[1:33], raw[33:]
    check_eq(len(raw), 66, "decoded session cookie length (key id, kind, ID, MAC)")
    check(raw[1] in (1, 2), f"session cookie kind byte {raw[1]}")
    return KINDS[raw[1]], raw[0], raw[2:34], raw[34:]


def session_hash(value):
    """The name of a session in Redis and in its user's session list."""
    return b64u(hashlib.blake2b(decode_cookie(value)[1], digest_size=16).digest())


def record_key(prefix, h):
    """The Redis key of the record of the session named h."""
    return f"{prefix}s:{{{h}}}"

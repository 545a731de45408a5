"""Cheap checks that turn a pattern match into a finding: entropy, character mixes, checksums, JWT headers.

Used by the rules (`proxy.secrets.rules`) after the scanner's prefilter found a candidate: a regex alone says a
string has a token's shape, these say it is random enough, or carries a vendor's checksum, to be a real one.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections import Counter
from typing import Final

from proxy.translate.codec import DecodeError, loads

BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_VALUE: Final = {c: i for i, c in enumerate(BASE62)}
# Words that mark a value as an example or a stand-in rather than a credential (AWS's documented keys end in
# EXAMPLE; docs write "your-api-key-here").
_STAND_INS: Final = (
    "example", "xxxxxx", "your", "placeholder", "redacted", "changeme", "dummy", "sample", "mock", "fake",
)  # fmt: skip


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    if not text:
        return 0.0
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values())


def mixed(text: str, *, classes: int = 2) -> bool:
    """At least `classes` of: lower-case letters, upper-case letters, digits."""
    found = 0
    if any(c.islower() for c in text):
        found += 1
    if any(c.isupper() for c in text):
        found += 1
    if any(c.isdigit() for c in text):
        found += 1
    return found >= classes


def random_enough(text: str, *, minimum: float = 3.0) -> bool:
    """Entropy of at least `minimum` bits per character, scaled down for short strings, whose entropy cannot reach
    that of a long random one (16 characters hold at most 4 bits each)."""
    if len(text) < 8:
        return False
    ceiling = math.log2(len(text))
    return entropy(text) >= min(minimum, ceiling - 1.2)


def stand_in(text: str) -> bool:
    """The value reads as an example or a template (AKIAIOSFODNN7EXAMPLE, sk-your-key-here, ${TOKEN})."""
    lowered = text.lower()
    if any(word in lowered for word in _STAND_INS):
        return True
    return "${" in text or "{{" in text or "%(" in text or text.startswith(("<", "$"))


def base62_checksum(body: str) -> bool:
    """GitHub's and npm's token format: 30 random base62 characters, then the CRC32 of those 30 in 6 base62
    digits (most significant first)."""
    if len(body) != 36:
        return False
    value = 0
    for char in body[30:]:
        digit = _BASE62_VALUE.get(char)
        if digit is None:
            return False
        value = value * 62 + digit
    return value == binascii.crc32(body[:30].encode("ascii", "replace"))


def base62_encode(value: int, width: int) -> str:
    """`value` in base62, left-padded with zeros to `width` digits (tests build checksummed tokens with it)."""
    digits = []
    while value:
        value, rest = divmod(value, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def jwt_header(token: str) -> bool:
    """The first segment of a JWT decodes to a JSON object naming an algorithm."""
    head = token.split(".", 1)[0]
    try:
        raw = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
        header = loads(raw)
    except (binascii.Error, ValueError, DecodeError):
        return False
    return isinstance(header, dict) and "alg" in header

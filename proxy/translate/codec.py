"""JSON in and out of the translation layer.

Every module of `proxy.translate` encodes and decodes through these two functions so the wire stays compact
(no spaces, UTF-8 kept as is) and the codec can be changed in one place. msgspec is several times faster than
the standard library on the small objects a stream is made of.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

JsonDict = dict[str, Any]

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()

DecodeError = msgspec.DecodeError


# Bound methods, not wrappers: these run several times per streamed event.
dumps: Callable[[Any], bytes] = _encoder.encode
loads: Callable[[bytes | str], Any] = _decoder.decode  # raises DecodeError (a ValueError) on bad JSON


def dumps_str(value: Any) -> str:
    return _encoder.encode(value).decode()

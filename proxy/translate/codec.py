"""JSON in and out of the translation layer.

Every module of `proxy.translate` encodes and decodes through these two functions so the wire stays compact
(no spaces, UTF-8 kept as is) and the codec can be changed in one place. msgspec is several times faster than
the standard library on the small objects a stream is made of.
"""

from __future__ import annotations

from typing import Any

import msgspec

JsonDict = dict[str, Any]

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()

DecodeError = msgspec.DecodeError


def dumps(value: Any) -> bytes:
    return _encoder.encode(value)


def dumps_str(value: Any) -> str:
    return _encoder.encode(value).decode()


def loads(data: bytes | str) -> Any:
    """Decode JSON; raises `DecodeError` (a ValueError) when `data` is not JSON."""
    return _decoder.decode(data)

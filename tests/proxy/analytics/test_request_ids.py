"""Request ids: 32 hex digits, unique, read from the random source a block at a time."""

from __future__ import annotations

import os
import re

import pytest

from proxy.analytics.record import RequestIds


def test_ids_are_32_hex_digits_and_unique_across_blocks() -> None:
    ids = RequestIds(batch=4)
    made = [ids.next() for _ in range(41)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in made)
    assert len(set(made)) == len(made)


def test_one_read_of_the_random_source_serves_a_block(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    real = os.urandom

    def urandom(size: int) -> bytes:
        reads.append(size)
        return real(size)

    monkeypatch.setattr(os, "urandom", urandom)
    ids = RequestIds(batch=8)
    for _ in range(17):
        ids.next()
    assert reads == [128, 128, 128]

"""The incremental NDJSON line splitter."""

from __future__ import annotations

from proxy.translate.ndjson import NdjsonParser


def test_lines_come_out_when_complete_without_line_breaks() -> None:
    parser = NdjsonParser()
    assert parser.feed(b'{"a":') == []
    assert parser.pending
    assert parser.feed(b'1}\r\n{"b":2}\n\n  \n{"c"') == [b'{"a":1}', b'{"b":2}']
    assert parser.feed(b":3}") == []
    assert parser.close() == [b'{"c":3}']
    assert not parser.pending


def test_every_cut_gives_the_same_lines() -> None:
    data = '{"x":"wörld"}\n{"y":2}\n'.encode()
    for cut in range(len(data) + 1):
        parser = NdjsonParser()
        assert parser.feed(data[:cut]) + parser.feed(data[cut:]) + parser.close() == [
            '{"x":"wörld"}'.encode(),
            b'{"y":2}',
        ]

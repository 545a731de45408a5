"""The incremental SSE parser and encoder."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.translate.sse import SseEvent, SseFrame, SseParser, encode_event


def parse(*chunks: bytes) -> list[SseEvent]:
    parser = SseParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events + parser.close()


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_every_line_ending_gives_the_same_events(newline: bytes) -> None:
    data = b"event: ping\ndata: {}\n\ndata: a\ndata: b\n\n".replace(b"\n", newline)
    assert parse(data) == [SseEvent("ping", "{}"), SseEvent("message", "a\nb")]


def test_crlf_split_between_two_chunks_is_one_line_break() -> None:
    # A naive parser sees CR, then LF as a second (blank) line, and dispatches "a" alone.
    assert parse(b"data: a\r", b"\ndata: b\r\n\r\n") == [SseEvent("message", "a\nb")]


def test_comments_are_ignored() -> None:
    assert parse(b": keep-alive\n\n:another\ndata: x\n: inside\n\n") == [SseEvent("message", "x")]


def test_event_without_data_dispatches_nothing_and_does_not_leak_its_name() -> None:
    assert parse(b"event: ping\n\ndata: x\n\n") == [SseEvent("message", "x")]


def test_field_forms() -> None:
    data = b"data:no-space\ndata\ndata:  two spaces\nid: 7\nretry: 100\nunknown: y\n\n"
    assert parse(data) == [SseEvent("message", "no-space\n\n two spaces", "7")]


def test_id_persists_across_events() -> None:
    assert parse(b"id: 1\ndata: a\n\ndata: b\n\n") == [SseEvent("message", "a", "1"), SseEvent("message", "b", "1")]


def test_byte_order_mark_at_the_start_is_skipped() -> None:
    assert parse(b"\xef\xbb", b"\xbfdata: x\n\n") == [SseEvent("message", "x")]


def test_utf8_character_split_between_chunks() -> None:
    data = "data: wörld ✓\n\n".encode()
    for cut in range(1, len(data)):
        assert parse(data[:cut], data[cut:]) == [SseEvent("message", "wörld ✓")]


def test_event_is_returned_by_the_chunk_that_completes_it() -> None:
    parser = SseParser()
    assert parser.feed(b"data: a\n") == []
    assert parser.pending
    assert parser.feed(b"\n") == [SseEvent("message", "a")]
    assert not parser.pending


def test_close_dispatches_an_event_missing_only_its_blank_line() -> None:
    assert parse(b"data: [DONE]\n") == [SseEvent("message", "[DONE]")]


def test_close_drops_a_line_cut_off_by_the_end_of_the_stream() -> None:
    assert parse(b'data: {"a": 1}\n\ndata: {"b"') == [SseEvent("message", '{"a": 1}')]


def test_frames_carry_their_exact_bytes_including_keep_alives() -> None:
    data = b": ping\r\n\r\nevent: x\r\ndata: 1\r\n\r\ndata: 2\n\n"
    parser = SseParser()
    frames = parser.feed_frames(data[:5]) + parser.feed_frames(data[5:]) + parser.close_frames()
    assert [frame.raw for frame in frames] == [b": ping\r\n\r\n", b"event: x\r\ndata: 1\r\n\r\n", b"data: 2\n\n"]
    assert [frame.event for frame in frames] == [None, SseEvent("x", "1"), SseEvent("message", "2")]


@given(
    st.lists(
        st.tuples(st.sampled_from([None, "x", "content_block_delta"]), st.text(min_size=0, max_size=30)),
        max_size=8,
    ),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
)
def test_encoded_events_parse_back_whatever_the_cuts(
    events: list[tuple[str | None, str]], newline: str, cuts: list[int]
) -> None:
    data = b"".join(encode_event(text, name) for name, text in events).replace(b"\n", newline.encode())
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    normalised = [(name or "message", text.replace("\r\n", "\n").replace("\r", "\n")) for name, text in events]
    assert [(event.event, event.data) for event in parse(*chunks)] == normalised

    parser = SseParser()
    frames = [frame for chunk in chunks for frame in parser.feed_frames(chunk)] + parser.close_frames()
    assert b"".join(frame.raw for frame in frames) == data


def test_encode_event_splits_multi_line_data() -> None:
    assert encode_event("a\nb", "e") == b"event: e\ndata: a\ndata: b\n\n"
    assert encode_event("{}") == b"data: {}\n\n"


class _LineByLine(SseParser):
    """The parser without its whole-frame shortcut: every byte goes through the line rules."""

    def data_frames(self, chunk: bytes) -> tuple[list[bytes], bytes]:
        return [], chunk


_SSE_PIECES = st.sampled_from(
    [
        b"data: ",
        b"data:",
        b'{"a": 1}',
        b"[DONE]",
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b": ping",
        b"event: x",
        b"id: 7",
        b"d",
        b"\xc3\xa9",
        b"\xef\xbb\xbf",
    ]
)


@given(
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\xef", b"data: first\n\n", b"\xef\xbb\xbfdata: first\n\n"]),
    st.lists(_SSE_PIECES, max_size=40),
    st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_whole_frames_taken_at_once_read_as_they_would_line_by_line(
    start: bytes, pieces: list[bytes], cuts: list[int]
) -> None:
    data = start + b"".join(pieces)
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    bounds = [0, *points, len(data)]
    chunks = [data[a:b] for a, b in itertools.pairwise(bounds)]
    fast, slow = SseParser(), _LineByLine()
    for chunk in chunks:
        assert fast.feed_frames(chunk) == slow.feed_frames(chunk)
    assert fast.close_frames() == slow.close_frames()


def test_a_chunk_of_whole_data_frames_is_taken_frame_by_frame() -> None:
    parser = SseParser()
    # The stream's first chunk too, when it cannot start with a BOM.
    assert parser.data_frames(b"data: 0\n\n") == ([b"data: 0"], b"")
    assert SseParser().data_frames(b"\xef\xbb\xbfdata: 0\n\n") == ([], b"\xef\xbb\xbfdata: 0\n\n")
    parser = SseParser()
    assert parser.feed_frames(b"data: 0\n\n") == [SseFrame(b"data: 0\n\n", SseEvent("message", "0"))]
    frames = parser.feed_frames(b'data: {"a":1}\n\ndata:[DONE]\n\n: ping\n\ndata: x\n')
    assert [frame.raw for frame in frames] == [b'data: {"a":1}\n\n', b"data:[DONE]\n\n", b": ping\n\n"]
    assert [frame.event for frame in frames] == [SseEvent("message", '{"a":1}'), SseEvent("message", "[DONE]"), None]
    assert parser.close_frames() == [SseFrame(b"data: x\n\n", SseEvent("message", "x"))]

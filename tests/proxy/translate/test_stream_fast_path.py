"""The shortcuts of a same-format stream's pass-through: whole `data:` frames of an OpenAI stream taken at once, a
chunk of them decoded as one JSON array, chunks decoded into typed structs, and a chunk of whole Anthropic frames
decoded as one array. Whatever the frames and wherever the stream is cut, the client gets the same bytes and
analytics the same usage, text, stop reason and error as through the line-by-line parser and the plain-objects
decoding."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.translate import StreamTranslator, stamps
from proxy.translate import openai_stream as openai_stream_module
from proxy.translate.codec import DecodeError
from proxy.translate.outcome import Usage
from proxy.translate.sse import SseParser
from reconciler.models import ApiFormat

OPENAI = ApiFormat.OPENAI
ANTHROPIC = ApiFormat.ANTHROPIC


class _LineByLine(SseParser):
    def _between_frames(self) -> bool:
        return False


def _chunk(**fields: object) -> bytes:
    return b"data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk", **fields}).encode() + b"\n\n"


_TEXT = st.text(max_size=12).map(lambda text: _chunk(choices=[{"index": 0, "delta": {"content": text}}]))
_FRAMES = st.one_of(
    _TEXT,
    st.sampled_from(
        [
            _chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "length"}]),
            _chunk(choices=[], usage={"prompt_tokens": 5, "completion_tokens": 7}),
            _chunk(
                choices=[{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f"}}]}}]
            ),
            _chunk(choices=[{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}]),
            _chunk(choices=[{"index": 0, "text": "legacy"}]),
            _chunk(choices=[{"index": 0, "delta": {"content": 5}}]),
            _chunk(choices=[{"index": 0, "delta": {"content": ["part"], "refusal": 1}, "text": 2}]),
            _chunk(choices=[{"index": 0, "delta": "not an object", "text": "t"}]),
            _chunk(choices="not a list"),
            _chunk(choices=[{"index": 0, "delta": {"content": "x"}}, 3]),
            _chunk(usage=None, choices=[{"delta": {"refusal": "no"}}]),
            _chunk(error={"message": "overloaded"}),
            b"data: [1, 2]\n\n",
            b"data: not json\n\n",
            b": keep-alive\n\n",
            b"event: other\ndata: {}\n\n",
            b'data: {"choices": []}\r\n\r\n',
            b'data:{"choices": [], "usage": {"prompt_tokens": 1}}\n\n',
            b'data: {"choices":\n[]}\n\n',
            b"data: \n\n",
            b'data:  {"choices": [{"delta": {"content": "two spaces"}}]}\n\n',
            b"data: [DONE] \n\n",
            b"data: [DONE]\n\n",
        ]
    ),
)


def _cut(frames: list[bytes], cuts: list[int]) -> list[bytes]:
    data = b"".join(frames)
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[a:b] for a, b in itertools.pairwise([0, *points, len(data)])]


def _run(
    chunks: list[bytes], *, fast: bool, include_usage: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[object, ...]:
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(openai_stream_module, "_decode_chunk", _refuse)
        translator = StreamTranslator(OPENAI, OPENAI, model="m", include_usage=include_usage, keep_text=True)
        if not fast:
            translator._sse = _LineByLine()
        out = b"".join(translator.feed(chunk) for chunk in chunks) + translator.close()
    return (out, translator.usage, translator.text, translator.stop_reason, translator.error, translator.complete)


def _refuse(data: bytes | str) -> None:
    raise DecodeError("typed decoding is off")


@given(st.lists(_FRAMES, max_size=12), st.lists(st.integers(min_value=0, max_value=3000), max_size=6), st.booleans())
def test_the_shortcuts_change_nothing_the_client_or_analytics_see(
    frames: list[bytes], cuts: list[int], include_usage: bool
) -> None:
    chunks = _cut(frames, cuts)
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast = _run(chunks, fast=True, include_usage=include_usage, monkeypatch=monkeypatch)
        slow = _run(chunks, fast=False, include_usage=include_usage, monkeypatch=monkeypatch)
    assert fast == slow


def test_a_chunk_of_whole_frames_goes_out_as_the_same_bytes_object() -> None:
    translator = StreamTranslator(OPENAI, OPENAI, model="m", include_usage=True)
    translator.feed(_chunk(choices=[{"index": 0, "delta": {"role": "assistant"}}]))
    chunk = _chunk(choices=[{"index": 0, "delta": {"content": "a"}}]) + _chunk(choices=[{"index": 0, "delta": {}}])
    assert translator.feed(chunk) is chunk


def test_a_whole_stream_in_its_first_chunk_goes_out_as_the_same_bytes_object() -> None:
    translator = StreamTranslator(OPENAI, OPENAI, model="m", include_usage=True)
    chunk = _chunk(choices=[{"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"}]) + b"data: [DONE]\n\n"
    assert translator.feed(chunk) is chunk
    assert translator.close() == b""
    assert translator.complete


def test_the_usage_chunk_the_client_did_not_ask_for_is_dropped_from_whole_frames() -> None:
    translator = StreamTranslator(OPENAI, OPENAI, model="m", include_usage=False)
    text = _chunk(choices=[{"index": 0, "delta": {"content": "a"}, "finish_reason": "stop"}])
    usage = _chunk(choices=[], usage={"prompt_tokens": 5, "completion_tokens": 7})
    assert translator.feed(text) == text
    assert translator.feed(usage + b"data: [DONE]\n\n") == b"data: [DONE]\n\n"
    assert (translator.input_tokens, translator.output_tokens, translator.complete) == (5, 7, True)


def test_a_usage_chunk_amid_whole_frames_is_dropped_and_the_rest_goes_out_unchanged() -> None:
    translator = StreamTranslator(OPENAI, OPENAI, model="m", include_usage=False, keep_text=True)
    first = _chunk(choices=[{"index": 0, "delta": {"content": "a"}}])
    usage = _chunk(choices=[], usage={"prompt_tokens": 5, "completion_tokens": 7})
    last = _chunk(choices=[{"index": 0, "delta": {"content": "b"}, "finish_reason": "stop"}])
    assert translator.feed(first + usage + last + b"data: [DONE]\n\n") == first + last + b"data: [DONE]\n\n"
    assert translator.close() == b""
    assert (translator.usage, translator.text, translator.complete) == (Usage(5, 7), "ab", True)


def test_an_error_chunk_amid_whole_frames_is_read_as_the_provider_error_and_the_rest_still_read() -> None:
    # A pass-through client gets every frame, so analytics read every frame too, as the line rules do.
    translator = StreamTranslator(OPENAI, OPENAI, model="m", keep_text=True)
    text = _chunk(choices=[{"index": 0, "delta": {"content": "a"}}])
    error = _chunk(error={"message": "overloaded"})
    more = _chunk(choices=[{"index": 0, "delta": {"content": "b"}}])
    assert translator.feed(text + error + more) == text + error + more
    translator.close()
    assert (translator.error, translator.complete, translator.text) == ("overloaded", False, "ab")


def _event(name: str, **payload: object) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


_ANTHROPIC_SAMPLES = [
    _event("message_start", type="message_start", message={"id": "m1", "usage": {"input_tokens": 5}}),
    _event("content_block_start", type="content_block_start", index=0, content_block={"type": "text"}),
    _event(
        "content_block_start",
        type="content_block_start",
        index=1,
        content_block={"type": "tool_use", "id": "t1", "name": "f", "input": {}},
    ),
    _event(
        "content_block_delta",
        type="content_block_delta",
        index=1,
        delta={"type": "input_json_delta", "partial_json": '{"a": 1}'},
    ),
    _event("content_block_delta", type="content_block_delta", index=0, delta={"type": "text_delta", "text": 5}),
    _event("message_delta", type="message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 7}),
    _event("message_stop", type="message_stop"),
    _event("ping", type="ping"),
    _event("error", type="error", error={"type": "overloaded_error", "message": "Overloaded"}),
    _event("message_stop"),
    b"event: message_stop\ndata: [1, 2]\n\n",
    b"event: message_stop\ndata: not json\n\n",
    b'event: ping\ndata:{"type": "ping"}\n\n',
    b'event:ping\ndata: {"type": "ping"}\n\n',
    b'event: ping\nid: 7\ndata: {"type": "ping"}\n\n',
    b'event: ping\ndata: {"type":\ndata: "ping"}\n\n',
    b'event: ping\ndata: {"type":\n"ping"}\n\n',
    b'data: {"type": "ping"}\n\n',
    b": keep-alive\n\n",
    b'event: ping\r\ndata: {"type": "ping"}\r\n\r\n',
]

_ANTHROPIC_FRAMES = st.one_of(
    st.text(max_size=12).map(
        lambda text: _event(
            "content_block_delta", type="content_block_delta", index=0, delta={"type": "text_delta", "text": text}
        )
    ),
    st.sampled_from(_ANTHROPIC_SAMPLES),
)


def _run_anthropic(chunks: list[bytes], *, fast: bool) -> tuple[object, ...]:
    translator = StreamTranslator(ANTHROPIC, ANTHROPIC, model="m", keep_text=True)
    if not fast:
        translator._sse = _LineByLine()
    out = b"".join(translator.feed(chunk) for chunk in chunks) + translator.close()
    return (out, translator.usage, translator.text, translator.stop_reason, translator.error, translator.complete)


@given(st.lists(_ANTHROPIC_FRAMES, max_size=12), st.lists(st.integers(min_value=0, max_value=3000), max_size=6))
def test_whole_anthropic_frames_read_at_once_change_nothing_the_client_or_analytics_see(
    frames: list[bytes], cuts: list[int]
) -> None:
    chunks = _cut(frames, cuts)
    assert _run_anthropic(chunks, fast=True) == _run_anthropic(chunks, fast=False)


def test_a_chunk_of_whole_anthropic_frames_goes_out_as_the_same_bytes_object_and_is_read() -> None:
    translator = StreamTranslator(ANTHROPIC, ANTHROPIC, model="m", keep_text=True)
    chunk = (
        _event("message_start", type="message_start", message={"id": "m1", "usage": {"input_tokens": 5}})
        + _event("content_block_delta", type="content_block_delta", index=0, delta={"type": "text_delta", "text": "a"})
        + _event("message_delta", type="message_delta", delta={"stop_reason": "max_tokens"}, usage={"output_tokens": 7})
        + _event("message_stop", type="message_stop")
    )
    assert translator.feed(chunk) is chunk
    assert translator.close() == b""
    assert (translator.usage, translator.text, translator.stop_reason, translator.complete) == (
        Usage(5, 7),
        "a",
        "length",
        True,
    )


@pytest.mark.parametrize(
    "chunk",
    [
        b'event: ping\ndata: {"type":\n"ping"}\n\n',
        b'event: ping\ndata:{"type": "ping"}\n\n',
        b'event: ping\nid: 7\ndata: {"type": "ping"}\n\n',
        b"event: message_stop\ndata: [1, 2]\n\n",
    ],
)
def test_anthropic_frames_of_another_shape_are_read_by_the_line_rules(chunk: bytes) -> None:
    assert _run_anthropic([chunk], fast=True) == _run_anthropic([chunk], fast=False)


def _run_translated(source: ApiFormat, target: ApiFormat, chunks: list[bytes], *, fast: bool) -> tuple[object, ...]:
    translator = StreamTranslator(source, target, model="m", keep_text=True, created=1)
    if not fast:
        translator._sse = _LineByLine()
    out = b"".join(translator.feed(chunk) for chunk in chunks) + translator.close()
    return (out, translator.usage, translator.text, translator.stop_reason, translator.error, translator.complete)


_CUTS = st.lists(st.integers(min_value=0, max_value=3000), max_size=6)


def _same_either_way(source: ApiFormat, target: ApiFormat, chunks: list[bytes]) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(stamps, "random_suffix", lambda: "fixed")
        fast = _run_translated(source, target, chunks, fast=True)
        assert fast == _run_translated(source, target, chunks, fast=False)


@given(st.lists(_FRAMES, max_size=12), _CUTS)
def test_an_openai_stream_translated_reads_whole_frames_as_the_line_rules_do(
    frames: list[bytes], cuts: list[int]
) -> None:
    _same_either_way(OPENAI, ANTHROPIC, _cut(frames, cuts))


@given(st.lists(_ANTHROPIC_FRAMES, max_size=12), _CUTS)
def test_an_anthropic_stream_translated_reads_whole_frames_as_the_line_rules_do(
    frames: list[bytes], cuts: list[int]
) -> None:
    _same_either_way(ANTHROPIC, OPENAI, _cut(frames, cuts))


_OPENAI_ERROR_AMID = _chunk(choices=[{"index": 0, "delta": {"content": "a"}}]) + _chunk(error={"message": "boom"})
_ANTHROPIC_ERROR_AMID = _event(
    "content_block_delta", type="content_block_delta", index=0, delta={"type": "text_delta", "text": "a"}
) + _event("error", type="error", error={"type": "overloaded_error", "message": "boom"})


@pytest.mark.parametrize(
    ("source", "target", "chunk"),
    [
        (OPENAI, ANTHROPIC, _OPENAI_ERROR_AMID + _chunk(choices=[{"index": 0, "delta": {"content": "b"}}])),
        (OPENAI, ANTHROPIC, _OPENAI_ERROR_AMID + b"data: [DONE]\n\n"),
        (
            ANTHROPIC,
            OPENAI,
            _ANTHROPIC_ERROR_AMID
            + _event(
                "content_block_delta", type="content_block_delta", index=0, delta={"type": "text_delta", "text": "b"}
            ),
        ),
    ],
)
def test_a_translated_chunk_of_whole_frames_is_read_up_to_the_provider_error(
    source: ApiFormat, target: ApiFormat, chunk: bytes
) -> None:
    _same_either_way(source, target, [chunk])
    translator = StreamTranslator(source, target, model="m", keep_text=True, created=1)
    translator.feed(chunk)
    translator.close()
    assert (translator.text, translator.error, translator.complete) == ("a", "boom", False)

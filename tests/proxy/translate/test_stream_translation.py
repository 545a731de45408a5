"""StreamTranslator: every provider format to every client format, cut at every byte."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.translate import StreamTranslator, Usage, stamps
from reconciler.models import ApiFormat

from .translate_samples import (
    ANTHROPIC_TEXT_STREAM,
    ANTHROPIC_TOOL_STREAM,
    COMPLETION_TEXT,
    OLLAMA_GENERATE_STREAM,
    OLLAMA_TEXT_STREAM,
    OLLAMA_TOOL_STREAM,
    OPENAI_COMPLETION_STREAM,
    OPENAI_TEXT_STREAM,
    OPENAI_TOOL_STREAM,
    TEXT,
    TOOL_CALLS,
    Answer,
    history_shape,
    ndjson,
    read_anthropic,
    read_ollama,
    read_openai,
    sse,
)

OPENAI, ANTHROPIC, OLLAMA = ApiFormat.OPENAI, ApiFormat.ANTHROPIC, ApiFormat.OLLAMA
FORMATS = list(ApiFormat)
TEXT_STREAMS = {OPENAI: OPENAI_TEXT_STREAM, ANTHROPIC: ANTHROPIC_TEXT_STREAM, OLLAMA: OLLAMA_TEXT_STREAM}
TOOL_STREAMS = {OPENAI: OPENAI_TOOL_STREAM, ANTHROPIC: ANTHROPIC_TOOL_STREAM, OLLAMA: OLLAMA_TOOL_STREAM}
READERS: dict[ApiFormat, Callable[[bytes], Answer]] = {
    OPENAI: read_openai,
    ANTHROPIC: read_anthropic,
    OLLAMA: read_ollama,
}
PAIRS = list(itertools.product(FORMATS, FORMATS))


@pytest.fixture(autouse=True)
def _fixed_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ids the layer invents (Ollama gives none) are random; count instead, restarting with each translator.
    counter: Iterator[int] = iter(())

    def next_suffix() -> str:
        return f"{next(counter):024d}"

    original_init = StreamTranslator.__init__

    def init(self: StreamTranslator, *args: object, **kwargs: object) -> None:
        nonlocal counter
        counter = itertools.count()
        original_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(stamps, "random_suffix", next_suffix)
    monkeypatch.setattr(StreamTranslator, "__init__", init)


def translate(
    source: ApiFormat, target: ApiFormat, chunks: list[bytes], **options: Any
) -> tuple[bytes, StreamTranslator]:
    translator = StreamTranslator(source, target, model="routed-model", created=1730000000, **options)
    out = b"".join(translator.feed(chunk) for chunk in chunks) + translator.close()
    return out, translator


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_text_reaches_every_client_with_stop_reason_and_usage(source: ApiFormat, target: ApiFormat) -> None:
    out, translator = translate(source, target, [TEXT_STREAMS[source]], include_usage=True)
    answer = READERS[target](out)
    assert answer == Answer(text=TEXT, stop="stop", usage=(12, 4), ended=True)
    assert translator.usage == Usage(12, 4)
    assert (translator.input_tokens, translator.output_tokens) == (12, 4)
    assert translator.stop_reason == "stop"
    assert translator.complete
    assert translator.error is None


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_tool_calls_reach_every_client(source: ApiFormat, target: ApiFormat) -> None:
    out, translator = translate(source, target, [TOOL_STREAMS[source]], include_usage=True)
    answer = READERS[target](out)
    assert answer.tool_calls == TOOL_CALLS
    assert answer.text == ""
    # Ollama has no tool-call stop reason: it says "stop".
    assert answer.stop == ("stop" if target is OLLAMA else "tool_calls")
    assert answer.usage == (80, 31)
    assert answer.ended
    assert translator.stop_reason == "tool_calls"
    assert translator.complete


@pytest.mark.parametrize("streams", [TEXT_STREAMS, TOOL_STREAMS], ids=["text", "tools"])
@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_kept_text_is_what_the_client_stream_reads_as(
    source: ApiFormat, target: ApiFormat, streams: dict[ApiFormat, bytes]
) -> None:
    # History takes the translator's text instead of parsing the client's stream again: the two must agree (an
    # Ollama client gets tool arguments as objects, so only their JSON spacing may differ).
    from proxy.analytics.texts import stream_text

    data = streams[source]
    out, translator = translate(source, target, [data[:7], data[7:]], keep_text=True)
    assert translator.text
    assert history_shape(translator.text) == history_shape(stream_text(target, out)[0])
    _, without = translate(source, target, [data])
    assert without.text is None


@pytest.mark.parametrize(("source", "target"), [(s, t) for s, t in PAIRS if OLLAMA not in (s, t)])
def test_tool_call_ids_survive_between_openai_and_anthropic(source: ApiFormat, target: ApiFormat) -> None:
    answer = READERS[target](translate(source, target, [TOOL_STREAMS[source]])[0])
    assert answer.tool_ids == (["call_Q1", "call_Q2"] if source is OPENAI else ["toolu_01A", "toolu_01B"])


@pytest.mark.parametrize(("source", "target"), PAIRS)
@pytest.mark.parametrize("streams", [TEXT_STREAMS, TOOL_STREAMS], ids=["text", "tools"])
def test_output_is_the_same_wherever_the_provider_stream_is_cut(
    source: ApiFormat, target: ApiFormat, streams: dict[ApiFormat, bytes]
) -> None:
    data = streams[source]
    whole, _ = translate(source, target, [data], include_usage=True)
    for cut in range(1, len(data)):
        assert translate(source, target, [data[:cut], data[cut:]], include_usage=True)[0] == whole, cut
    byte_by_byte = [data[i : i + 1] for i in range(len(data))]
    assert translate(source, target, byte_by_byte, include_usage=True)[0] == whole


@settings(max_examples=60, deadline=None)
@given(
    pair=st.sampled_from(PAIRS),
    tools=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=40),
)
def test_output_is_the_same_for_any_set_of_cuts(
    pair: tuple[ApiFormat, ApiFormat], tools: bool, cuts: list[int]
) -> None:
    source, target = pair
    data = (TOOL_STREAMS if tools else TEXT_STREAMS)[source]
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    chunks = [data[a:b] for a, b in itertools.pairwise([0, *points, len(data)])]
    assert translate(source, target, chunks)[0] == translate(source, target, [data])[0]


def test_events_go_out_as_soon_as_they_are_complete() -> None:
    translator = StreamTranslator(ANTHROPIC, OPENAI, model="m", created=1)
    first_event_end = ANTHROPIC_TEXT_STREAM.index(b"\n\n") + 2
    assert translator.feed(ANTHROPIC_TEXT_STREAM[: first_event_end - 1]) == b""
    role_chunk = translator.feed(ANTHROPIC_TEXT_STREAM[first_event_end - 1 : first_event_end])
    assert b'"role":"assistant"' in role_chunk
    hello = ANTHROPIC_TEXT_STREAM.index(b"Hello")
    rest = translator.feed(ANTHROPIC_TEXT_STREAM[first_event_end:hello])
    assert b"Hello" not in rest
    assert b'"content":"Hello"' in translator.feed(ANTHROPIC_TEXT_STREAM[hello : hello + 40])


def test_openai_chunks_carry_id_created_and_routed_model() -> None:
    out, _ = translate(ANTHROPIC, OPENAI, [ANTHROPIC_TEXT_STREAM])
    chunks = [json.loads(frame[6:]) for frame in out.decode().split("\n\n") if frame and frame != "data: [DONE]"]
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-msg_01XFDUDYJgAACzvnptvVoYEL"}
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert {chunk["created"] for chunk in chunks} == {1730000000}
    assert {chunk["model"] for chunk in chunks} == {"routed-model"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}


def test_openai_client_gets_no_usage_chunk_unless_it_asked() -> None:
    out, translator = translate(ANTHROPIC, OPENAI, [ANTHROPIC_TEXT_STREAM])
    assert read_openai(out).usage is None
    assert b'"usage"' not in out
    assert translator.usage == Usage(12, 4)


def test_anthropic_client_learns_late_input_tokens_from_message_delta() -> None:
    out, _ = translate(OLLAMA, ANTHROPIC, [OLLAMA_TEXT_STREAM])
    frames = out.decode().split("\n\n")
    start = json.loads(frames[0].split("data: ", 1)[1])
    delta = json.loads(next(f for f in frames if f.startswith("event: message_delta")).split("data: ", 1)[1])
    assert start["message"]["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert delta["usage"] == {"input_tokens": 12, "output_tokens": 4}


# --- pass-through ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("streams", [TEXT_STREAMS, TOOL_STREAMS], ids=["text", "tools"])
@pytest.mark.parametrize("fmt", [ANTHROPIC, OLLAMA])
def test_same_format_streams_pass_through_byte_for_byte(fmt: ApiFormat, streams: dict[ApiFormat, bytes]) -> None:
    data = streams[fmt]
    assert translate(fmt, fmt, [data])[0] == data
    assert translate(fmt, fmt, [data[i : i + 7] for i in range(0, len(data), 7)])[0] == data


def test_openai_pass_through_keeps_usage_chunk_the_client_asked_for() -> None:
    out, translator = translate(OPENAI, OPENAI, [OPENAI_TEXT_STREAM], include_usage=True)
    assert out == OPENAI_TEXT_STREAM
    assert translator.usage == Usage(12, 4)


def test_openai_pass_through_drops_only_the_usage_chunk_the_gateway_asked_for() -> None:
    out, translator = translate(OPENAI, OPENAI, [OPENAI_TEXT_STREAM])
    usage_frame = next(f for f in OPENAI_TEXT_STREAM.split(b"\n\n") if b'"choices": []' in f) + b"\n\n"
    assert out == OPENAI_TEXT_STREAM.replace(usage_frame, b"")
    assert translator.usage == Usage(12, 4)
    assert translator.complete


def test_pass_through_keeps_crlf_comments_and_split_line_breaks() -> None:
    data = OPENAI_TEXT_STREAM.replace(b"\n", b"\r\n").replace(b"data: [DONE]", b": keep-alive\r\n\r\ndata: [DONE]")
    cut = data.index(b"\r\n") + 1
    out, translator = translate(OPENAI, OPENAI, [data[:cut], data[cut:]], include_usage=True)
    assert out == data
    assert translator.complete


# --- endings and failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_stream_cut_short_ends_with_an_error_event(source: ApiFormat, target: ApiFormat) -> None:
    data = TEXT_STREAMS[source]
    cut = data.index("wörld".encode()) + 2
    out, translator = translate(source, target, [data[:cut]])
    answer = READERS[target](out)
    assert answer.errors == ["The provider closed the stream before the answer was complete."]
    assert not answer.ended
    assert answer.text in ("Hello", "")
    assert not translator.complete
    assert translator.error is not None


@pytest.mark.parametrize("target", FORMATS)
def test_missing_done_marker_after_a_stop_reason_still_ends_properly(target: ApiFormat) -> None:
    data = OPENAI_TEXT_STREAM.replace(b"data: [DONE]\n\n", b"")
    out, translator = translate(OPENAI, target, [data], include_usage=True)
    answer = READERS[target](out)
    assert answer.errors == []
    assert answer.text == TEXT
    assert translator.complete
    assert translator.usage == Usage(12, 4)


def test_last_event_without_its_blank_line_is_still_read() -> None:
    data = OPENAI_TEXT_STREAM.removesuffix(b"\n")
    out, translator = translate(OPENAI, ANTHROPIC, [data])
    assert read_anthropic(out).ended
    assert translator.complete


def test_last_ollama_line_without_its_line_break_is_still_read() -> None:
    out, translator = translate(OLLAMA, OPENAI, [OLLAMA_TEXT_STREAM.removesuffix(b"\n")], include_usage=True)
    assert read_openai(out).usage == (12, 4)
    assert translator.complete


@pytest.mark.parametrize("target", FORMATS)
def test_provider_error_event_becomes_a_client_error_event(target: ApiFormat) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    data = ANTHROPIC_TEXT_STREAM.split(b"event: content_block_stop")[0] + sse(("error", error))
    out, translator = translate(ANTHROPIC, target, [data, b"event: ping\ndata: {}\n\n"])
    answer = READERS[target](out) if target is not ANTHROPIC else None
    if answer is not None:
        assert answer.errors == ["Overloaded"]
        assert answer.text == TEXT
    else:
        assert out == data + b"event: ping\ndata: {}\n\n"
    assert translator.error == "Overloaded"
    assert not translator.complete


def test_ollama_error_line_becomes_an_openai_error_event() -> None:
    data = ndjson({"error": "model 'qwen9' not found"})
    out, translator = translate(OLLAMA, OPENAI, [data])
    assert read_openai(out).errors == ["model 'qwen9' not found"]
    assert translator.error == "model 'qwen9' not found"


def test_event_that_is_not_json_stops_the_translation() -> None:
    data = OPENAI_TEXT_STREAM.replace(b'{"content": "Hello"}', b'{"content": "Hel')
    out, translator = translate(OPENAI, ANTHROPIC, [data])
    answer = read_anthropic(out)
    assert answer.errors == ["The provider sent a stream event that is not a JSON object."]
    assert answer.text == ""
    assert not translator.complete


def test_tool_arguments_that_are_not_json_become_an_error_for_ollama_clients() -> None:
    data = OPENAI_TOOL_STREAM.replace(b'ty\\": \\"Paris\\"}', b"ty")
    out, translator = translate(OPENAI, OLLAMA, [data])
    answer = read_ollama(out)
    assert len(answer.errors) == 1
    assert "not a JSON object" in answer.errors[0]
    assert not answer.ended
    assert not translator.complete


def test_feed_after_close_is_a_misuse() -> None:
    translator = StreamTranslator(OPENAI, ANTHROPIC, model="m")
    translator.close()
    with pytest.raises(RuntimeError, match="after close"):
        translator.feed(b"data: [DONE]\n\n")
    assert translator.close() == b""


# --- prompt-style clients -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "data"),
    [(OPENAI, OPENAI_COMPLETION_STREAM), (OLLAMA, OLLAMA_GENERATE_STREAM)],
    ids=["completions", "generate"],
)
@pytest.mark.parametrize("target", [OPENAI, OLLAMA])
def test_completion_streams_reach_prompt_style_clients(source: ApiFormat, data: bytes, target: ApiFormat) -> None:
    out, translator = translate(source, target, [data], legacy=True, include_usage=True)
    answer = READERS[target](out)
    assert answer == Answer(text=COMPLETION_TEXT, stop="length", usage=(9, 5), ended=True)
    assert translator.stop_reason == "length"
    if target is OPENAI:
        chunks = [json.loads(f[6:]) for f in out.split(b"\n\n") if f and f != b"data: [DONE]"]
        assert {chunk["object"] for chunk in chunks} == {"text_completion"}
        assert all(chunk["id"].startswith("cmpl-") for chunk in chunks)
    else:
        assert b'"message"' not in out


def test_anthropic_answer_reaches_a_legacy_completions_client() -> None:
    out, _ = translate(ANTHROPIC, OPENAI, [ANTHROPIC_TEXT_STREAM], legacy=True)
    answer = read_openai(out)
    assert answer.text == TEXT
    assert answer.stop == "stop"
    assert b'"delta"' not in out


def test_anthropic_message_delta_may_restate_input_tokens() -> None:
    data = ANTHROPIC_TEXT_STREAM.replace(
        b'"usage": {"output_tokens": 4}', b'"usage": {"input_tokens": 30, "output_tokens": 4}'
    )
    _, translator = translate(ANTHROPIC, OPENAI, [data])
    assert translator.usage == Usage(30, 4)


def test_ollama_client_gets_tool_calls_before_text_that_follows_them() -> None:
    data = OPENAI_TOOL_STREAM.replace(
        b'{"tool_calls": [{"index": 1, "id"', b'{"content": "and", "tool_calls": [{"index": 1, "id"'
    )
    out, _ = translate(OPENAI, OLLAMA, [data])
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["message"].get("tool_calls", line["message"]["content"]) for line in lines[:3]] == [
        [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        "and",
        [{"function": {"name": "get_time", "arguments": {"tz": "CET"}}}],
    ]


# Each provider's stream with a text that is not a string, between two that are.
_NOT_STRING_TEXT = {
    OPENAI: sse(
        (None, {"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "one "}}]}),
        (None, {"id": "c", "choices": [{"index": 0, "delta": {"content": 5, "refusal": ["x"]}}]}),
        (None, {"id": "c", "choices": [{"index": 0, "delta": {"content": "two"}, "finish_reason": "stop"}]}),
        (None, "[DONE]"),
    ),
    ANTHROPIC: sse(
        ("message_start", {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 1}}}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": 7}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "one "}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": {"a": 1}}},
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "two"}},
        ),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        ),
        ("message_stop", {"type": "message_stop"}),
    ),
    OLLAMA: ndjson(
        {"message": {"role": "assistant", "content": "one "}, "done": False},
        {"message": {"role": "assistant", "content": 3}, "done": False},
        {"message": {"role": "assistant", "content": "two"}, "done": True, "done_reason": "stop"},
    ),
}


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_text_that_is_not_a_string_is_skipped(source: ApiFormat, target: ApiFormat) -> None:
    # History keeps the strings; a client of another format gets them alone (a same-format stream goes out as the
    # provider sent it).
    out, translator = translate(source, target, [_NOT_STRING_TEXT[source]], keep_text=True)
    assert translator.text == "one two"
    assert translator.complete
    if source is not target:
        assert READERS[target](out).text == "one two"

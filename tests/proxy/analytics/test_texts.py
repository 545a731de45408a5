"""Reading the answer's text back from what the client received: the quick typed reading agrees with the stream
decoders for every client format, text and tool calls, and gives way to them for what it does not expect."""

from __future__ import annotations

import json

import pytest

from proxy.analytics import texts
from proxy.analytics.record import _recorded_body
from proxy.translate import StreamTranslator, is_streaming, response_stop_reason, response_usage
from reconciler.models import ApiFormat


def openai_stream() -> bytes:
    def chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
        body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
        body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": ""}}
    return b"".join(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Looking "}),
            chunk({"content": "it up."}),
            chunk({"tool_calls": [call]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"q": "ports"}'}}]}),
            chunk({}, "tool_calls"),
            b"data: [DONE]\n\n",
        ]
    )


def client_stream(target: ApiFormat) -> bytes:
    translator = StreamTranslator(ApiFormat.OPENAI, target, model="m", include_usage=True)
    return translator.feed(openai_stream()) + translator.close()


def slow(fmt: ApiFormat, data: bytes) -> str:
    """What the stream decoders read, bypassing the quick path."""
    original = texts._fast_stream_text
    try:
        texts._fast_stream_text = lambda *_: None
        return texts.stream_text(fmt, data)[0]
    finally:
        texts._fast_stream_text = original


@pytest.mark.parametrize("fmt", list(ApiFormat))
def test_the_quick_reading_agrees_with_the_decoders(fmt: ApiFormat) -> None:
    data = client_stream(fmt)
    quick = texts._fast_stream_text(fmt, data)
    assert quick is not None
    assert quick == slow(fmt, data)
    assert quick.startswith("Looking it up.")
    assert "[tool call lookup]" in quick
    assert "ports" in quick


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        (
            ApiFormat.OPENAI,
            b'data: {"choices": [{"delta": {"content": "a"}}]}\n\ndata: {"error": {"message": "x"}}\n\n',
        ),
        (ApiFormat.OPENAI, b'data: {"choices":\ndata: [{"delta": {"content": "a"}}]}\n\n'),
        (ApiFormat.OPENAI, b"data: not json\n\n"),
        (ApiFormat.ANTHROPIC, b'event: error\ndata: {"type": "error", "error": {"message": "overloaded"}}\n\n'),
        (ApiFormat.OLLAMA, b'{"error": "model not found"}\n'),
    ],
    ids=["error-event", "multi-line-data", "not-json", "anthropic-error", "ollama-error"],
)
def test_the_unexpected_goes_to_the_decoders(fmt: ApiFormat, data: bytes) -> None:
    assert texts._fast_stream_text(fmt, data) is None
    texts.stream_text(fmt, data)  # and they read it without raising


def test_stream_errors_are_reported() -> None:
    data = b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n'
    text, error = texts.stream_text(ApiFormat.ANTHROPIC, data)
    assert text == ""
    assert error is not None
    assert "Overloaded" in error


@pytest.mark.parametrize(
    ("body", "chars"),
    [
        ({"messages": [{"role": "user", "content": "abcd"}]}, 4),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "abcdef"}]}]}, 6),
        ({"system": "sys", "messages": [{"role": "user", "content": "ab"}]}, 5),
        ({"prompt": "abc", "suffix": "de"}, 5),
        ({"model": "long-model-name", "messages": []}, 0),
    ],
)
def test_prompt_characters_count_text_only(body: dict[str, object], chars: int) -> None:
    assert texts.prompt_chars(body) == chars


def test_estimates_round_up() -> None:
    assert [texts.estimate_tokens(n) for n in (0, 1, 4, 5, 8, 9)] == [0, 1, 1, 2, 2, 3]


_BODIES = [
    {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]},
    {"model": "claude", "system": [{"type": "text", "text": "be brief"}], "messages": [], "stream": True},
    {"model": "llama", "messages": [{"role": "user", "content": "hi"}]},  # Ollama streams unless told not to
    {"model": "llama", "prompt": "def f(", "suffix": "):", "stream": False, "options": {"num_ctx": 4096}},
    {"model": None, "prompt": None, "messages": "not a list"},
    {},
]


@pytest.mark.parametrize("body", _BODIES)
@pytest.mark.parametrize("fmt", list(ApiFormat))
def test_the_fields_rows_are_made_of_read_as_from_the_whole_body(body: dict[str, object], fmt: ApiFormat) -> None:
    recorded = _recorded_body(json.dumps(body).encode())
    assert recorded is not None
    assert recorded.get("model") == body.get("model")
    assert is_streaming(recorded, fmt) == is_streaming(body, fmt)
    assert texts.prompt_chars(recorded) == texts.prompt_chars(body)
    assert texts.conversation(recorded) == texts.conversation(body)


@pytest.mark.parametrize("raw", [b"[1, 2]", b"not json", b'"text"', b"\xff\xfe"])
def test_a_body_that_is_not_an_object_gives_no_fields(raw: bytes) -> None:
    assert _recorded_body(raw) is None


def _answer(**fields: object) -> dict[str, object]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m", **fields}


_CALL = {"id": "c", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
_OPENAI_ANSWERS = [
    _answer(
        choices=[{"index": 0, "message": {"role": "assistant", "content": "hi\n"}, "finish_reason": "stop"}],
        usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    ),
    _answer(choices=[{"message": {"content": None, "tool_calls": [_CALL]}, "finish_reason": "function_call"}]),
    _answer(choices=[{"message": {"content": [{"type": "text", "text": "a"}, {"type": "image"}]}}]),
    _answer(choices=[{"message": {"tool_calls": [{"function": {"name": "f"}}, {"id": "no function"}]}}]),
    _answer(choices=[{"text": "\nlegacy completion", "finish_reason": "length"}], usage={"prompt_tokens": True}),
    _answer(choices=[], usage={"prompt_tokens": 3.5, "completion_tokens": 4}),
    _answer(choices=[{"message": "not an object", "text": "t"}]),
    _answer(choices="not a list", usage="not an object"),
    _answer(choices=[3]),
    _answer(),
]


@pytest.mark.parametrize("answer", _OPENAI_ANSWERS)
def test_the_typed_reading_of_an_openai_answer_agrees_with_the_plain_one(answer: dict[str, object]) -> None:
    raw = json.dumps(answer).encode()
    plain = (
        response_usage(answer, ApiFormat.OPENAI),
        response_stop_reason(answer, ApiFormat.OPENAI),
        texts.answer_text(ApiFormat.OPENAI, answer),
    )
    typed = texts.openai_answer(raw)
    assert typed is None or typed == plain


def test_the_typed_reading_takes_the_usual_answers_and_leaves_odd_shapes() -> None:
    taken = [texts.openai_answer(json.dumps(answer).encode()) is not None for answer in _OPENAI_ANSWERS]
    assert taken == [True, True, True, True, True, True, False, False, False, True]
    assert texts.openai_answer(b"not json") is None

"""Restoration: placeholders become secrets again, exactly, whatever the chunk boundaries of a stream."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.secrets import StreamRestorer, restore_body, restore_text
from proxy.secrets.placeholders import Issuer, could_become_placeholder, placeholder

VALUES = {"1a2b3c4d": "sk-secret-one", "deadbeef": 'pa"ss\\word'}


def test_each_accepted_form_is_restored() -> None:
    for form in [
        "REDACTED<1a2b3c4d>",
        "redacted<1A2B3C4D>",
        "Redacted <1a2b3c4d>",
        "REDACTED< 1a2b3c4d >",
        "REDACTED&lt;1a2b3c4d&gt;",
        "REDACTED\\u003c1a2b3c4d\\u003e",
    ]:
        assert restore_text(f"key: {form}.", VALUES) == "key: sk-secret-one.", form


def test_unknown_ids_and_mangled_forms_stay_as_they_are() -> None:
    for text in ["REDACTED<00000000>", "REDACTED<1a2b 3c4d>", "REDACTED<1a2b3c4>", "REDACTED   <1a2b3c4d>"]:
        assert restore_text(text, VALUES) == text


def test_json_text_gets_json_escaped_values() -> None:
    arguments = '{"password": "REDACTED<deadbeef>"}'
    restored = restore_text(arguments, VALUES, json_text=True)
    assert json.loads(restored) == {"password": 'pa"ss\\word'}


def test_restore_body_walks_every_string_and_tool_arguments() -> None:
    body: dict[str, Any] = {
        "choices": [
            {
                "message": {
                    "content": "use REDACTED<1a2b3c4d>",
                    "tool_calls": [{"function": {"arguments": '{"k": "REDACTED<deadbeef>"}'}}],
                }
            }
        ],
        "untouched": {"x": 1},
    }
    restored: dict[str, Any] = restore_body(body, VALUES)
    message = restored["choices"][0]["message"]
    assert message["content"] == "use sk-secret-one"
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"k": 'pa"ss\\word'}
    assert restored["untouched"] is body["untouched"]
    assert body["choices"][0]["message"]["content"] == "use REDACTED<1a2b3c4d>"


def test_a_placeholder_split_anywhere_is_held_back_only_while_it_could_still_complete() -> None:
    restorer = StreamRestorer(VALUES)
    assert restorer.feed("answer: RED") == "answer: "
    assert restorer.feed("ACTED<1a2b") == ""
    assert restorer.feed("3c4d> done") == "sk-secret-one done"
    assert restorer.feed(" REDACTED is a word") == " REDACTED is a word"
    assert restorer.flush() == ""


def test_could_become_placeholder() -> None:
    assert could_become_placeholder("R")
    assert could_become_placeholder("redacted &l")
    assert could_become_placeholder("REDACTED<1a2b3c4d ")
    assert not could_become_placeholder("REDACTED<1a2b3c4d>")
    assert not could_become_placeholder("REDACTED<1a2x")
    assert not could_become_placeholder("READ")


_PIECES = st.sampled_from(
    [
        "REDACTED<1a2b3c4d>",
        "redacted&lt;DEADBEEF&gt;",
        "REDACTED <deadbeef >",
        "REDACTED\\u003c1a2b3c4d\\u003e",
        "REDACTED<00000000>",
        "REDACTED<1a2b",
        "REDACTED",
        "R",
        "<",
        "1a2b3c4d>",
        " ",
        "é",
        "\n",
        "text",
    ]
)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(
    pieces=st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=24),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    json_text=st.booleans(),
)
def test_streamed_restoration_equals_restoring_the_whole_text(
    pieces: list[str], cuts: list[int], json_text: bool
) -> None:
    text = "".join(pieces)
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    restorer = StreamRestorer(VALUES, json_text=json_text)
    out = [restorer.feed(text[a:b]) for a, b in itertools.pairwise(bounds)]
    out.append(restorer.flush())
    assert "".join(out) == restore_text(text, VALUES, json_text=json_text)


def test_issuer_gives_one_id_per_secret_and_avoids_taken_ones() -> None:
    key = b"k" * 32
    first = Issuer(key=key)
    secret_id = first.id_for("s3cret-value")
    assert first.id_for("s3cret-value") == secret_id
    assert Issuer(key=key).id_for("s3cret-value") == secret_id  # stable across requests
    taken = Issuer({secret_id.upper()}, key=key)
    assert taken.id_for("s3cret-value") != secret_id
    assert placeholder(secret_id) == f"REDACTED<{secret_id}>"

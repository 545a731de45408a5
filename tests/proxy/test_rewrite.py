from __future__ import annotations

import copy
from typing import Any

import pytest

from proxy.request_info import ClientApi
from proxy.rewrite import add_instructions

RULES = "Prefer the standard library."


def rewritten(body: dict[str, Any], api: ClientApi, instructions: str = RULES) -> dict[str, Any]:
    """The rewrite, checked not to have touched the body it was given."""
    before = copy.deepcopy(body)
    result = add_instructions(body, api, instructions)
    assert body == before
    return result


# --- OpenAI and Ollama chat ---------------------------------------------------------------------------------


@pytest.mark.parametrize("api", [ClientApi.OPENAI_CHAT, ClientApi.OLLAMA_CHAT])
def test_instructions_go_before_the_clients_system_prompt(api: ClientApi) -> None:
    user = {"role": "user", "content": "hi"}
    body = {"model": "m", "messages": [{"role": "system", "content": "You are terse."}, user]}
    result = rewritten(body, api)
    assert result["messages"] == [{"role": "system", "content": f"{RULES}\n\nYou are terse."}, user]
    assert result["messages"][1] is user  # unchanged messages are shared, not copied
    assert result["model"] == "m"


@pytest.mark.parametrize("api", [ClientApi.OPENAI_CHAT, ClientApi.OLLAMA_CHAT])
def test_a_system_message_is_inserted_first_when_there_is_none(api: ClientApi) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert rewritten(body, api)["messages"] == [
        {"role": "system", "content": RULES},
        {"role": "user", "content": "hi"},
    ]


def test_a_list_content_gets_a_text_part_first() -> None:
    parts = [{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Use British English."}]
    body = {"messages": [{"role": "system", "content": parts}]}
    assert rewritten(body, ClientApi.OPENAI_CHAT)["messages"][0]["content"] == [
        {"type": "text", "text": RULES},
        *parts,
    ]


def test_an_openai_developer_message_counts_as_the_system_prompt() -> None:
    body = {"messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}]}
    result = rewritten(body, ClientApi.OPENAI_CHAT)
    assert result["messages"][0] == {"role": "developer", "content": f"{RULES}\n\nBe brief."}
    assert len(result["messages"]) == 2


def test_ollama_has_no_developer_role() -> None:
    body = {"messages": [{"role": "developer", "content": "Be brief."}]}
    assert rewritten(body, ClientApi.OLLAMA_CHAT)["messages"] == [
        {"role": "system", "content": RULES},
        {"role": "developer", "content": "Be brief."},
    ]


def test_only_the_first_system_message_changes_wherever_it_is() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": "first"},
            {"role": "system", "content": "second"},
        ]
    }
    assert [m["content"] for m in rewritten(body, ClientApi.OPENAI_CHAT)["messages"]] == [
        "hi",
        f"{RULES}\n\nfirst",
        "second",
    ]


@pytest.mark.parametrize("content", ["", None])
def test_an_empty_system_prompt_becomes_the_instructions(content: str | None) -> None:
    body = {"messages": [{"role": "system", "content": content}]}
    assert rewritten(body, ClientApi.OPENAI_CHAT)["messages"][0]["content"] == RULES


# --- Anthropic ----------------------------------------------------------------------------------------------


def test_anthropic_system_string() -> None:
    body = {"model": "m", "system": "You are terse.", "messages": [{"role": "user", "content": "hi"}]}
    result = rewritten(body, ClientApi.ANTHROPIC_MESSAGES)
    assert result["system"] == f"{RULES}\n\nYou are terse."
    assert result["messages"] is body["messages"]


def test_anthropic_system_blocks_get_a_text_block_first() -> None:
    blocks = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
    result = rewritten({"system": blocks, "messages": []}, ClientApi.ANTHROPIC_MESSAGES)
    assert result["system"] == [{"type": "text", "text": RULES}, *blocks]


def test_anthropic_without_system_gets_the_instructions_exactly_once() -> None:
    result = rewritten({"messages": [{"role": "user", "content": "hi"}]}, ClientApi.ANTHROPIC_MESSAGES)
    assert result["system"] == RULES
    assert result["messages"] == [{"role": "user", "content": "hi"}]


# --- untouched ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", [ClientApi.OPENAI_COMPLETIONS, ClientApi.OLLAMA_GENERATE])
def test_prompt_apis_are_never_changed(api: ClientApi) -> None:
    body = {"model": "m", "prompt": "def f(", "system": "x", "messages": [{"role": "user", "content": "x"}]}
    assert add_instructions(body, api, RULES) is body


@pytest.mark.parametrize("instructions", ["", "  \n "])
@pytest.mark.parametrize("api", list(ClientApi))
def test_empty_instructions_return_the_same_body(api: ClientApi, instructions: str) -> None:
    body = {"model": "m", "system": "s", "messages": [{"role": "system", "content": "s"}]}
    assert add_instructions(body, api, instructions) is body


def test_a_body_without_a_messages_list_is_left_to_the_provider_to_reject() -> None:
    body = {"model": "m", "messages": "oops"}
    assert add_instructions(body, ClientApi.OPENAI_CHAT, RULES) is body

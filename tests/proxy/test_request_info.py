from __future__ import annotations

import time
from typing import Any

import pytest

from proxy.request_info import ClientApi, extract_filenames, is_fim, user_texts


def chat(*messages: tuple[str, Any]) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": role, "content": content} for role, content in messages]}


def names(text: str) -> list[str]:
    return extract_filenames(chat(("user", text)), ClientApi.OPENAI_CHAT)


# --- filename formats ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fix this:\n```py src/app.py\nprint(1)\n```", ["src/app.py"]),
        ("```python /home/me/repo/app.py (lines 3-20)\nx\n```", ["/home/me/repo/app.py"]),
        ("```src/app.py\nx\n```", ["src/app.py"]),
        ("  ~~~ts web/index.ts\nx\n~~~", ["web/index.ts"]),
        ("````c# Program.cs\nx\n````", ["Program.cs"]),
        ("```python\nprint(1)\n```", []),
        ("``` \nx\n```", []),
        ("inline ```py a.py``` is not a fence", []),
    ],
)
def test_fenced_code_blocks_with_a_path(text: str, expected: list[str]) -> None:
    assert names(text) == expected


def test_cline_and_kodu_file_tags() -> None:
    text = (
        '<file_content path="src/server.ts">\ncode\n</file_content>\n'
        "Then <file path='lib/util.py'>x</file> and <file path=\"docs/guide.md\">"
    )
    assert names(text) == ["src/server.ts", "lib/util.py", "docs/guide.md"]


def test_aider_path_line_followed_by_a_fence() -> None:
    text = "Here is the change.\n\nsrc/app.py\n```python\n<<<<<<< SEARCH\n```\nnotes.txt\nplain text after\n"
    assert names(text) == ["src/app.py"]


def test_aider_path_line_with_crlf_line_ends() -> None:
    assert names("src/app.py\r\n```python\r\nx\r\n```\r\n") == ["src/app.py"]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("# Path: src/app.py\ndef f(", ["src/app.py"]),
        ("// Path: web/index.ts\nconst x", ["web/index.ts"]),
        ("-- Path: db/query.sql\nSELECT", ["db/query.sql"]),
        ("/* Path: lib/c.c */\nint", ["lib/c.c"]),
        ("<!-- Path: page.html -->\n<div>", ["page.html"]),
        ("#Path: My Documents/notes.py\n", ["My Documents/notes.py"]),
        ("# Path: the shortest one\n", []),
        ("x = 1  # Path: not at line start.py\n", []),
    ],
)
def test_path_comments_in_fim_prompts(prompt: str, expected: list[str]) -> None:
    body = {"model": "m", "prompt": prompt}
    assert extract_filenames(body, ClientApi.OPENAI_COMPLETIONS) == expected
    assert extract_filenames(body, ClientApi.OLLAMA_GENERATE) == expected


@pytest.mark.parametrize(
    "text",
    [
        "e.g.\n```python\nx\n```",
        "...\n```\nx\n```",
        "```text https://example.com/a.py\n```",
        "```py src/\nx\n```",
    ],
)
def test_tokens_that_only_look_like_paths_are_ignored(text: str) -> None:
    assert names(text) == []


def test_file_uris_become_paths() -> None:
    assert names("```py file:///repo/app.py\nx\n```") == ["/repo/app.py"]


def test_paths_are_unique_and_in_order_across_messages() -> None:
    body = chat(
        ("user", "```py b.py\n```\n```py a.py\n```"),
        ("assistant", "ok"),
        ("user", '<file path="a.py">x</file>\n```go c.go\n```'),
    )
    assert extract_filenames(body, ClientApi.OPENAI_CHAT) == ["b.py", "a.py", "c.go"]


# --- message shapes per API ---------------------------------------------------------------------------------


def test_only_user_messages_are_read() -> None:
    body = chat(
        ("system", "```py system.py\n```"),
        ("developer", "```py developer.py\n```"),
        ("assistant", "```py assistant.py\n```"),
        ("tool", "```py tool.py\n```"),
        ("user", "```py user.py\n```"),
    )
    assert extract_filenames(body, ClientApi.OPENAI_CHAT) == ["user.py"]


def test_openai_content_parts() -> None:
    content = [
        {"type": "image_url", "image_url": {"url": "data:..."}},
        {"type": "text", "text": "```py one.py\n```"},
        {"type": "text", "text": "```py two.py\n```"},
    ]
    assert extract_filenames(chat(("user", content)), ClientApi.OPENAI_CHAT) == ["one.py", "two.py"]


def test_anthropic_blocks_tool_results_and_not_the_system_prompt() -> None:
    body = {
        "model": "m",
        "max_tokens": 10,
        "system": "```py system.py\n```",
        "messages": [
            {"role": "user", "content": "```py plain.py\n```"},
            {"role": "assistant", "content": [{"type": "text", "text": "```py reply.py\n```"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "```py block.py\n```"},
                    {"type": "tool_result", "tool_use_id": "t1", "content": '<file_content path="tool.rs">'},
                    {"type": "tool_result", "tool_use_id": "t2", "content": [{"type": "text", "text": "```x.go\n"}]},
                ],
            },
        ],
    }
    assert extract_filenames(body, ClientApi.ANTHROPIC_MESSAGES) == ["plain.py", "block.py", "tool.rs", "x.go"]


def test_ollama_chat_messages() -> None:
    body = chat(("system", "```py s.py\n```"), ("user", "```py u.py\n```"))
    assert extract_filenames(body, ClientApi.OLLAMA_CHAT) == ["u.py"]


def test_legacy_prompt_as_a_list_of_strings() -> None:
    body = {"model": "m", "prompt": ["# Path: a.py\n", [1, 2, 3], "# Path: b.py\n"]}
    assert extract_filenames(body, ClientApi.OPENAI_COMPLETIONS) == ["a.py", "b.py"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"messages": "not a list"},
        {"messages": [None, 3, {"role": "user"}, {"role": "user", "content": None}, {"role": "user", "content": 5}]},
        {"messages": [{"role": "user", "content": [None, {"type": "text", "text": 7}]}]},
        {"prompt": 42},
    ],
)
def test_odd_bodies_yield_no_filenames(body: dict[str, Any]) -> None:
    for api in ClientApi:
        assert extract_filenames(body, api) == []


def test_user_texts_of_a_chat_request() -> None:
    body = chat(("system", "s"), ("user", "one"), ("user", [{"type": "text", "text": "two"}]))
    assert list(user_texts(body, ClientApi.OPENAI_CHAT)) == ["one", "two"]


# --- speed --------------------------------------------------------------------------------------------------


def test_a_prompt_of_megabytes_is_scanned_quickly() -> None:
    filler = "def f(x):\n    return os.path.join(x, 'a.b')  # comment `tick`\n" * 40_000
    text = "```py first.py\n```\n" + filler + "\nlast/file.ts\n```ts\n```"
    assert len(text) > 2_000_000
    started = time.perf_counter()
    assert names(text) == ["first.py", "last/file.ts"]
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "text",
    [
        "a" * 1_000_000,
        "a." * 500_000,
        "`" * 1_000_000,
        "```" + " " * 1_000_000 + "x",
        "\n" + " " * 1_000_000 + "x.py",
        "a.b\n" * 250_000,
        "~~~~ " * 200_000,
        "<file path=" * 100_000,
        "# Path: a" + " " * 1_000_000 + "b",
    ],
    ids=["word", "dots", "backticks", "fence-spaces", "spaces", "lines", "tildes", "tags", "comment-spaces"],
)
def test_no_input_makes_the_scan_backtrack(text: str) -> None:
    started = time.perf_counter()
    names(text)
    assert time.perf_counter() - started < 1.0


# --- FIM or chat --------------------------------------------------------------------------------------------

CONTINUE_FIM = "<QUERY>\ndef f({{FILL_HERE}}\n</QUERY>\nTASK: fill the hole.\n<COMPLETION>x</COMPLETION>"


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        (ClientApi.OPENAI_COMPLETIONS, True),
        (ClientApi.OLLAMA_GENERATE, True),
        (ClientApi.OPENAI_CHAT, False),
        (ClientApi.ANTHROPIC_MESSAGES, False),
        (ClientApi.OLLAMA_CHAT, False),
    ],
)
def test_fim_by_route(api: ClientApi, expected: bool) -> None:
    assert is_fim(api, chat(("user", "hello"))) is expected


@pytest.mark.parametrize("api", [ClientApi.OPENAI_CHAT, ClientApi.OLLAMA_CHAT, ClientApi.ANTHROPIC_MESSAGES])
def test_continue_markers_in_the_first_message_mean_fim(api: ClientApi) -> None:
    assert is_fim(api, chat(("user", CONTINUE_FIM)))
    assert is_fim(api, chat(("user", [{"type": "text", "text": CONTINUE_FIM}])))


def test_continue_markers_in_the_first_system_message() -> None:
    assert is_fim(ClientApi.OPENAI_CHAT, chat(("system", CONTINUE_FIM), ("user", "<QUERY>x</QUERY>")))
    body = {"system": [{"type": "text", "text": CONTINUE_FIM}], "messages": [{"role": "user", "content": "q"}]}
    assert is_fim(ClientApi.ANTHROPIC_MESSAGES, body)


@pytest.mark.parametrize(
    "body",
    [
        chat(("user", "<QUERY>only the query</QUERY>")),
        chat(("user", "<COMPLETION></COMPLETION> and <QUERY> unclosed")),
        chat(("user", "hello"), ("user", CONTINUE_FIM)),
        {"messages": []},
        {"messages": ["text"]},
        {},
    ],
)
def test_chat_without_all_markers_in_the_first_message_is_not_fim(body: dict[str, Any]) -> None:
    assert not is_fim(ClientApi.OPENAI_CHAT, body)

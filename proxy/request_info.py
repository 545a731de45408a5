"""What routing needs to know about a request before choosing a mux rule: which client API it came through, the
filenames its user messages mention, and whether it is fill-in-the-middle (FIM) or chat.

Pure functions over the already-parsed JSON body; they never raise on odd shapes (a malformed body simply
yields no filenames), because validating the body is the provider's business, not routing's.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from typing import Any, Final


class ClientApi(enum.StrEnum):
    """The client-facing route a request arrived on."""

    OPENAI_CHAT = "openai_chat"
    OPENAI_COMPLETIONS = "openai_completions"
    ANTHROPIC_MESSAGES = "anthropic_messages"
    OLLAMA_CHAT = "ollama_chat"
    OLLAMA_GENERATE = "ollama_generate"


_PROMPT_APIS: Final = frozenset({ClientApi.OPENAI_COMPLETIONS, ClientApi.OLLAMA_GENERATE})

# A path-like token: no spaces, quotes, backticks or angle brackets, and at least one '.', '/' or '\'. The
# possessive quantifiers keep matching linear however long the line is.
_TOKEN = r"""[^\s`'"<>|./\\]*+[./\\][^\s`'"<>|]*+"""
_FENCE = r"(?:`{3,}+|~{3,}+)"

# Every branch starts with a literal ('\n' or '<'), which lets the regex engine skip ahead to candidate positions
# (twice as fast as '^' in MULTILINE mode); the text is searched with a '\n' prepended so its first line counts.
_FILENAME_PATTERN: Final = re.compile(
    rf"""
    # ```py src/app.py   or   ```src/app.py   (anything may follow the path, e.g. a line range)
    \n[ \t]*+{_FENCE}[ \t]*+(?:[\w+\#-]++[ \t]++)?(?P<fence>{_TOKEN})
    # Aider: a line holding only a path, followed by a line opening a fence
    | \n[ \t]*+(?P<aider>{_TOKEN})[ \t]*+\r?(?=\n[ \t]*+{_FENCE})
    # '# Path: app.py', '// Path: app.ts', '-- Path: q.sql', '/* Path: a.c */' (FIM prompts)
    | \n[ \t]*+(?:\#|//|--|;|/\*|\*|<!--)[ \t]*+[Pp]ath:[ \t]*+(?P<comment>[^\r\n]+)
    # Cline: <file_content path="...">, Kodu: <file path="...">
    | <(?:file_content|file)[ \t]+path=(?:"(?P<xml>[^"\r\n]+)"|'(?P<xml_single>[^'\r\n]+)')
    """,
    re.VERBOSE,
)
_WORD = re.compile(r"\w")
_SEPARATOR = re.compile(r"[/\\]")

_FIM_MARKERS: Final = ("<COMPLETION>", "</COMPLETION>", "<QUERY>", "</QUERY>")


def extract_filenames(body: dict[str, Any], api: ClientApi) -> list[str]:
    """Paths mentioned in the user's messages (or the prompt of a completion), unique, in order of appearance."""
    found: dict[str, None] = {}
    for text in user_texts(body, api):
        for match in _FILENAME_PATTERN.finditer("\n" + text):
            group = match.lastgroup
            if group is None:
                continue
            path = match.group(group)
            if group == "comment":
                path = path.rstrip().removesuffix("*/").removesuffix("-->")
            path = _clean(path)
            if path is not None:
                found.setdefault(path)
    return list(found)


def is_fim(api: ClientApi, body: dict[str, Any]) -> bool:
    """True for a fill-in-the-middle request: a legacy completion, an Ollama generate, or a chat request whose first
    message carries Continue's <COMPLETION>…</COMPLETION> and <QUERY>…</QUERY> markers."""
    if api in _PROMPT_APIS:
        return True
    first: list[Any] = []
    if api is ClientApi.ANTHROPIC_MESSAGES:
        # Anthropic keeps the system prompt, which opens the conversation, outside `messages`.
        first.append(body.get("system"))
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        first.append(messages[0].get("content"))
    for content in first:
        # Most requests are plain chat: a string without the first marker is settled by one substring search.
        if isinstance(content, str) and "<COMPLETION>" not in content:
            continue
        text = _content_text(content)
        if all(marker in text for marker in _FIM_MARKERS):
            return True
    return False


def user_texts(body: dict[str, Any], api: ClientApi) -> Iterator[str]:
    """The texts the user wrote: each user message's text parts, or the prompt of a completion/generate."""
    if api in _PROMPT_APIS:
        prompt = body.get("prompt")
        if isinstance(prompt, str):
            yield prompt
        elif isinstance(prompt, list):
            yield from (p for p in prompt if isinstance(p, str))
        return
    messages = body.get("messages")
    if not isinstance(messages, list):
        return
    for message in messages:
        if isinstance(message, dict) and message.get("role") == "user":
            yield from _content_texts(message.get("content"))


def _content_texts(content: Any) -> Iterator[str]:
    """Text of a message content: a string, or text parts/blocks, including the text inside tool results."""
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                yield part["text"]
            elif part.get("type") == "tool_result":
                yield from _content_texts(part.get("content"))


def _content_text(content: Any) -> str:
    return "\n".join(_content_texts(content))


def _clean(path: str) -> str | None:
    """The path as a filename, or None when the token only looks like one (a URL, 'e.g.', '...')."""
    path = path.strip().rstrip(":")
    if path.startswith("file://"):
        path = path.removeprefix("file://")
    elif "://" in path:
        return None
    basename = _SEPARATOR.split(path)[-1]
    if not basename or not _WORD.search(basename):
        return None
    has_directory = len(basename) < len(path)
    has_extension = "." in basename and not basename.endswith(".")
    if not (has_directory or has_extension):
        return None
    if " " in path and not has_extension:
        return None  # prose after 'Path:' rather than a file
    return path

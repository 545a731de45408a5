"""Custom instructions: after routing picks a rule, the workspace's instructions are placed in the request body in
the client's API format, before the body is translated for the provider.

Placement, for every chat format: the instructions come first, and the client's own system prompt follows intact.
- OpenAI chat and Ollama chat: prepended to the first system message (OpenAI: or developer message), separated by
  a blank line; a list content gets a text part inserted first; with no such message, a system message is
  inserted at the start of `messages`.
- Anthropic: the top-level `system` string gets the instructions and a blank line prepended; a list of blocks gets
  a text block inserted first; an absent `system` becomes the instructions.
- Legacy completions and Ollama generate carry raw or fill-in-the-middle prompts and are never changed. Callers
  skip FIM chat requests too (`request_info.is_fim`): instructions apply to chat only.

The body given is never mutated: what changes is copied, shallowly, and everything else is shared.
"""

from __future__ import annotations

from typing import Any, Final

from proxy.request_info import ClientApi

_SYSTEM_ROLES: Final = {
    ClientApi.OPENAI_CHAT: frozenset({"system", "developer"}),
    ClientApi.OLLAMA_CHAT: frozenset({"system"}),
}


def add_instructions(body: dict[str, Any], api: ClientApi, instructions: str) -> dict[str, Any]:
    """`body` with `instructions` placed ahead of the client's system prompt; `body` itself when there is nothing
    to add or the API takes no instructions."""
    if not instructions.strip():
        return body
    if api is ClientApi.ANTHROPIC_MESSAGES:
        return {**body, "system": _prepend(body.get("system"), instructions)}
    roles = _SYSTEM_ROLES.get(api)
    messages = body.get("messages")
    if roles is None or not isinstance(messages, list):
        return body
    for index, message in enumerate(messages):
        if isinstance(message, dict) and message.get("role") in roles:
            updated = {**message, "content": _prepend(message.get("content"), instructions)}
            return {**body, "messages": [*messages[:index], updated, *messages[index + 1 :]]}
    return {**body, "messages": [{"role": "system", "content": instructions}, *messages]}


def _prepend(content: Any, instructions: str) -> Any:
    """Instructions ahead of a string or a list of text parts; they replace an empty or missing content."""
    if isinstance(content, list):
        return [{"type": "text", "text": instructions}, *content]
    if isinstance(content, str) and content:
        return f"{instructions}\n\n{content}"
    return instructions

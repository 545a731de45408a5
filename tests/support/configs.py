"""Config files as text, for tests that write a directory the gateway follows (live reconcile, push, `serve`)."""

from __future__ import annotations

# Line 7, column 17 names a provider that is not declared.
UNKNOWN_PROVIDER = """\
apiVersion: muxgate/v1
kind: Workspace
metadata: {name: default}
spec:
  muxRules:
    - match: {type: catch_all}
      provider: opnai
      model: fake-model
"""


def provider_yaml(fake_url: str) -> str:
    """Provider "fake": the fake provider's OpenAI API at `fake_url`."""
    return (
        "apiVersion: muxgate/v1\nkind: Provider\nmetadata: {name: fake}\n"
        f"spec:\n  type: openai\n  endpoint: {fake_url}/v1\n"
    )


def workspace_yaml(name: str, model: str) -> str:
    """Workspace `name` sending every request to `model` of provider "fake"."""
    return (
        f"apiVersion: muxgate/v1\nkind: Workspace\nmetadata: {{name: {name}}}\nspec:\n  muxRules:\n"
        f"    - match: {{type: catch_all}}\n      provider: fake\n      model: {model}\n"
    )

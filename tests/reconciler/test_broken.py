"""Broken config repositories: every mistake gives one diagnostic at the right file:line:column, in plain words."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler import loader
from reconciler.check import check_dir
from reconciler.diagnostics import Diagnostic, Severity

ERROR, WARNING = Severity.ERROR, Severity.WARNING
Files = Mapping[str, str | bytes | None]

PROVIDERS = """\
apiVersion: muxgate/v1
kind: Provider
metadata: {name: openai}
spec:
  type: openai
  auth:
    type: api_key
    apiKey: {fromEnv: OPENAI_API_KEY}
  models:
    - name: gpt-4o-mini
    - name: gpt-4o
---
apiVersion: muxgate/v1
kind: Provider
metadata: {name: local-ollama}
spec:
  type: ollama
"""

# The workspace most cases break one line of. Line numbers are worth keeping in view:
WORKSPACE = """\
apiVersion: muxgate/v1
kind: Workspace
metadata:
  name: backend
spec:
  customInstructions: Prefer the standard library.
  muxRules:
    - match: {type: chat_filename, pattern: "*.py"}
      provider: openai
      model: gpt-4o-mini
    - match: {type: catch_all}
      provider: local-ollama
      model: qwen2.5-coder:7b
"""
#  1 apiVersion   2 kind   3 metadata   4 name   5 spec   6 customInstructions   7 muxRules
#  8 - match (rule 0)   9 provider   10 model   11 - match (rule 1, catch_all)   12 provider   13 model


def ws(old: str, new: str) -> dict[str, str]:
    """The providers plus the workspace with one piece of text replaced."""
    assert old in WORKSPACE, old
    return {"providers.yaml": PROVIDERS, "ws.yaml": WORKSPACE.replace(old, new, 1)}


def provider(spec: str, name: str = "vllm") -> dict[str, str]:
    """One provider document whose spec lines (indented by two) start on line 5."""
    return {"p.yaml": f"apiVersion: muxgate/v1\nkind: Provider\nmetadata: {{name: {name}}}\nspec:\n{spec}"}


def fake_openai_key() -> str:
    # Built from pieces so that no scanner mistakes this test file for a leak.
    return "sk-" + "proj-" + "Zq8Lm2Wx7Rt4Yp1Kd6Hs3Fv9Bn5Cj0Ae"


def fake_github_token() -> str:
    return "gh" + "p_" + "R7kP2mQ9xW4tL8vN3bY6cH1jF5sD0gZ2aE7u"


@dataclass(frozen=True)
class Expect:
    file: str | None
    line: int | None
    column: int | None
    severity: Severity
    code: str
    phrase: str
    hint: str = ""


JARGON = ("Input should be", "Value error", "instance of", "valid dictionary", "Field required", "String should")


def assert_diagnostics(found: Sequence[Diagnostic], expected: Sequence[Expect]) -> None:
    shown = "\n".join(f"  {d.location} {d.severity.value} {d.code}: {d.message} | {d.hint}" for d in found)
    got = [(d.file, d.line, d.column, d.severity, d.code) for d in found]
    want = [(e.file, e.line, e.column, e.severity, e.code) for e in expected]
    assert got == want, f"diagnostics were:\n{shown}"
    for d, e in zip(found, expected, strict=True):
        assert e.phrase in d.message, f"{e.phrase!r} not in {d.message!r}"
        assert e.hint in d.hint, f"{e.hint!r} not in {d.hint!r}"
        for word in JARGON:
            assert word not in d.message, d.message
            assert word not in d.hint, d.hint
        assert d.message.endswith((".", "?")), d.message


def case(case_id: str, files: Files, *expected: Expect) -> object:
    return pytest.param(files, expected, id=case_id)


BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['x'] * 9)}]\n"
    for prev, name in zip(["", "a", "b", "c", "d", "e", "f", "g"], "abcdefgh", strict=True)
)

CASES = [
    # --- YAML itself -------------------------------------------------------------------------------------------
    case(
        "yaml-unclosed-flow-sequence",
        {"a.yaml": "apiVersion: muxgate/v1\nkind: [Provider\n"},
        Expect("a.yaml", 3, 1, ERROR, "yaml-syntax", "flow sequence that starts on line 2, column 7"),
    ),
    case(
        "yaml-unquoted-colon-in-value",
        ws("customInstructions: Prefer the standard library.", "customInstructions: Note: prefer the stdlib."),
        Expect("ws.yaml", 6, 27, ERROR, "yaml-syntax", "Mapping values are not allowed", "must be quoted"),
    ),
    case(
        "yaml-tab-indentation",
        ws("  name: backend", "\tname: backend"),
        Expect("ws.yaml", 4, 1, ERROR, "yaml-syntax", "Line 4 uses a tab", "replace the tab characters with spaces"),
    ),
    case(
        "yaml-duplicate-key",
        ws("  name: backend\n", "  name: backend\n  name: frontend\n"),
        Expect("ws.yaml", 5, 3, ERROR, "duplicate-key", 'The key "name" appears twice', "Remove one of them"),
    ),
    case(
        "yaml-unknown-local-tag",
        ws("name: backend", "name: !env WORKSPACE"),
        Expect("ws.yaml", 4, 9, ERROR, "yaml-tag", "The tag !env is not supported", "Remove the tag"),
    ),
    case(
        "yaml-python-object-tag-on-a-mapping",
        ws("metadata:\n  name: backend\n", "metadata: !!python/object:os.system\n  name: backend\n"),
        Expect("ws.yaml", 3, 11, ERROR, "yaml-tag", "!!python/object:os.system is not supported"),
    ),
    case(
        "yaml-alias-across-documents",
        {
            "a.yaml": "apiVersion: muxgate/v1\nkind: Persona\nmetadata: {name: a}\nspec: &s {description: x}\n"
            "---\napiVersion: muxgate/v1\nkind: Persona\nmetadata: {name: b}\nspec: *s\n"
        },
        Expect("a.yaml", 9, 7, ERROR, "yaml-alias", "*s refers to no anchor", "do not carry over"),
    ),
    case(
        "yaml-control-character",
        ws("Prefer the standard library.", "Prefer the \x07standard library."),
        Expect("ws.yaml", 6, 34, ERROR, "control-character", "U+0007 is not allowed"),
    ),
    case(
        "yaml-nesting-too-deep",
        {"a.yaml": "a: " + "[" * 100_000 + "]" * 100_000 + "\n"},
        Expect("a.yaml", 1, 67, ERROR, "too-deep", "nested more than 64 levels"),
    ),
    case(
        "not-utf8-column-counts-characters",
        {"a.yaml": "# résumé\nkind: caf".encode() + b"\xe9\n"},
        Expect("a.yaml", 2, 10, ERROR, "not-utf8", "Byte 0xe9 at offset", "Save the file as UTF-8"),
    ),
    case(
        "file-over-one-mebibyte",
        {"big.yaml": "# " + "x" * (1024 * 1024) + "\n", "providers.yaml": PROVIDERS, "ws.yaml": WORKSPACE},
        Expect("big.yaml", None, None, ERROR, "file-too-large", "at most 1,048,576 bytes", "Split the file"),
    ),
    # --- document shape ----------------------------------------------------------------------------------------
    case("empty-file", {"a.yaml": ""}),
    case("only-comments-and-separators", {"a.yaml": "# nothing yet\n---\n# still nothing\n---\n"}),
    case(
        "document-is-a-list",
        {"a.yaml": "- apiVersion: muxgate/v1\n- kind: Workspace\n"},
        Expect("a.yaml", 1, 1, ERROR, "not-a-mapping", "found a list"),
    ),
    case(
        "document-is-a-scalar",
        {"a.yaml": "# a note\nhello world\n"},
        Expect("a.yaml", 2, 1, ERROR, "not-a-mapping", 'found a string ("hello world")'),
    ),
    case(
        "api-version-missing",
        {"a.yaml": "# header\nkind: Workspace\nmetadata: {name: x}\n"},
        Expect("a.yaml", 2, 1, ERROR, "missing-api-version", "no apiVersion", "apiVersion: muxgate/v1"),
    ),
    case(
        "api-version-unknown",
        ws("apiVersion: muxgate/v1", "apiVersion: muxgate/v2"),
        Expect("ws.yaml", 1, 13, ERROR, "unknown-api-version", '"muxgate/v2" is not supported'),
    ),
    case(
        "kind-misspelt",
        ws("kind: Workspace", "kind: Workspce"),
        Expect("ws.yaml", 2, 7, ERROR, "unknown-kind", 'Did you mean "Workspace"?'),
    ),
    case(
        "kind-is-a-list",
        ws("kind: Workspace", "kind: [Workspace]"),
        Expect("ws.yaml", 2, 7, ERROR, "unknown-kind", "kind must be a single word, not a list"),
    ),
    # --- unknown and misspelt fields ---------------------------------------------------------------------------
    case(
        "field-misspelt-at-the-top",
        ws("spec:", "sepc:"),
        Expect("ws.yaml", 5, 1, ERROR, "unknown-field", '"sepc" is not a field of the document. Did you mean "spec"?'),
    ),
    case(
        "field-misspelt-in-metadata",
        ws("  name: backend\n", "  name: backend\n  label: {team: payments}\n"),
        Expect("ws.yaml", 5, 3, ERROR, "unknown-field", 'Did you mean "labels"?', "Allowed fields here: name, labels"),
    ),
    case(
        "field-misspelt-in-a-rule-is-one-error",
        ws("      model: gpt-4o-mini", "      modle: gpt-4o-mini"),
        Expect("ws.yaml", 10, 7, ERROR, "unknown-field", '"modle" is not a field of spec.muxRules[0]'),
    ),
    case(
        "field-misspelt-four-levels-down",
        {
            "p.yaml": PROVIDERS.replace(
                "    - name: gpt-4o\n", "    - name: gpt-4o\n      price: {inputPerMtok: 2.5, outputPerMTok: 10}\n"
            )
        },
        Expect("p.yaml", 12, 15, ERROR, "unknown-field", 'Did you mean "inputPerMTok"?'),
    ),
    case(
        "field-in-snake-case",
        ws("customInstructions:", "custom_instructions:"),
        Expect("ws.yaml", 6, 3, ERROR, "unknown-field", 'Did you mean "customInstructions"?'),
    ),
    case(
        "field-named-like-the-auth-type",
        provider("  type: openai\n  auth:\n    type: api_key\n    api_key: {fromEnv: OPENAI_API_KEY}\n"),
        Expect("p.yaml", 8, 5, ERROR, "unknown-field", '"api_key" is not a field of spec.auth. Did you mean "apiKey"?'),
    ),
    # --- wrong types -------------------------------------------------------------------------------------------
    case(
        "string-for-a-list",
        {"ws.yaml": "apiVersion: muxgate/v1\nkind: Workspace\nmetadata: {name: x}\nspec:\n  muxRules: catch_all\n"},
        Expect("ws.yaml", 5, 13, ERROR, "wrong-type", 'spec.muxRules must be a list, not a string ("catch_all")'),
    ),
    case(
        "list-for-a-mapping",
        ws("metadata:\n  name: backend\n", "metadata:\n  - name: backend\n"),
        Expect("ws.yaml", 4, 3, ERROR, "wrong-type", "metadata must be a mapping, not a list", "key: value"),
    ),
    case(
        "yes-for-a-boolean",
        ws("spec:\n", "spec:\n  archived: yes\n"),
        Expect("ws.yaml", 6, 13, ERROR, "wrong-type", "must be true or false", "YAML 1.2 reads yes as text"),
    ),
    case(
        "string-for-a-price",
        {
            "p.yaml": PROVIDERS.replace(
                "    - name: gpt-4o\n",
                '    - name: gpt-4o\n      price: {inputPerMTok: "2.50", outputPerMTok: 10}\n',
            )
        },
        Expect("p.yaml", 12, 29, ERROR, "wrong-type", "must be a number", "Write the number without quotes"),
    ),
    case(
        "number-for-a-label",
        ws("  name: backend\n", "  name: backend\n  labels: {cost-center: 4711}\n"),
        Expect("ws.yaml", 5, 25, ERROR, "wrong-type", "must be text, not a number (4711)", '"4711"'),
    ),
    case(
        "empty-spec",
        {"ws.yaml": "apiVersion: muxgate/v1\nkind: Provider\nmetadata: {name: x}\nspec:\n"},
        Expect("ws.yaml", 4, 6, ERROR, "wrong-type", "spec must be a mapping, not nothing", "remove the empty spec"),
    ),
    case(
        "negative-price",
        {
            "p.yaml": PROVIDERS.replace(
                "- name: gpt-4o\n", "- {name: gpt-4o, price: {inputPerMTok: -1, outputPerMTok: 2}}\n"
            )
        },
        Expect("p.yaml", 11, 44, ERROR, "out-of-range", "must be at least 0, not -1"),
    ),
    # --- required fields ---------------------------------------------------------------------------------------
    case(
        "provider-without-spec",
        {"p.yaml": "apiVersion: muxgate/v1\nkind: Provider\nmetadata: {name: openai}\n"},
        Expect("p.yaml", 1, 1, ERROR, "missing-field", '"spec" is required in the document'),
    ),
    case(
        "metadata-without-name",
        ws("metadata:\n  name: backend\n", "metadata:\n  labels: {team: payments}\n"),
        Expect("ws.yaml", 3, 1, ERROR, "missing-field", '"name" is required in metadata'),
    ),
    case(
        "mux-rule-without-model",
        ws("      model: gpt-4o-mini\n", ""),
        Expect("ws.yaml", 8, 7, ERROR, "missing-field", '"model" is required in spec.muxRules[0]', "Add model:"),
    ),
    # --- names -------------------------------------------------------------------------------------------------
    case(
        "name-upper-case",
        ws("name: backend", "name: Backend"),
        Expect("ws.yaml", 4, 9, ERROR, "invalid-name", '"Backend" is not a valid name', '"backend"'),
    ),
    case(
        "name-with-a-space",
        ws("name: backend", "name: back end"),
        Expect("ws.yaml", 4, 9, ERROR, "invalid-name", '"back end" is not a valid name', '"back-end"'),
    ),
    case(
        "name-too-long",
        ws("name: backend", "name: " + "b" * 64),
        Expect("ws.yaml", 4, 9, ERROR, "invalid-name", "at most 63 characters"),
    ),
    *(
        case(
            f"reserved-workspace-name-{name}",
            ws("name: backend", f"name: {name}"),
            Expect("ws.yaml", 4, 9, ERROR, "reserved-name", f'"{name}" is reserved', "Choose another name"),
        )
        for name in ("active", "archive", "archived")
    ),
    case(
        "same-name-in-two-files",
        {
            "providers.yaml": PROVIDERS,
            "a/backend.yaml": WORKSPACE,
            "b/backend-copy.yaml": "# copied\n" + WORKSPACE,
        },
        Expect("b/backend-copy.yaml", 5, 9, ERROR, "duplicate-name", "already declared in a/backend.yaml line 4"),
    ),
    case(
        "default-workspace-archived",
        {"d.yaml": "apiVersion: muxgate/v1\nkind: Workspace\nmetadata: {name: default}\nspec:\n  archived: true\n"},
        Expect("d.yaml", 5, 13, ERROR, "default-archived", 'The "default" workspace', "Remove 'archived: true'"),
    ),
    # --- references ----------------------------------------------------------------------------------------------
    case(
        "rule-names-an-undeclared-provider",
        ws("provider: openai", "provider: opnai"),
        Expect("ws.yaml", 9, 17, ERROR, "unknown-provider", 'Did you mean "openai"? Declared: local-ollama, openai.'),
    ),
    case(
        "rule-names-a-model-the-provider-does-not-list",
        ws("model: gpt-4o-mini", "model: gpt-4o-mni"),
        Expect("ws.yaml", 10, 14, ERROR, "unknown-model", 'Did you mean "gpt-4o-mini"? Listed: gpt-4o-mini, gpt-4o.'),
    ),
    case(
        "provider-reference-in-upper-case",
        ws("provider: openai", "provider: OpenAI"),
        Expect("ws.yaml", 9, 17, ERROR, "invalid-name", '"OpenAI" is not a valid name', '"openai"'),
    ),
    # --- rules -------------------------------------------------------------------------------------------------
    case(
        "glob-never-closed",
        ws('pattern: "*.py"', 'pattern: "[abc"'),
        Expect("ws.yaml", 8, 45, ERROR, "invalid-glob", "never closed with ']'"),
    ),
    case(
        "glob-range-backwards",
        ws('pattern: "*.py"', 'pattern: "[z-a].py"'),
        Expect("ws.yaml", 8, 45, ERROR, "invalid-glob", "bad character range z-a"),
    ),
    case(
        "catch-all-with-a-pattern",
        ws("{type: catch_all}", '{type: catch_all, pattern: "*.md"}'),
        Expect("ws.yaml", 11, 41, ERROR, "catch-all-pattern", "takes no pattern", "Remove the pattern"),
    ),
    case(
        "rule-after-the-catch-all-is-a-warning",
        ws(
            "      model: qwen2.5-coder:7b\n",
            "      model: qwen2.5-coder:7b\n    - match: {type: fim_filename}\n"
            "      provider: openai\n      model: gpt-4o\n",
        ),
        Expect("ws.yaml", 14, 14, WARNING, "unreachable-rule", "Rule 2 comes after the catch_all rule 1"),
    ),
    case(
        "no-catch-all-is-a-warning",
        ws("type: catch_all", "type: fim_filename"),
        Expect("ws.yaml", 7, 3, WARNING, "no-catch-all", "none of type catch_all", "End the list with"),
    ),
    # --- secrets -----------------------------------------------------------------------------------------------
    case(
        "api-key-committed-in-apiKey",
        provider(f"  type: openai\n  auth:\n    type: api_key\n    apiKey: {fake_openai_key()}\n"),
        Expect("p.yaml", 8, 13, ERROR, "literal-credential", "looks like an OpenAI API key", "fromEnv"),
    ),
    case(
        "api-key-pasted-into-custom-instructions",
        ws("Prefer the standard library.", f"Call the API with {fake_openai_key()} if needed."),
        Expect("ws.yaml", 6, 23, ERROR, "literal-credential", "looks like an OpenAI API key", "Rotate"),
    ),
    case(
        "token-in-a-label",
        ws("  name: backend\n", f"  name: backend\n  labels:\n    deploy: {fake_github_token()}\n"),
        Expect("ws.yaml", 6, 13, ERROR, "literal-credential", "looks like a GitHub token"),
    ),
    case(
        "endpoint-with-a-password",
        provider("  type: vllm\n  endpoint: https://admin:hunter2@vllm.internal:8000/v1\n"),
        Expect("p.yaml", 6, 13, ERROR, "literal-credential", "looks like a URL with a password"),
    ),
    case(
        "api-key-names-a-variable-without-fromEnv",
        provider("  type: openai\n  auth:\n    type: api_key\n    apiKey: OPENAI_API_KEY_PROD\n"),
        Expect("p.yaml", 8, 13, ERROR, "wrong-type", "must be a mapping", "apiKey: {fromEnv: NAME}"),
    ),
    # --- providers ---------------------------------------------------------------------------------------------
    case(
        "vllm-without-endpoint",
        provider("  type: vllm\n"),
        Expect("p.yaml", 5, 9, ERROR, "endpoint-missing", "type vllm has no well-known address", "Add endpoint:"),
    ),
    case(
        "endpoint-not-http",
        provider("  type: vllm\n  endpoint: ftp://vllm.internal/v1\n"),
        Expect("p.yaml", 6, 13, ERROR, "invalid-endpoint", "not an http:// or https:// URL"),
    ),
    case(
        "auth-api-key-without-apiKey",
        provider("  type: openai\n  auth:\n    type: api_key\n"),
        Expect("p.yaml", 6, 3, ERROR, "missing-field", '"apiKey" is required in spec.auth', "Add apiKey:"),
    ),
    case(
        "apiKey-with-both-sources",
        provider("  type: openai\n  auth:\n    type: api_key\n    apiKey: {fromEnv: KEY, fromFile: /run/key}\n"),
        Expect("p.yaml", 8, 13, ERROR, "secret-source", "gives both fromEnv and fromFile", "Keep exactly one"),
    ),
    case(
        "apiKey-env-name-with-a-space",
        provider("  type: openai\n  auth:\n    type: api_key\n    apiKey: {fromEnv: 'OPENAI KEY'}\n"),
        Expect("p.yaml", 8, 23, ERROR, "invalid-env-name", "is not an environment variable name"),
    ),
    case(
        "auth-type-unknown",
        provider("  type: openai\n  auth:\n    type: apikey\n"),
        Expect("p.yaml", 7, 11, ERROR, "invalid-value", 'Did you mean "api_key"?', "none, passthrough, api_key"),
    ),
    case(
        "auth-without-type",
        provider("  type: openai\n  auth: {}\n"),
        Expect("p.yaml", 6, 9, ERROR, "missing-field", '"type" is required', "none, passthrough, api_key"),
    ),
    case(
        "provider-type-unknown",
        provider("  type: opneai\n"),
        Expect("p.yaml", 5, 9, ERROR, "invalid-value", 'Did you mean "openai"?'),
    ),
    # --- many at once ------------------------------------------------------------------------------------------
    case(
        "several-files-one-pass-sorted-by-file-and-line",
        {
            "z.yaml": "apiVersion: muxgate/v1\nkind: Persona\nmetadata: {name: Reviewer}\nspec: {description: x}\n",
            "b/ws.yaml": WORKSPACE.replace("name: backend", "name: Backend").replace("chat_filename", "chat"),
            "a.yaml": "kind: [\n",
            "providers.yaml": PROVIDERS,
        },
        Expect("a.yaml", 2, 1, ERROR, "yaml-syntax", "Did not find expected node content"),
        Expect("b/ws.yaml", 4, 9, ERROR, "invalid-name", '"Backend"'),
        Expect("b/ws.yaml", 8, 21, ERROR, "invalid-value", '"chat" is not allowed'),
        Expect("z.yaml", 3, 18, ERROR, "invalid-name", '"Reviewer"'),
    ),
]


@pytest.mark.parametrize(("files", "expected"), CASES)
def test_broken_repository(write_tree: Callable[[Files], Path], files: Files, expected: tuple[Expect, ...]) -> None:
    checked = check_dir(write_tree(files))

    assert_diagnostics(checked.diagnostics, expected)
    assert (checked.state is None) == any(e.severity is ERROR for e in expected)


def test_alias_bomb_is_rejected(write_tree: Callable[[Files], Path]) -> None:
    checked = check_dir(write_tree({"bomb.yaml": BOMB}))

    assert_diagnostics(
        checked.diagnostics,
        [Expect("bomb.yaml", 1, 1, ERROR, "alias-bomb", "more than 10,000 values", "Remove the nested anchors")],
    )


@pytest.mark.parametrize(("budget", "codes"), [(89, ["alias-bomb"]), (90, [])])
def test_the_alias_budget_is_what_stops_expansion(
    write_tree: Callable[[Files], Path], monkeypatch: pytest.MonkeyPatch, budget: int, codes: list[str]
) -> None:
    # Nine uses of a nine-item list: 9 x (1 list + 9 items) = 90 values built through aliases.
    monkeypatch.setattr(loader, "MAX_ALIAS_NODES_PER_FILE", budget)
    text = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"

    checked = check_dir(write_tree({"small.yaml": text}))

    assert [d.code for d in checked.load.diagnostics] == codes


# --- the folder itself -----------------------------------------------------------------------------------------


def test_symlink_to_a_file_outside_is_not_followed(write_tree: Callable[[Files], Path], tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(PROVIDERS)
    root = write_tree({"ws.yaml": WORKSPACE})
    (root / "providers.yaml").symlink_to(outside)

    checked = check_dir(root)

    assert_diagnostics(
        checked.diagnostics,
        [
            Expect("providers.yaml", None, None, WARNING, "symlink-outside", "outside the config directory"),
            Expect("ws.yaml", 9, 17, ERROR, "unknown-provider", '"openai"'),
            Expect("ws.yaml", 12, 17, ERROR, "unknown-provider", '"local-ollama"'),
        ],
    )


def test_symlink_to_a_folder_outside_is_not_followed(write_tree: Callable[[Files], Path], tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "providers.yaml").write_text(PROVIDERS)
    root = write_tree(
        {"personas.yaml": "apiVersion: muxgate/v1\nkind: Persona\nmetadata: {name: p}\nspec: {description: d}\n"}
    )
    (root / "shared").symlink_to(tmp_path / "shared", target_is_directory=True)

    checked = check_dir(root)

    assert_diagnostics(
        checked.diagnostics,
        [Expect("shared", None, None, WARNING, "symlink-outside", "the folder is not read")],
    )
    assert checked.state is not None
    assert list(checked.state.providers) == []


def test_symlink_inside_the_folder_is_followed(write_tree: Callable[[Files], Path]) -> None:
    # Hidden folders are not read, so the providers arrive only through the link.
    root = write_tree({".shared/providers.yaml": PROVIDERS, "ws.yaml": WORKSPACE})
    (root / "providers.yaml").symlink_to(root / ".shared" / "providers.yaml")

    checked = check_dir(root)

    assert checked.diagnostics == ()
    assert checked.state is not None
    assert sorted(checked.state.providers) == ["local-ollama", "openai"]


def test_a_loop_of_symlinks_is_reported_not_followed(write_tree: Callable[[Files], Path]) -> None:
    root = write_tree({})
    (root / "a.yaml").symlink_to(root / "b.yaml")
    (root / "b.yaml").symlink_to(root / "a.yaml")

    checked = check_dir(root)

    assert [(d.file, d.code, d.severity) for d in checked.diagnostics] == [
        ("a.yaml", "unreadable", ERROR),
        ("b.yaml", "unreadable", ERROR),
    ]


def test_missing_folder(tmp_path: Path) -> None:
    checked = check_dir(tmp_path / "nowhere")

    assert_diagnostics(checked.diagnostics, [Expect(None, None, None, ERROR, "dir-missing", "does not exist")])
    assert checked.state is None


def test_folder_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(WORKSPACE)

    checked = check_dir(path)

    assert_diagnostics(
        checked.diagnostics,
        [Expect(None, None, None, ERROR, "dir-not-directory", "is a file, not a directory")],
    )


def test_dangling_symlink_is_an_unreadable_file(write_tree: Callable[[Files], Path]) -> None:
    root = write_tree({})
    (root / "gone.yaml").symlink_to(root / "deleted.yaml")

    checked = check_dir(root)

    assert_diagnostics(
        checked.diagnostics,
        [Expect("gone.yaml", None, None, ERROR, "unreadable", "gone.yaml cannot be read: No such file or directory")],
    )

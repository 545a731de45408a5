"""Tests for reconciler.render: golden outputs for each format, and the details each format must get right.

Golden files live in tests/reconciler/golden/. After an intended change, regenerate them with
`MUXGATE_UPDATE_GOLDEN=1 pytest tests/reconciler/test_render.py` and review the diff before committing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from reconciler.diagnostics import Diagnostic, Severity
from reconciler.models import (
    API_VERSION,
    Metadata,
    NoAuth,
    Provider,
    ProviderSpec,
    ProviderType,
    Resource,
)
from reconciler.plan import ABSENT, ActionType, Change, Plan, ResourceAction, diff
from reconciler.render import (
    escape_data,
    escape_property,
    github_step_summary,
    render_github,
    render_json,
    render_text,
)
from reconciler.state import DesiredState, Origin
from tests.support.states import persona, provider, rule, workspace

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("MUXGATE_UPDATE_GOLDEN") == "1"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(actual.encode())
    expected = path.read_bytes().decode()
    assert actual == expected, f"{name} differs; if the change is intended, regenerate with MUXGATE_UPDATE_GOLDEN=1"


# --- builders -----------------------------------------------------------------------------------------------


def openai(models: Sequence[str] = ("gpt-4o", "gpt-4o-mini"), key_env: str = "OPENAI_API_KEY") -> Provider:
    return provider("openai", models=models, key_env=key_env)


def ollama() -> Provider:
    return Provider(
        api_version=API_VERSION,
        kind="Provider",
        metadata=Metadata(name="local-ollama"),
        spec=ProviderSpec(type=ProviderType.OLLAMA, auth=NoAuth(type="none")),
    )


def state(*resources: Resource) -> DesiredState:
    return DesiredState.build([(r, Origin(f"{r.metadata.name}.yaml", 1)) for r in resources])


BACKEND_RULES = [rule("gpt-4o", pattern="*.py"), rule("qwen2.5-coder:7b", provider="local-ollama")]


def mixed_plan() -> Plan:
    """One of every action: the plan most golden files show."""
    current = state(
        openai(),
        persona("old-reviewer", "Reviews code"),
        workspace("backend", rules=BACKEND_RULES, instructions="Prefer the standard library.", labels={"team": "a"}),
        workspace("legacy", instructions="Keep it short."),
        workspace("docs", archived=True, instructions="Write in plain English."),
        workspace("gone", archived=True),
    )
    desired = state(
        openai(),
        ollama(),
        persona("reviewer", "Reviews code for security issues"),
        workspace(
            "backend",
            rules=[rule("gpt-4o-mini", pattern="*.py"), BACKEND_RULES[1]],
            instructions="Prefer the standard library.",
            labels={"team": "a"},
        ),
        workspace(
            "frontend",
            instructions="Use TypeScript strict mode in every file you touch.\nPrefer small components.",
            rules=[rule("gpt-4o", pattern="*.ts"), rule("gpt-4o-mini")],
            labels={"team": "web"},
        ),
        workspace("docs", instructions="Write in plain, short English."),
    )
    return diff(desired, current, prune=True, source_label="examples/workspaces", current_label="origin/main")


SOURCE = {
    "backend.yaml": [
        "apiVersion: muxgate/v1\n",
        "kind: Workspace\n",
        "metadata: {name: backend}\n",
        "spec:\n",
        "  muxRules:\n",
        '    - match: {type: chat_filename, pattern: "*.py"}\n',
        "      provider: opnai\n",
        "      model: gpt-4o\n",
    ]
}
UNKNOWN_PROVIDER = Diagnostic(
    Severity.ERROR,
    "unknown provider in mux rule",
    file="backend.yaml",
    line=7,
    column=17,
    end_column=22,
    path=("spec", "muxRules", 0, "provider"),
    message='No provider named "opnai" is declared.',
    hint='Did you mean "openai"? Declared: openai, local-ollama.',
    code="unknown-provider",
)
NO_CATCH_ALL = Diagnostic(
    Severity.WARNING,
    "workspace has no catch_all rule",
    file="backend.yaml",
    line=5,
    column=3,
    end_column=11,
    path=("spec", "muxRules"),
    message="Requests that match no rule are answered with 404.",
    hint="End the list with a rule whose match is {type: catch_all}.",
    code="no-catch-all",
)


# --- golden files -------------------------------------------------------------------------------------------


def test_golden_text_plan() -> None:
    check_golden("plan.txt", render_text(mixed_plan(), [], {}, color=False))


def test_golden_text_plan_in_colour() -> None:
    check_golden("plan.color.txt", render_text(mixed_plan(), [], {}, color=True))


def test_golden_json_plan() -> None:
    check_golden("plan.json", render_json(mixed_plan(), [NO_CATCH_ALL]))


def test_golden_github_plan() -> None:
    check_golden("plan.github.txt", render_github(mixed_plan(), [NO_CATCH_ALL], SOURCE, path_prefix="config"))


def test_golden_github_step_summary() -> None:
    check_golden("plan.summary.md", github_step_summary(mixed_plan(), [NO_CATCH_ALL]))


def test_golden_text_invalid() -> None:
    check_golden("invalid.txt", render_text(None, [UNKNOWN_PROVIDER, NO_CATCH_ALL], SOURCE, color=False))


def test_golden_text_invalid_in_colour() -> None:
    check_golden("invalid.color.txt", render_text(None, [UNKNOWN_PROVIDER, NO_CATCH_ALL], SOURCE, color=True))


def test_golden_json_invalid() -> None:
    check_golden("invalid.json", render_json(None, [UNKNOWN_PROVIDER, NO_CATCH_ALL]))


def test_golden_github_invalid() -> None:
    check_golden("invalid.github.txt", render_github(None, [UNKNOWN_PROVIDER, NO_CATCH_ALL], SOURCE))


# --- text ---------------------------------------------------------------------------------------------------


def test_colour_only_when_asked() -> None:
    plain = render_text(mixed_plan(), [UNKNOWN_PROVIDER], SOURCE, color=False)
    coloured = render_text(mixed_plan(), [NO_CATCH_ALL], SOURCE, color=True)
    assert "\x1b" not in plain
    assert "\x1b[32m+\x1b[0m" in coloured
    assert "\x1b[33m~\x1b[0m" in coloured
    assert "\x1b[31m-\x1b[0m" in coloured
    assert ANSI.sub("", coloured) == render_text(mixed_plan(), [NO_CATCH_ALL], SOURCE, color=False)


def test_no_changes_sentence_names_what_was_compared() -> None:
    desired = state(openai(), workspace("backend"))
    text = render_text(diff(desired, desired, current_label="the running gateway"), [], {}, color=False)
    assert text == "No changes. Your configuration matches the running gateway.\n"


def test_summary_counts_recover_and_delete_only_when_present() -> None:
    text = render_text(diff(state(workspace("new")), state()), [], {}, color=False)
    assert text.endswith("\nPlan: 1 to add, 0 to change, 0 to archive.\n")
    assert "Plan: 3 to add, 1 to change, 1 to archive, 1 to recover, 2 to delete." in render_text(
        mixed_plan(), [], {}, color=False
    )


def test_errors_suppress_the_plan_and_warnings_do_not() -> None:
    plan = mixed_plan()
    assert "Muxgate will perform" not in render_text(plan, [UNKNOWN_PROVIDER], SOURCE, color=False)
    assert "Muxgate will perform" in render_text(plan, [NO_CATCH_ALL], SOURCE, color=False)


def caret_line(diagnostic: Diagnostic, lines: list[str]) -> str:
    text = render_text(None, [diagnostic], {"f.yaml": lines}, color=False)
    return next(line for line in text.splitlines() if set(line.strip()) == {"^"})


def at(column: int, end_column: int | None, line: int = 2) -> Diagnostic:
    return Diagnostic(Severity.ERROR, "bad", file="f.yaml", line=line, column=column, end_column=end_column)


def test_snippet_shows_the_line_before_and_underlines_the_span() -> None:
    text = render_text(None, [at(9, 14)], {"f.yaml": ["a: 1\n", "model:  gpt-x\n", "c: 3\n"]}, color=False)
    assert text.splitlines()[1:5] == [
        "  on f.yaml line 2, column 9:",
        "    1 | a: 1",
        "    2 | model:  gpt-x",
        "                ^^^^^",
    ]


@pytest.mark.parametrize(
    ("column", "end_column", "expected"),
    [
        (1, 2, "^"),  # one character
        (3, None, "  ^"),  # no end: one caret
        (3, 3, "  ^"),  # an empty span still gets one caret
        (4, 99, "   ^^"),  # the span is cut at the end of the line
        (9, 12, "        ^"),  # past the end of the line: one caret where it points
    ],
)
def test_caret_positions(column: int, end_column: int | None, expected: str) -> None:
    assert caret_line(at(column, end_column), ["x\n", "abcde\n"]) == " " * 8 + expected


def test_carets_follow_tabs_and_wide_characters() -> None:
    assert caret_line(at(3, 4), ["x\n", "\tb:c\n"]) == " " * 8 + "\t ^"
    assert caret_line(at(4, 5), ["x\n", "名前: v\n"]) == " " * 8 + "     ^"


def test_snippet_on_the_first_line_and_with_wide_line_numbers() -> None:
    text = render_text(None, [at(1, 2, line=1)], {"f.yaml": ["a\n"]}, color=False)
    assert "    1 | a\n        ^\n" in text
    lines = [f"l{i}\n" for i in range(1, 12)]
    text = render_text(None, [at(1, 3, line=10)], {"f.yaml": lines}, color=False)
    assert "     9 | l9\n    10 | l10\n         ^^\n" in text


def test_no_snippet_without_the_source() -> None:
    text = render_text(None, [at(1, 2)], {}, color=False)
    assert text == "Error: bad\n  on f.yaml line 2, column 1:\n"


def test_control_characters_in_config_text_are_not_printed() -> None:
    evil = "Be nice.\x1b[2J\u202e"
    plan = diff(state(workspace("w", instructions=evil)), None)
    text = render_text(plan, [], {}, color=False)
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert '"Be nice.\\u001b[2J\\u202e"' in text
    source = render_text(None, [at(1, 2, line=1)], {"f.yaml": ["a\x1b[2Jb\n"]}, color=False)
    assert "    1 | a?[2Jb\n" in source


def test_updates_show_unchanged_field_count() -> None:
    text = render_text(mixed_plan(), [], {}, color=False)
    assert '      ~ muxRules[0].model = "gpt-4o" -> "gpt-4o-mini"\n        # (3 unchanged fields hidden)\n' in text


def test_long_strings_are_cut_and_differences_stay_visible() -> None:
    before = "Use TypeScript strict mode in every file you touch, always and everywhere."
    after = "Use TypeScript strict mode in every file you touch, always and nowhere."
    text = render_text(
        diff(state(workspace("w", instructions=after)), state(workspace("w", instructions=before))),
        [],
        {},
        color=False,
    )
    line = next(line for line in text.splitlines() if "customInstructions" in line)
    assert line == '      ~ customInstructions = "…lways and everywhere." -> "…lways and nowhere."'


def test_first_line_of_multiline_strings() -> None:
    text = render_text(diff(state(workspace("w", instructions="Short.\nMore.")), None), [], {}, color=False)
    assert '+ customInstructions = "Short.…"' in text


def test_sensitive_values_are_hidden_in_text() -> None:
    key_moved = diff(state(openai(key_env="NEW_KEY")), state(openai(key_env="OLD_KEY")))
    text = render_text(key_moved, [], {}, color=False)
    assert "      ~ auth.apiKey.fromEnv = (sensitive value) -> (sensitive value)\n" in text
    assert "OLD_KEY" not in text
    assert "NEW_KEY" not in text
    created = render_text(diff(state(openai()), None), [], {}, color=False)
    assert '+ auth     = {type = "api_key", apiKey = (sensitive value)}' in created
    assert "OPENAI_API_KEY" not in created


@pytest.mark.parametrize("key", ["token", "accessToken", "password", "clientSecret", "api_key", "privateKey"])
def test_keys_named_like_secrets_are_hidden(key: str) -> None:
    plan = Plan(
        actions=(
            ResourceAction(
                "Provider",
                "p",
                ActionType.UPDATE,
                (
                    Change(("spec", "auth", key), "hunter1", "hunter2"),
                    Change(("spec", "x"), ABSENT, {key: "hunter3"}),
                ),
            ),
        ),
        desired_hash="d",
        current_hash="c",
        source_label="s",
        current_label="c",
    )
    text = render_text(plan, [], {}, color=False)
    assert "hunter" not in text
    assert "(sensitive value)" in text


def test_keys_that_only_look_alike_are_shown() -> None:
    plan = Plan(
        actions=(ResourceAction("Provider", "p", ActionType.UPDATE, (Change(("spec", "maxTokens"), 1, 2),)),),
        desired_hash="d",
        current_hash="c",
        source_label="s",
        current_label="c",
    )
    assert "maxTokens = 1 -> 2" in render_text(plan, [], {}, color=False)


# --- JSON ---------------------------------------------------------------------------------------------------


def test_json_plan_is_null_when_invalid_even_if_given() -> None:
    document = json.loads(render_json(mixed_plan(), [UNKNOWN_PROVIDER]))
    assert document["valid"] is False
    assert document["plan"] is None
    assert list(document) == ["format_version", "valid", "diagnostics", "plan"]


def test_json_leaves_out_absent_sides_and_keeps_null() -> None:
    added = diff(state(workspace("w", rules=[rule("a"), rule("b")])), state(workspace("w", rules=[rule("a")])))
    document = json.loads(render_json(added, []))
    resource = next(r for r in document["plan"]["resources"] if r["name"] == "w")
    assert resource["actions"] == ["update"]
    assert resource["changes"] == [
        {
            "path": "spec.muxRules[1]",
            "after": {"match": {"type": "catch_all", "pattern": None}, "provider": "openai", "model": "b"},
        }
    ]


def test_json_counts_match_the_plan() -> None:
    counts = json.loads(render_json(mixed_plan(), []))["plan"]["counts"]
    assert counts == {"add": 3, "change": 1, "archive": 1, "recover": 1, "delete": 2}


# --- GitHub -------------------------------------------------------------------------------------------------


def test_escaping_follows_the_workflow_command_rules() -> None:
    assert escape_data("100%\r\nok: a,b") == "100%25%0D%0Aok: a,b"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    # %25 first, or an escaped %0A would be escaped twice.
    assert escape_data("%0A") == "%250A"


def test_annotation_properties_and_data() -> None:
    diagnostic = Diagnostic(
        Severity.ERROR,
        "bad: value, really",
        file="ws/a.yaml",
        line=3,
        column=5,
        end_column=9,
        message="50% off\nnext",
        hint="Fix it.",
    )
    out = render_github(None, [diagnostic], {}, path_prefix="config")
    assert out == (
        "::error file=config/ws/a.yaml,line=3,col=5,endColumn=8,title=bad%3A value%2C really"
        "::50%25 off%0Anext%0AFix it.\n"
    )


def test_annotation_without_position_or_message() -> None:
    out = render_github(None, [Diagnostic(Severity.WARNING, "odd")], {})
    assert out == "::warning title=odd::odd\n"


def test_plan_text_cannot_issue_workflow_commands() -> None:
    plan = diff(state(workspace("w", instructions="##[error]boom ::warning::x")), None)
    out = render_github(plan, [], {})
    lines = out.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("::stop-commands::")))
    token = lines[start].removeprefix("::stop-commands::")
    end = lines.index(f"::{token}::")
    assert any("##[error]boom" in line for line in lines[start + 1 : end])
    assert lines[:start] == ["::group::Muxgate plan"]
    assert lines[end + 1 :] == ["::endgroup::"]
    assert token not in "\n".join(lines[start + 1 : end])


def test_step_summary_fence_is_longer_than_any_backticks_inside() -> None:
    plan = diff(state(workspace("w", instructions="````` fenced")), None)
    summary = github_step_summary(plan, [])
    assert "\n``````text\n" in summary
    assert summary.endswith("\n``````\n")


def test_step_summary_when_invalid() -> None:
    summary = github_step_summary(None, [UNKNOWN_PROVIDER, NO_CATCH_ALL])
    assert "**Invalid configuration:** 1 error, 1 warning. Nothing was planned." in summary
    assert "| Add |" not in summary


# --- docs ---------------------------------------------------------------------------------------------------

DOCS = Path(__file__).parents[2] / "docs" / "plan-format.md"


def test_documented_examples_are_real_output() -> None:
    current = state(
        openai(),
        workspace("backend", rules=BACKEND_RULES),
        workspace("legacy"),
        workspace("docs", archived=True),
    )
    desired = state(
        openai(),
        workspace("backend", rules=[rule("gpt-4o-mini", pattern="*.py"), BACKEND_RULES[1]]),
        workspace(
            "frontend",
            instructions="Use TypeScript strict mode in every file you touch.",
            rules=[rule("gpt-4o", pattern="*.ts"), rule("gpt-4o-mini")],
        ),
        workspace("docs"),
    )
    plan = diff(desired, current, source_label="examples/workspaces")
    source = {
        "backend.yaml": ["\n"] * 12
        + ['    - match: {type: chat_filename, pattern: "*.py"}\n', "      provider: opnai\n"]
    }
    error = Diagnostic(
        Severity.ERROR,
        "unknown provider in mux rule",
        file="backend.yaml",
        line=14,
        column=17,
        end_column=22,
        path=("spec", "muxRules", 1, "provider"),
        message='No provider named "opnai" is declared.',
        hint='Did you mean "openai"? Declared: openai, local-ollama.',
    )
    docs = DOCS.read_text(encoding="utf-8")
    assert "```\n" + render_text(plan, [], {}, color=False) + "```\n" in docs
    indented = "".join(f"  {line}\n" for line in render_text(None, [error], source, color=False).splitlines())
    assert indented in docs
    assert render_github(None, [error], source, path_prefix="config") in docs

"""docs/secrets.md names every built-in rule, so the table cannot fall behind the rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.secrets import BUILTIN_RULES

DOC = Path(__file__).resolve().parents[3] / "docs" / "secrets.md"


@pytest.mark.parametrize("rule", sorted({r.id for r in BUILTIN_RULES}))
def test_every_rule_is_in_the_table(rule: str) -> None:
    assert f"| `{rule}` |" in DOC.read_text(encoding="utf-8")

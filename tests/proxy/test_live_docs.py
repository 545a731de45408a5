"""docs/live-reconcile.md cannot drift from the code: every status field, every reason and every live setting (with
its default) is documented, and nothing documented is gone."""

from __future__ import annotations

import re
from pathlib import Path

from proxy.live import Reason, ReconcileStatus
from proxy.settings import Settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "live-reconcile.md").read_text(encoding="utf-8")
LIVE_SETTINGS = ("watch", "debounce_ms", "prune_archived")


def table_keys(header: str) -> list[str]:
    """The first column of the table whose header row starts with `| header |`, without backticks."""
    lines = DOC.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    keys: list[str] = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        keys.append(line.split("|")[1].strip().strip("`"))
    return keys


def test_every_status_field_is_documented() -> None:
    fields = set(ReconcileStatus(True, Reason.SUCCEEDED, "").to_json())
    assert set(table_keys("field")) == fields


def test_every_reason_is_documented() -> None:
    assert set(table_keys("reason")) == {reason.value for reason in Reason}


def test_every_live_setting_is_documented_with_its_default() -> None:
    rows = {
        match["variable"]: match["default"]
        for match in re.finditer(r"^\|[^|]*\| `(?P<variable>MUXGATE_\w+)` \| `(?P<default>[^`]*)` \|", DOC, re.M)
    }
    for name in LIVE_SETTINGS:
        default = Settings.model_fields[name].default
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        assert rows.get(f"MUXGATE_{name.upper()}") == shown, name

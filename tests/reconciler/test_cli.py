"""The reconcile CLI: exit codes, output formats, `muxgate reconcile` as an alias, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from proxy.cli import main as muxgate_main
from reconciler.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "workspaces"

PROVIDER = """\
apiVersion: muxgate/v1
kind: Provider
metadata: {name: openai}
spec:
  type: openai
  auth: {type: api_key, apiKey: {fromEnv: OPENAI_API_KEY}}
  models: [{name: gpt-4o}, {name: gpt-4o-mini}]
"""

WORKSPACE = """\
apiVersion: muxgate/v1
kind: Workspace
metadata: {name: backend}
spec:
  muxRules:
    - match: {type: catch_all}
      provider: openai
      model: gpt-4o
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_valid_tree_exits_0_and_prints_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"providers.yaml": PROVIDER, "ws/backend.yaml": WORKSPACE})
    assert main([str(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert '+ workspace "backend" will be created' in out
    assert "Plan: 3 to add" in out  # provider, backend and the implicit default
    assert "\x1b[" not in out  # not a TTY: no colour


def test_detailed_exitcode_is_2_only_with_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"providers.yaml": PROVIDER})
    assert main([str(tmp_path), "--dry-run", "--detailed-exitcode"]) == 2
    assert main([str(tmp_path), "--dry-run"]) == 0


def test_invalid_tree_exits_1_with_file_line_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path,
        {
            "providers.yaml": PROVIDER,
            "ws/backend.yaml": WORKSPACE.replace("provider: openai", "provider: opnai"),
        },
    )
    assert main([str(tmp_path), "--dry-run", "--detailed-exitcode"]) == 1
    out = capsys.readouterr().out
    assert "Error: unknown provider in mux rule" in out
    assert "on ws/backend.yaml line 7, column 17, in spec.muxRules[0].provider:" in out
    assert 'Did you mean "openai"?' in out
    assert "Muxgate will perform" not in out


def test_json_output_is_machine_readable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"providers.yaml": PROVIDER, "ws/backend.yaml": WORKSPACE})
    assert main([str(tmp_path), "--dry-run", "--output", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format_version"] == "1"
    assert doc["valid"] is True
    names = {(r["kind"], r["name"]): r["actions"] for r in doc["plan"]["resources"]}
    assert names[("Workspace", "backend")] == ["create"]
    assert doc["plan"]["counts"]["add"] == 3


def test_json_output_when_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"bad.yaml": "apiVersion: muxgate/v2\nkind: Provider\n"})
    assert main([str(tmp_path), "--dry-run", "--output", "json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False
    assert doc["plan"] is None
    [diag] = doc["diagnostics"]
    assert (diag["file"], diag["line"], diag["column"], diag["code"]) == (
        "bad.yaml",
        1,
        13,
        "unknown-api-version",
    )


def test_missing_directory_is_a_diagnostic_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope"), "--dry-run"]) == 1
    captured = capsys.readouterr()
    assert "config directory not found" in captured.out
    assert "Traceback" not in captured.out + captured.err


def test_usage_errors_exit_1_never_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--output", "yaml"])
    assert exc.value.code == 1
    assert "invalid choice" in capsys.readouterr().err


def test_without_dry_run_nothing_is_applied(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"providers.yaml": PROVIDER})
    assert main([str(tmp_path)]) == 1
    assert "--dry-run" in capsys.readouterr().err


def test_muxgate_reconcile_is_the_same_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, {"providers.yaml": PROVIDER, "ws/backend.yaml": WORKSPACE})
    assert main([str(tmp_path), "--dry-run", "--output", "json"]) == 0
    direct = capsys.readouterr().out
    assert muxgate_main(["reconcile", str(tmp_path), "--dry-run", "--output", "json"]) == 0
    assert capsys.readouterr().out == direct


def test_examples_validate_through_the_installed_console_script() -> None:
    """The README's first command, as a subprocess: the console script exists and the examples are valid."""
    script = Path(sys.executable).parent / "reconcile"
    done = subprocess.run(
        [str(script), str(EXAMPLES), "--dry-run", "--no-color"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Plan:" in done.stdout
    assert "Error" not in done.stdout

"""The CI jobs of docs/ci.md, run as written on a real git repository with a base branch and a pull request."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.gitrepo import commit_files, git, init_repo

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"
BIN = Path(sys.executable).parent

PROVIDERS = """\
apiVersion: muxgate/v1
kind: Provider
metadata: {name: openai}
spec:
  type: openai
  auth: {type: api_key, apiKey: {fromEnv: OPENAI_API_KEY}}
  models: [{name: gpt-4o}, {name: gpt-4o-mini}]
"""


def workspace(name: str, model: str, provider: str = "openai") -> str:
    return f"""\
apiVersion: muxgate/v1
kind: Workspace
metadata: {{name: {name}}}
spec:
  muxRules:
    - match: {{type: catch_all}}
      provider: {provider}
      model: {model}
"""


@pytest.fixture
def pull_request(tmp_path: Path) -> Path:
    """A clone whose origin/main holds the base config, checked out on a feature branch."""
    origin = init_repo(tmp_path / "origin")
    commit_files(
        origin,
        {
            "README.md": "config repo\n",
            "workspaces/providers.yaml": PROVIDERS,
            "workspaces/teams/backend.yaml": workspace("backend", "gpt-4o"),
            "workspaces/teams/legacy.yaml": workspace("legacy", "gpt-4o"),
        },
        "base config",
    )
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    git(clone, "checkout", "-q", "-b", "feature")
    return clone


def doc_command(marker: str) -> str:
    """The first line of docs/ci.md that runs reconcile with `marker` in it."""
    for line in DOC.read_text().splitlines():
        stripped = line.strip().removeprefix("- ").removeprefix("run: ")
        if stripped.startswith("reconcile ") and marker in stripped:
            return stripped
    raise AssertionError(f"docs/ci.md has no reconcile command with {marker!r}")


def run_doc_command(command: str, repo: Path, ci_vars: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = command.replace("${{ github.base_ref }}", "main")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "CONFIG_DIR": "workspaces",
        **ci_vars,
    }
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(["bash", "-c", command], cwd=repo, env=env, capture_output=True, text=True, check=False)


def test_github_job_shows_only_what_the_pull_request_changes(pull_request: Path) -> None:
    commit_files(
        pull_request,
        {
            "workspaces/teams/backend.yaml": workspace("backend", "gpt-4o-mini"),
            "workspaces/teams/frontend.yaml": workspace("frontend", "gpt-4o"),
        },
        "add frontend, cheaper backend",
    )
    (pull_request / "workspaces/teams/legacy.yaml").unlink()
    done = run_doc_command(doc_command("--output github"), pull_request, {})
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "::group::" in out
    assert '+ workspace "frontend" will be created' in out
    assert '~ workspace "backend" will be updated in place' in out
    assert '"gpt-4o" -> "gpt-4o-mini"' in out
    assert '- workspace "legacy" will be archived' in out
    assert 'provider "openai"' not in out  # unchanged since the base
    assert "Plan: 1 to add, 1 to change, 1 to archive." in out


def test_github_job_annotates_errors_with_repository_paths(pull_request: Path) -> None:
    commit_files(
        pull_request,
        {"workspaces/teams/frontend.yaml": workspace("frontend", "gpt-4o", provider="opnai")},
        "typo",
    )
    done = run_doc_command(doc_command("--output github"), pull_request, {})
    assert done.returncode == 1
    match = re.search(r"^::error file=([^,]+),line=(\d+),col=(\d+)", done.stdout, re.MULTILINE)
    assert match, done.stdout
    assert match.groups() == ("workspaces/teams/frontend.yaml", "7", "17")
    assert "opnai" in done.stdout


def test_gitlab_job_writes_the_json_plan(pull_request: Path) -> None:
    commit_files(pull_request, {"workspaces/teams/frontend.yaml": workspace("frontend", "gpt-4o")}, "frontend")
    command = doc_command("--output json").replace(" > muxgate-plan.json", "")
    done = run_doc_command(command, pull_request, {"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"})
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)["plan"]
    changed = [(r["kind"], r["name"], r["actions"]) for r in plan["resources"] if r["actions"] != ["no-op"]]
    assert changed == [("Workspace", "frontend", ["create"])]


def test_unknown_base_ref_fails_with_a_clear_message(pull_request: Path) -> None:
    command = doc_command("--output github").replace("${{ github.base_ref }}", "release-9")
    done = run_doc_command(command, pull_request, {})
    assert done.returncode == 1
    assert "git ref not found" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr

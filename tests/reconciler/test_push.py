"""The push client on its own: addresses, the admin token, and every answer of the gateway turned into a sentence
(a gateway stands in as an httpx mock transport; tests/proxy/test_live_push.py drives a real one)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.cli import main
from reconciler.push import (
    GatewayClient,
    Outcome,
    PushError,
    PushRejectedError,
    check_url,
    read_token,
)

URL = "http://127.0.0.1:8989"


def gateway(answer: Callable[[httpx.Request], httpx.Response]) -> tuple[GatewayClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    return GatewayClient(URL + "/", "the-token", transport=httpx.MockTransport(handle)), seen


@pytest.mark.parametrize("url", ["127.0.0.1:8989", "ftp://gateway.example", "http://", "not a url"])
def test_an_address_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(PushError, match=re.escape("is not a gateway address; pass one like http://127.0.0.1:8989")):
        check_url(url)


def test_the_token_comes_from_the_file_then_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUXGATE_ADMIN_TOKEN", raising=False)
    assert read_token(None) is None
    monkeypatch.setenv("MUXGATE_ADMIN_TOKEN", " from-env \n")
    assert read_token(None) == "from-env"
    token_file = tmp_path / "admin-token"
    token_file.write_text("from-file\n")
    assert read_token(token_file) == "from-file"
    token_file.write_text("\n")
    with pytest.raises(PushError, match="is empty"):
        read_token(token_file)
    with pytest.raises(PushError, match=r"cannot be read \(No such file or directory\)"):
        read_token(tmp_path / "missing")


def test_an_apply_sends_the_files_as_text_with_the_token() -> None:
    answer = {
        "status": {"revision": "3f2c1e9a0b1c", "stateHash": "ab" * 32},
        "plan": {"counts": {"add": 1, "change": 0, "archive": 2, "recover": 0, "delete": 0}},
    }
    client, seen = gateway(lambda _: httpx.Response(200, json=answer))
    outcome = client.apply([("teams/a.yaml", "naïve: 1\n".encode())], "3f2c1e9a0b1c", prune=True)
    [request] = seen
    assert (request.method, request.url.path) == ("POST", "/api/v1/reconcile/apply")
    assert request.headers["authorization"] == "Bearer the-token"
    assert json.loads(request.content) == {
        "files": [{"path": "teams/a.yaml", "content": "naïve: 1\n"}],
        "revision": "3f2c1e9a0b1c",
        "prune": True,
    }
    assert outcome.sentence() == "Applied revision 3f2c1e9a0b1c: 1 added, 0 changed, 2 archived."


@pytest.mark.parametrize(
    ("revision", "counts", "sentence"),
    [
        ("3f2c1e9a0b1c", {"add": 0, "change": 0, "archive": 0}, "No changes."),
        (None, {"add": 0, "change": 1, "archive": 0}, "Applied state abababababab (not in git): 0 added, 1 changed"),
        ("3f2c1e9a0b1c-dirty", {"change": 1}, "Applied revision 3f2c1e9a0b1c-dirty (state abababababab): 0 added"),
        (
            "v1",
            {"recover": 1, "delete": 2},
            "Applied revision v1: 0 added, 0 changed, 0 archived, 1 recovered, 2 deleted.",
        ),
    ],
)
def test_the_outcome_sentence(revision: str | None, counts: dict[str, int], sentence: str) -> None:
    assert Outcome(revision, "ab" * 32, counts).sentence().startswith(sentence)


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (401, {"detail": "This endpoint needs the admin token"}, "needs the admin token; pass --token-file"),
        (403, {"detail": "The admin token is wrong"}, "refused the admin token"),
        (409, {"detail": "This gateway follows /srv/config; commit to it."}, "^This gateway follows /srv/config;"),
        (404, {"status_code": 404, "detail": "Not Found"}, "or one older than push mode"),
        (502, None, "answered /api/v1/reconcile/state with HTTP 502"),
    ],
)
def test_a_refusal_is_one_sentence(status: int, body: Any, words: str) -> None:
    client, _ = gateway(lambda _: httpx.Response(status, json=body) if body else httpx.Response(status, text="<html>"))
    with pytest.raises(PushError, match=words) as caught:
        client.running()
    assert "the-token" not in str(caught.value)


def test_a_rejection_carries_the_gateways_diagnostics() -> None:
    diagnostic = {
        "severity": "error",
        "code": "unknown-provider",
        "summary": "unknown provider in mux rule",
        "message": 'No provider named "opnai" is declared.',
        "hint": "",
        "file": "default.yaml",
        "line": 7,
        "column": 17,
        "end_column": 22,
        "path": "spec.muxRules[0].provider",
    }
    body = {"detail": "The pushed config is invalid (1 error) and was not applied.", "diagnostics": [diagnostic]}
    client, _ = gateway(lambda _: httpx.Response(422, json=body))
    with pytest.raises(PushRejectedError) as caught:
        client.apply([], None)
    [got] = caught.value.diagnostics
    assert str(caught.value) == body["detail"]
    assert (got.location, got.yaml_path, got.end_column) == ("default.yaml:7:17", "spec.muxRules[0].provider", 22)
    assert got.to_json() == diagnostic


def test_a_state_that_cannot_be_read_is_named() -> None:
    client, _ = gateway(lambda _: httpx.Response(200, json={"revision": None, "stateHash": "x", "state": {}}))
    with pytest.raises(PushError, match="sent a state this reconcile cannot read"):
        client.running()


def test_without_server_or_dry_run_the_message_names_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Pass --dry-run to validate and print the plan, or --server URL to apply DIR" in err


def test_against_and_server_together_are_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--dry-run", "--against", "main", "--server", URL, "--detailed-exitcode"]) == 1
    assert (
        capsys.readouterr().err
        == "reconcile: --against and --server name two things to compare with; pass one of them.\n"
    )


def test_a_bad_token_file_ends_before_anything_is_sent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--server", URL, "--token-file", str(tmp_path / "missing")]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("reconcile: The token file ")
    assert "Traceback" not in captured.err

"""The last applied state in the data dir: a round trip, atomic replacement, and files that cannot be used."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import pytest

from proxy.statefile import FILE_NAME, FORMAT_VERSION, LastApplied, StateFileError, iso_utc, load, save, state_path
from reconciler.check import check_dir

PROVIDER = """\
apiVersion: muxgate/v1
kind: Provider
metadata: {name: openai}
spec:
  type: openai
  auth: {type: api_key, apiKey: {fromEnv: OPENAI_API_KEY}}
  models: [{name: gpt-4o-mini, price: {inputPerMTok: 0.15, outputPerMTok: 0.6}}]
"""
WORKSPACES = """\
apiVersion: muxgate/v1
kind: Workspace
metadata: {name: backend, labels: {team: payments}}
spec:
  customInstructions: Prefer the standard library.
  muxRules:
    - match: {type: chat_filename, pattern: "*.py"}
      provider: openai
      model: gpt-4o-mini
---
apiVersion: muxgate/v1
kind: Persona
metadata: {name: reviewer}
spec: {description: Reviews code}
"""
APPLIED_AT = datetime(2025, 3, 1, 12, 30, 5, 250_000, tzinfo=UTC)


@pytest.fixture
def last(tmp_path: Path) -> LastApplied:
    config = tmp_path / "config"
    config.mkdir()
    (config / "providers.yaml").write_text(PROVIDER)
    (config / "workspaces.yaml").write_text(WORKSPACES)
    state = check_dir(config).state
    assert state is not None
    return LastApplied(
        config_dir=str(config.resolve()),
        revision="3f2c1e9a0b1c-dirty",
        applied_at=APPLIED_AT,
        desired=state,
        inventory=MappingProxyType(dict(state.workspaces)),
    )


def test_a_saved_state_loads_back_equal(tmp_path: Path, last: LastApplied) -> None:
    data = tmp_path / "data" / "nested"
    path = save(data, last)
    assert path == state_path(data) == data / FILE_NAME
    loaded = load(data)
    assert loaded is not None
    assert loaded.desired == last.desired
    assert loaded.desired.hash == last.desired.hash
    assert loaded.desired.origin("Workspace", "backend") == last.desired.origin("Workspace", "backend")
    assert (loaded.config_dir, loaded.revision, loaded.applied_at) == (last.config_dir, last.revision, APPLIED_AT)
    assert dict(loaded.inventory) == dict(last.inventory)


def test_the_file_is_versioned_json_with_the_applied_time_in_utc(tmp_path: Path, last: LastApplied) -> None:
    raw = json.loads(save(tmp_path, last).read_text())
    assert raw["format"] == FORMAT_VERSION
    assert raw["appliedAt"] == "2025-03-01T12:30:05.250Z"
    assert raw["desired"] == last.desired.to_json()
    assert [w["metadata"]["name"] for w in raw["inventory"]["workspaces"]] == ["backend", "default"]
    # References to secrets are stored, never a value read from them.
    assert raw["desired"]["resources"][0]["spec"]["auth"]["apiKey"] == {"fromEnv": "OPENAI_API_KEY", "fromFile": None}


def test_a_save_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path, last: LastApplied) -> None:
    data = tmp_path / "data"
    save(data, last)
    save(data, LastApplied(last.config_dir, "next", APPLIED_AT, last.desired, last.inventory))
    assert sorted(p.name for p in data.iterdir()) == [FILE_NAME]
    loaded = load(data)
    assert loaded is not None
    assert loaded.revision == "next"


def test_no_file_means_no_state(tmp_path: Path) -> None:
    assert load(tmp_path) is None
    assert load(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "is not valid JSON"),
        (json.dumps({"format": 99}), "has format 99, but this version of Muxgate reads format 1"),
        (json.dumps([1, 2]), "has format None"),
        (json.dumps({"format": FORMAT_VERSION, "revision": None}), "does not hold a usable state"),
    ],
)
def test_an_unusable_file_is_named_with_the_fix(tmp_path: Path, content: str, words: str) -> None:
    state_path(tmp_path).write_text(content)
    with pytest.raises(StateFileError) as caught:
        load(tmp_path)
    assert words in str(caught.value)
    assert str(state_path(tmp_path)) in str(caught.value)
    assert "delete it" in str(caught.value)


def test_a_tampered_resource_is_refused(tmp_path: Path, last: LastApplied) -> None:
    raw = json.loads(save(tmp_path, last).read_text())
    raw["desired"]["resources"][0]["spec"]["type"] = "no-such-type"
    state_path(tmp_path).write_text(json.dumps(raw))
    with pytest.raises(StateFileError, match="does not hold a usable state"):
        load(tmp_path)


def test_iso_utc_converts_other_zones() -> None:
    moment = datetime.fromisoformat("2025-03-01T14:30:05+02:00")
    assert iso_utc(moment) == "2025-03-01T12:30:05.000Z"

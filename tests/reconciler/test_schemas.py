"""The committed JSON Schemas: fresh, valid, descriptive, and accepting the examples that point at them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler import schemas
from reconciler.loader import Document, load_dir
from reconciler.models import KINDS

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "schemas"
EXAMPLES = ROOT / "examples" / "workspaces"
# The form yaml-language-server recognises; it reads the line from the comments heading each document.
MODELINE_RE = re.compile(r"^#\s+yaml-language-server\s*:.*\$schema=(\S+)")
DOC_SEPARATOR_RE = re.compile(r"^---\s*$", re.MULTILINE)


def _load_schema(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    return loaded


def _header_modeline(chunk: str) -> str | None:
    """The schema named in the comments before a document's first line of content."""
    for line in chunk.splitlines():
        if not line.strip():
            continue
        if not line.startswith("#"):
            return None
        found = MODELINE_RE.match(line)
        if found:
            return found.group(1)
    return None


def _documents_with_modelines() -> list[tuple[Document, str | None]]:
    result = load_dir(EXAMPLES)  # test_examples reports load diagnostics; here they would only hide documents
    pairs: list[tuple[Document, str | None]] = []
    for source in result.files:
        chunks = DOC_SEPARATOR_RE.split((EXAMPLES / source.path).read_text(encoding="utf-8"))
        with_content = [c for c in chunks if any(ln.strip() and not ln.startswith("#") for ln in c.splitlines())]
        assert len(with_content) == len(source.documents), f"{source.path}: cannot pair documents and modelines"
        pairs.extend(zip(source.documents, map(_header_modeline, with_content), strict=True))
    return pairs


EXAMPLE_DOCUMENTS = _documents_with_modelines()


def test_committed_schemas_are_fresh() -> None:
    stale = schemas.check(SCHEMA_DIR)
    assert not stale, (
        f"schemas/ is stale ({', '.join(stale)}): the models changed since it was generated. "
        "Run `python -m reconciler.schemas` and commit schemas/."
    )


def test_generation_is_deterministic_and_canonical() -> None:
    first, second = schemas.generate(), schemas.generate()
    assert first == second
    assert sorted(first) == [
        "muxgate.schema.json",
        "persona.schema.json",
        "provider.schema.json",
        "secretpolicy.schema.json",
        "workspace.schema.json",
    ]
    for name, text in first.items():
        assert text.endswith("}\n"), name
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n", name


def test_check_names_changed_and_missing_files(tmp_path: Path) -> None:
    assert schemas.write(tmp_path) == sorted(schemas.generate())
    assert schemas.write(tmp_path) == []
    assert schemas.check(tmp_path) == []
    (tmp_path / "workspace.schema.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / "persona.schema.json").unlink()
    assert schemas.check(tmp_path) == ["persona.schema.json", "workspace.schema.json"]


def test_cli_check_exits_1_and_says_how_to_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert schemas.main(["--out", str(tmp_path)]) == 0
    assert schemas.main(["--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "provider.schema.json").write_text("{}\n", encoding="utf-8")
    capsys.readouterr()
    assert schemas.main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "provider.schema.json" in err
    assert "python -m reconciler.schemas" in err
    assert (tmp_path / "provider.schema.json").read_text(encoding="utf-8") == "{}\n", "--check must not write"


@pytest.mark.parametrize("name", sorted(schemas.generate()))
def test_schema_is_valid_draft_2020_12_with_stable_identity(name: str) -> None:
    schema = _load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == schemas.ID_PREFIX + name.removesuffix(".schema.json")
    assert schema["title"].startswith("Muxgate ")
    assert schema["description"]


def _properties(node: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every (location, property schema) below `node`."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for key, prop in node.get("properties", {}).items():
            found.append((f"{where}.{key}", prop))
        for key, child in node.items():
            found.extend(_properties(child, key if key != "properties" else where))
    elif isinstance(node, list):
        for child in node:
            found.extend(_properties(child, where))
    return found


def test_every_model_field_has_a_description() -> None:
    # muxgate.schema.json holds every model reachable from the three kinds.
    props = _properties(_load_schema("muxgate.schema.json"), "")
    assert len(props) > 30
    missing = [where for where, prop in props if not str(prop.get("description", "")).strip()]
    assert not missing, f"fields without a description (add one in reconciler/models.py): {missing}"


def test_any_kind_schema_tells_kinds_apart() -> None:
    schema = _load_schema("muxgate.schema.json")
    assert schema["discriminator"]["propertyName"] == "kind"
    assert len(schema["oneOf"]) == len(KINDS)


@pytest.mark.parametrize(
    ("document", "modeline"), EXAMPLE_DOCUMENTS, ids=[f"{d.file}#{d.index}" for d, _ in EXAMPLE_DOCUMENTS]
)
def test_example_document_validates_against_its_modeline_schema(document: Document, modeline: str | None) -> None:
    assert modeline, f"{document.file} document {document.index + 1} has no yaml-language-server modeline"
    target = ((EXAMPLES / document.file).parent / modeline).resolve()
    assert target.parent == SCHEMA_DIR, f"{document.file}: the modeline points outside schemas/: {modeline}"
    assert target.name in (schemas.schema_file(document.data["kind"]), schemas.ANY_KIND_FILE), (
        f"{document.file}: a {document.data['kind']} document names {target.name}"
    )
    errors = [e.message for e in Draft202012Validator(_load_schema(target.name)).iter_errors(document.data)]
    assert not errors


@pytest.mark.parametrize("schema_name", ["workspace.schema.json", "muxgate.schema.json"])
def test_schema_rejects_an_unknown_workspace_key(schema_name: str) -> None:
    document = {
        "apiVersion": "muxgate/v1",
        "kind": "Workspace",
        "metadata": {"name": "backend"},
        "spec": {"muxRule": []},
    }
    assert not Draft202012Validator(_load_schema(schema_name)).is_valid(document)
    document["spec"] = {"muxRules": []}
    assert Draft202012Validator(_load_schema(schema_name)).is_valid(document)


def _provider_with_key(api_key: object) -> dict[str, Any]:
    return {
        "apiVersion": "muxgate/v1",
        "kind": "Provider",
        "metadata": {"name": "openai"},
        "spec": {"type": "openai", "auth": {"type": "api_key", "apiKey": api_key}},
    }


@pytest.mark.parametrize("schema_name", ["provider.schema.json", "muxgate.schema.json"])
def test_schema_rejects_a_literal_key_in_place_of_a_reference(schema_name: str) -> None:
    validator = Draft202012Validator(_load_schema(schema_name))
    assert not validator.is_valid(_provider_with_key("literal-key-value"))
    assert validator.is_valid(_provider_with_key({"fromEnv": "OPENAI_API_KEY"}))

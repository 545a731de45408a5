"""JSON Schemas for editors, generated from the config models and committed under `schemas/`.

Beside the flow rather than in it: nothing at run time reads these files. Editors do, through the
`# yaml-language-server: $schema=…` line heading each document, so a wrong key or type is underlined while
typing instead of at the next `reconcile`. Checks that span documents (declared providers, unique names,
literal credentials) stay in `reconciler.validate`; a schema only knows the shape of one document.

    python -m reconciler.schemas            # rewrite schemas/
    python -m reconciler.schemas --check    # exit 1 and name the stale files
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

from reconciler.models import API_VERSION, KINDS, Persona, Provider, SecretPolicy, Workspace

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# A URN rather than a web address: the schemas are read from the repository, not fetched, and a URN can never
# be mistaken for a place to download them from.
ID_PREFIX = "urn:muxgate:schema:v1:"
ANY_KIND_FILE = "muxgate.schema.json"
DEFAULT_OUT = Path("schemas")

_AnyDocument = Annotated[Provider | Workspace | Persona | SecretPolicy, Field(discriminator="kind")]


class _WithoutFieldTitles(GenerateJsonSchema):
    """Leaves out the titles pydantic derives from field names ("Inputpermtok"); editors show descriptions."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def schema_file(kind: str) -> str:
    """The file name of one kind's schema: `Provider` → `provider.schema.json`."""
    return f"{kind.lower()}.schema.json"


def _finish(schema: JsonSchemaValue, filename: str, title: str, description: str) -> str:
    schema = {
        **schema,
        "$schema": DIALECT,
        "$id": ID_PREFIX + filename.removesuffix(".schema.json"),
        "title": title,
        "description": description,
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """Every schema file as text, by file name; the same models always give the same bytes."""
    files: dict[str, str] = {}
    for kind, model in sorted(KINDS.items()):
        filename = schema_file(kind)
        schema = model.model_json_schema(by_alias=True, schema_generator=_WithoutFieldTitles)
        description = (model.__doc__ or "").strip()
        files[filename] = _finish(schema, filename, f"Muxgate {kind} ({API_VERSION})", description)
    combined = TypeAdapter[Any](_AnyDocument).json_schema(by_alias=True, schema_generator=_WithoutFieldTitles)
    files[ANY_KIND_FILE] = _finish(
        combined,
        ANY_KIND_FILE,
        f"Muxgate config document ({API_VERSION})",
        "Any Muxgate document (" + ", ".join(sorted(KINDS)) + "), told apart by its kind; for files that "
        "hold several kinds.",
    )
    return dict(sorted(files.items()))


def write(directory: Path) -> list[str]:
    """Write every schema into `directory`; returns the names of the files whose content changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed: list[str] = []
    for filename, text in generate().items():
        path = directory / filename
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(filename)
    return changed


def check(directory: Path) -> list[str]:
    """Names of the schema files in `directory` that are missing or differ from freshly generated ones."""
    stale: list[str] = []
    for filename, text in generate().items():
        path = directory / filename
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(filename)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reconciler.schemas",
        description="Generate the JSON Schemas of the Muxgate config language from its models.",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any schema file is missing or stale"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="directory of the schema files (default: schemas)"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    if args.check:
        stale = check(out)
        for filename in stale:
            print(
                f"{out / filename} is stale or missing; run `python -m reconciler.schemas` to regenerate it.",
                file=sys.stderr,
            )
        return 1 if stale else 0
    changed = write(out)
    print(f"Wrote {len(changed)} changed schema file(s) to {out}." if changed else f"{out} is up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

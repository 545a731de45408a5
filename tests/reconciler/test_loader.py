"""The loader: YAML files → plain data with 1-based positions, YAML 1.2 scalars, and a parse cache."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from reconciler.loader import Document, LoadResult, ParseCache, Span, load_dir, load_files, parse_file

Files = Mapping[str, str | bytes | None]


def only_document(text: str) -> Document:
    source = parse_file("a.yaml", text.encode())
    assert source.diagnostics == ()
    assert len(source.documents) == 1
    return source.documents[0]


def load(files: Mapping[str, str], cache: ParseCache | None = None) -> LoadResult:
    return load_files([(path, text.encode()) for path, text in files.items()], cache)


# --- positions -------------------------------------------------------------------------------------------------

RULES = """\
apiVersion: muxgate/v1
kind: Workspace
metadata: {name: backend}
spec:
  muxRules:
    - match: {type: chat_filename, pattern: "*.py"}
      provider: openai
    -   match:
          type: catch_all
"""


def test_positions_of_keys_and_values_are_one_based() -> None:
    doc = only_document(RULES)

    assert doc.positions[("kind",)].key == Span(2, 1, 2, 5)
    assert doc.positions[("kind",)].value == Span(2, 7, 2, 16)
    assert doc.positions[("metadata", "name")].value == Span(3, 18, 3, 25)
    assert doc.positions[("spec", "muxRules", 0, "match", "pattern")].value == Span(6, 45, 6, 51)


def test_positions_of_list_items() -> None:
    doc = only_document(RULES)

    # An item starts where its content starts, after "- " (however many spaces follow the dash).
    assert doc.positions[("spec", "muxRules", 0)].value.line == 6
    assert doc.positions[("spec", "muxRules", 0)].value.column == 7
    assert doc.positions[("spec", "muxRules", 1)].value.line == 8
    assert doc.positions[("spec", "muxRules", 1)].value.column == 9
    assert doc.positions[("spec", "muxRules", 1, "match", "type")].value == Span(9, 17, 9, 26)
    assert doc.positions[("spec", "muxRules", 0)].key is None


def test_span_of_a_missing_field_points_at_its_parent_key() -> None:
    doc = only_document(RULES)

    assert doc.span(("spec", "muxRules", 0, "model")) == Span(6, 7, 8, 5)  # the item: it has no key
    assert doc.span(("metadata", "labels")) == Span(3, 1, 3, 9)  # the key "metadata"
    assert doc.span(("kind",), key=True) == Span(2, 1, 2, 5)
    assert doc.span(()) == Span(1, 1, 10, 1)


def test_windows_line_endings_and_a_byte_order_mark_do_not_shift_positions() -> None:
    source = parse_file("a.yaml", b"\xef\xbb\xbfapiVersion: muxgate/v1\r\nkind: Persona\r\n")

    doc = source.documents[0]
    assert doc.positions[("apiVersion",)].key == Span(1, 1, 1, 11)
    assert doc.positions[("kind",)].value == Span(2, 7, 2, 14)
    assert source.lines == ("apiVersion: muxgate/v1", "kind: Persona")


def test_several_documents_per_file_keep_their_own_positions_and_index() -> None:
    text = "---\n# empty first document\n---\nkind: A\n---\n\nkind: B\nname: b\n...\n---\nkind: C\n"

    source = parse_file("multi.yaml", text.encode())

    assert source.diagnostics == ()
    assert [d.data["kind"] for d in source.documents] == ["A", "B", "C"]
    assert [d.index for d in source.documents] == [1, 2, 3]
    assert [d.positions[("kind",)].key.line for d in source.documents if d.positions[("kind",)].key] == [4, 7, 11]
    assert {d.file for d in source.documents} == {"multi.yaml"}


def test_a_broken_document_keeps_the_documents_before_it() -> None:
    source = parse_file("a.yaml", b"kind: A\n---\nkind: [B\n")

    assert [d.data for d in source.documents] == [{"kind": "A"}]
    assert [(d.code, d.line) for d in source.diagnostics] == [("yaml-syntax", 4)]


def test_lines_are_kept_for_rendering_snippets() -> None:
    source = parse_file("a.yaml", RULES.encode())

    assert source.lines[5] == '    - match: {type: chat_filename, pattern: "*.py"}'
    assert len(source.lines) == 9


# --- YAML features ---------------------------------------------------------------------------------------------


def test_merge_keys_copy_an_anchored_mapping_and_explicit_keys_win() -> None:
    doc = only_document(
        "base: &base {type: openai, description: shared, auth: {type: none}}\nspec:\n  <<: *base\n  description: own\n"
    )

    assert doc.data["spec"] == {"type": "openai", "description": "own", "auth": {"type": "none"}}
    # A merged value points at where it is written: in the anchored mapping.
    assert doc.positions[("spec", "type")].value == Span(1, 20, 1, 26)
    assert doc.positions[("spec", "description")].value.line == 4


def test_merge_keys_from_a_list_and_nested_merges() -> None:
    doc = only_document("a: &a {x: 1, y: 1}\nb: &b {<<: *a, y: 2, z: 2}\nc: &c {w: 3, x: 3}\nd:\n  <<: [*b, *c]\n")

    # Earlier sources win over later ones, and b's own merge of a is expanded rather than kept as a "<<" key.
    assert doc.data["d"] == {"y": 2, "z": 2, "x": 1, "w": 3}
    assert "<<" not in doc.data["b"]


def test_merge_key_that_is_not_a_mapping_is_reported() -> None:
    source = parse_file("a.yaml", b"spec:\n  <<: [1, 2]\n  type: openai\n")

    assert [(d.code, d.line, d.column) for d in source.diagnostics] == [("bad-merge", 2, 7)]
    assert source.documents[0].data == {"spec": {"type": "openai"}}


def test_quoted_merge_key_is_an_ordinary_key() -> None:
    doc = only_document('a: {"<<": 1}\n')

    assert doc.data == {"a": {"<<": 1}}


def test_duplicate_key_keeps_the_first_value_and_flags_the_path() -> None:
    source = parse_file("a.yaml", b"metadata:\n  name: one\n  name: two\n")

    assert source.documents[0].data == {"metadata": {"name": "one"}}
    assert source.documents[0].flagged == frozenset({("metadata", "name")})
    assert [(d.code, d.line, d.column) for d in source.diagnostics] == [("duplicate-key", 3, 3)]


def test_alias_inside_its_own_anchor_is_refused() -> None:
    source = parse_file("a.yaml", b"a: &loop [1, *loop]\n")

    assert [(d.code, d.line, d.column) for d in source.diagnostics] == [("yaml-alias", 1, 14)]
    assert "contain itself" in source.diagnostics[0].message


def test_aliases_of_scalars_and_mappings_are_expanded() -> None:
    doc = only_document("m: &m gpt-4o\nprice: &p {inputPerMTok: 1}\nmodels:\n  - {name: *m, price: *p}\n")

    assert doc.data["models"] == [{"name": "gpt-4o", "price": {"inputPerMTok": 1}}]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("yes", "yes", id="yes-stays-text"),
        pytest.param("on", "on", id="on-stays-text"),
        pytest.param("No", "No", id="No-stays-text"),
        pytest.param("true", True, id="true"),
        pytest.param("False", False, id="False"),
        pytest.param("0x1F", 31, id="hex"),
        pytest.param("0o17", 15, id="octal-with-0o"),
        pytest.param("012", 12, id="leading-zero-is-decimal"),
        pytest.param("-7", -7, id="negative"),
        pytest.param("1_000", "1_000", id="underscores-are-text"),
        pytest.param("1e3", 1000.0, id="exponent"),
        pytest.param("0.15", 0.15, id="decimal"),
        pytest.param(".inf", math.inf, id="inf"),
        pytest.param("-.Inf", -math.inf, id="minus-inf"),
        pytest.param("~", None, id="tilde"),
        pytest.param("null", None, id="null"),
        pytest.param("", None, id="empty"),
        pytest.param("2024-01-01", "2024-01-01", id="dates-stay-text"),
        pytest.param("12:30:00", "12:30:00", id="sexagesimal-stays-text"),
        pytest.param('"true"', "true", id="quoted-true-is-text"),
        pytest.param("'0x1F'", "0x1F", id="quoted-hex-is-text"),
        pytest.param("!!str 012", "012", id="explicit-str"),
        pytest.param("!!int '7'", 7, id="explicit-int"),
        pytest.param("!!float 1", 1.0, id="explicit-float"),
        pytest.param("! 12", "12", id="non-specific-tag-is-text"),
        pytest.param("qwen2.5-coder:7b", "qwen2.5-coder:7b", id="model-name"),
    ],
)
def test_yaml_1_2_core_scalars(text: str, value: object) -> None:
    assert only_document(f"v: {text}\n").data == {"v": value}


def test_colons_inside_flow_collections_follow_yaml_1_2() -> None:
    # YAML 1.1 parsers refuse a ':' inside a plain scalar in [...] or {...}; YAML 1.2 reads a URL there.
    doc = only_document(
        "spec: {type: vllm, endpoint: http://vllm.internal:8000/v1}\nmodels: [{name: qwen2.5-coder:7b}, a:b]\n"
    )

    assert doc.data == {
        "spec": {"type": "vllm", "endpoint": "http://vllm.internal:8000/v1"},
        "models": [{"name": "qwen2.5-coder:7b"}, "a:b"],
    }
    assert doc.positions[("spec", "endpoint")].value == Span(1, 30, 1, 58)


def test_nan_is_a_float() -> None:
    assert math.isnan(only_document("v: .nan\n").data["v"])


def test_keys_are_always_strings() -> None:
    assert only_document("1: a\ntrue: b\n~: c\n").data == {"1": "a", "true": "b", "~": "c"}


# --- files on disk ---------------------------------------------------------------------------------------------


def test_yaml_and_yml_are_read_and_hidden_folders_and_files_skipped(write_tree: Callable[[Files], Path]) -> None:
    root = write_tree(
        {
            "a.yaml": "kind: A\n",
            "sub/b.yml": "kind: B\n",
            "sub/deeper/c.yaml": "kind: C\n",
            ".git/d.yaml": "kind: D\n",
            "sub/.hidden/e.yaml": "kind: E\n",
            ".f.yaml": "kind: F\n",
            "g.json": '{"kind": "G"}',
            "h.yaml.bak": "kind: H\n",
            "README.md": "# notes\n",
        }
    )

    loaded = load_dir(root)

    assert [f.path for f in loaded.files] == ["a.yaml", "sub/b.yml", "sub/deeper/c.yaml"]
    assert [d.data["kind"] for d in loaded.documents] == ["A", "B", "C"]
    assert loaded.diagnostics == ()
    assert loaded.source("sub/b.yml") is loaded.files[1]
    assert loaded.source("nowhere.yaml") is None


def test_oversized_content_is_refused_before_parsing() -> None:
    loaded = load_files([("big.yaml", b"a: " + b"x" * (1024 * 1024))])

    assert loaded.files == ()
    assert [(d.file, d.code) for d in loaded.diagnostics] == [("big.yaml", "file-too-large")]


# --- the parse cache -------------------------------------------------------------------------------------------


def test_second_load_of_the_same_tree_parses_nothing(write_tree: Callable[[Files], Path]) -> None:
    root = write_tree({f"ws/{i}.yaml": f"kind: Workspace\nname: w{i}\n" for i in range(5)})
    cache = ParseCache()

    first = load_dir(root, cache)
    misses = cache.misses
    second = load_dir(root, cache)

    assert misses == 5
    assert cache.misses == misses
    assert cache.hits == 5
    assert all(a is b for a, b in zip(first.files, second.files, strict=True))


def test_a_one_file_change_parses_exactly_that_file(write_tree: Callable[[Files], Path]) -> None:
    root = write_tree({f"ws/{i}.yaml": f"kind: Workspace\nname: w{i}\n" for i in range(5)})
    cache = ParseCache()
    before = load_dir(root, cache)

    write_tree({"ws/3.yaml": "kind: Workspace\nname: changed\n"})
    after = load_dir(root, cache)

    assert cache.misses == 5 + 1
    assert after.source("ws/3.yaml") is not before.source("ws/3.yaml")
    assert after.source("ws/0.yaml") is before.source("ws/0.yaml")
    assert [d.data["name"] for d in after.documents] == ["w0", "w1", "w2", "changed", "w4"]


def test_cache_forgets_files_that_are_gone(write_tree: Callable[[Files], Path]) -> None:
    root = write_tree({"a.yaml": "kind: A\n", "b.yaml": "kind: B\n"})
    cache = ParseCache()
    load_dir(root, cache)

    write_tree({"b.yaml": None})
    load_dir(root, cache)

    assert [path for path, _digest in cache.entries] == ["a.yaml"]


def test_cache_keys_on_path_and_content() -> None:
    cache = ParseCache()

    load({"a.yaml": "kind: A\n", "b.yaml": "kind: A\n"}, cache)

    # The same content under two names is two entries: diagnostics carry the file name.
    assert cache.misses == 2
    assert {path for path, _digest in cache.entries} == {"a.yaml", "b.yaml"}

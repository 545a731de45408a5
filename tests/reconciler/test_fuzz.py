"""Whatever is in the config folder, load + validate answer with diagnostics or a state, never an exception."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.diagnostics import Severity, has_errors, sort_key
from reconciler.loader import load_files
from reconciler.state import DesiredState
from reconciler.validate import Validation, validate

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Words the config language uses, so generated documents reach deep into the models.
FIELDS = [
    "apiVersion", "kind", "metadata", "name", "labels", "spec", "type", "endpoint", "description", "auth",
    "apiKey", "fromEnv", "fromFile", "models", "price", "inputPerMTok", "outputPerMTok", "timeouts", "connect",
    "read", "archived", "customInstructions", "muxRules", "match", "pattern", "provider", "model",
]  # fmt: skip
WORDS = [
    "muxgate/v1", "Provider", "Workspace", "Persona", "openai", "anthropic", "ollama", "vllm", "none",
    "passthrough", "api_key", "catch_all", "filename_match", "fim_filename", "chat_filename", "default",
    "archived", "gpt-4o", "*.py", "src/**/*.ts", "[z-a]", "[", "OPENAI_API_KEY", "/run/secrets/x",
    "http://localhost:8000/v1", "ftp://x", "Backend", "a b", "",
]  # fmt: skip
JARGON = ("Input should be", "Value error", "instance of", "Field required", "String should")

# Printable text for values inside documents: control characters are covered by the raw-text tests and would stop
# most documents before validation.
words = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp")), max_size=12)


def nested_of(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**6), max_value=10**6)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.sampled_from(WORDS)
        | text
    )
    keys = st.sampled_from(FIELDS) | text.filter(bool)
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5), max_leaves=25
    )


nested = nested_of(words)
any_nested = nested_of(st.text(max_size=12))


def near(valid: st.SearchStrategy[Any], odds: int = 4) -> st.SearchStrategy[Any]:
    """`valid`, but one time in `odds` anything: documents close enough to right to reach every check."""
    # flatmap keeps the strategy's repr short, which hypothesis prints (and warns about when long).
    return st.sampled_from([True] * (odds - 1) + [False]).flatmap(lambda ok: valid if ok else nested)


names = near(
    st.sampled_from(["openai", "local", "openai", "local", "backend", "default", "archive", "Backend", "opnai"])
)
model_names = near(st.sampled_from(["gpt-4o", "gpt-4o-mini", "qwen", ""]))
numbers = st.integers(min_value=-2, max_value=1000) | st.floats(min_value=-1, max_value=1e6) | st.just("1.5")
secret_ref = st.fixed_dictionaries(
    {}, optional={"fromEnv": near(st.sampled_from(["OPENAI_API_KEY", "my key"])), "fromFile": near(st.just("/x"))}
)
provider_spec = st.fixed_dictionaries(
    {"type": near(st.sampled_from(["openai", "anthropic", "ollama", "vllm", "lm_studio", "opneai"]))},
    optional={
        "endpoint": near(st.sampled_from(["http://localhost:8000/v1", "https://x.example/", "ftp://x", "x"])),
        "auth": near(
            st.fixed_dictionaries(
                {"type": near(st.sampled_from(["none", "passthrough", "api_key", "apikey"]))},
                optional={"apiKey": near(secret_ref)},
            )
        ),
        "models": near(
            st.lists(
                st.fixed_dictionaries(
                    {"name": model_names},
                    optional={
                        "price": near(
                            st.fixed_dictionaries(
                                {}, optional={"inputPerMTok": near(numbers), "outputPerMTok": near(numbers)}
                            )
                        )
                    },
                ),
                max_size=3,
            )
        ),
        "timeouts": near(st.fixed_dictionaries({}, optional={"connect": near(numbers), "read": near(numbers)})),
        "description": near(words),
    },
)
rule = st.fixed_dictionaries(
    {
        "match": near(
            st.fixed_dictionaries(
                {
                    "type": near(
                        st.sampled_from(["catch_all", "filename_match", "fim_filename", "chat", "chat_filename"])
                    )
                },
                optional={"pattern": near(st.sampled_from(["", "*.py", "src/**/*.ts", "[z-a]", "[abc"]))},
            )
        ),
        "provider": names,
        "model": model_names,
    },
    optional={"modle": nested},
)
workspace_spec = st.fixed_dictionaries(
    {},
    optional={
        "archived": near(st.booleans() | st.just("yes")),
        "customInstructions": near(words),
        "muxRules": near(st.lists(rule, max_size=4)),
    },
)
persona_spec = st.fixed_dictionaries({"description": near(words)})
metadata = st.fixed_dictionaries({"name": names}, optional={"labels": near(st.dictionaries(words, words, max_size=3))})


def document(kind: str, spec: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "apiVersion": near(st.sampled_from(["muxgate/v1"] * 9 + ["muxgate/v2"]), odds=10),
            "kind": near(st.sampled_from([kind] * 9 + ["Workspce"]), odds=10),
            "metadata": near(metadata, odds=10),
        },
        optional={"spec": near(spec), "specs": nested},
    )


documents = st.one_of(
    document("Provider", provider_spec), document("Workspace", workspace_spec), document("Persona", persona_spec)
)
yaml_text = st.text(alphabet=st.sampled_from(list("ab:-?&*!|>'\"#%@`[]{},.\n\t ~<0x")), max_size=80)


def dump(data: Any, block: bool) -> str:
    if not block:
        # Raw characters: JSON's surrogate-pair escapes are not valid YAML escapes.
        return json.dumps(data, ensure_ascii=False) + "\n"
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, out)
    return out.getvalue()


def check(files: Sequence[tuple[str, bytes]]) -> Validation:
    result = validate(load_files(files))
    names = {path for path, _ in files}
    assert (result.state is None) == has_errors(result.diagnostics)
    assert list(result.diagnostics) == sorted(result.diagnostics, key=sort_key)
    for d in result.diagnostics:
        assert d.severity in (Severity.ERROR, Severity.WARNING)
        assert d.code
        assert d.message
        assert d.file in names
        assert d.line is None or d.line >= 1
        assert d.column is None or d.column >= 1
        for word in JARGON:
            assert word not in d.message, d
            assert word not in d.hint, d
    if result.state is not None:
        assert DesiredState.from_json(json.loads(json.dumps(result.state.to_json()))) == result.state
    return result


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    check([("a.yaml", text.encode())])


@FUZZ
@given(yaml_text)
def test_text_made_of_yaml_punctuation(text: str) -> None:
    check([("a.yaml", text.encode())])


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes(content: bytes) -> None:
    check([("a.yaml", content)])


@FUZZ
@given(any_nested, st.booleans())
def test_arbitrary_nested_data(data: Any, block: bool) -> None:
    check([("a.yaml", dump(data, block).encode())])


@FUZZ
@given(st.lists(documents, min_size=1, max_size=4), st.booleans())
def test_data_shaped_like_documents(docs: list[dict[str, Any]], block: bool) -> None:
    text = "---\n".join(dump(doc, block) for doc in docs)

    check([("a.yaml", text.encode())])


@FUZZ
@given(st.lists(st.lists(documents, min_size=1, max_size=2), min_size=1, max_size=3))
def test_documents_spread_over_files(files: list[list[dict[str, Any]]]) -> None:
    check([(f"f{i}.yaml", "---\n".join(dump(doc, True) for doc in docs).encode()) for i, docs in enumerate(files)])


VALID = """\
apiVersion: muxgate/v1
kind: Provider
metadata: {name: openai}
spec:
  type: openai
  auth: {type: api_key, apiKey: {fromEnv: OPENAI_API_KEY}}
  models: [{name: gpt-4o, price: {inputPerMTok: 2.5, outputPerMTok: 10}}]
---
apiVersion: muxgate/v1
kind: Workspace
metadata: {name: backend}
spec:
  muxRules:
    - match: {type: chat_filename, pattern: "*.py"}
      provider: openai
      model: gpt-4o
    - match: {type: catch_all}
      provider: openai
      model: gpt-4o
"""


@FUZZ
@given(st.data())
def test_small_edits_of_a_valid_file(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        at = data.draw(st.integers(min_value=0, max_value=len(text)))
        cut = data.draw(st.integers(min_value=0, max_value=6))
        insert = data.draw(st.text(alphabet=st.sampled_from(list(":-[]{}\n #&*!'\"\tx0")), max_size=3))
        text = text[:at] + insert + text[at + cut :]

    check([("a.yaml", text.encode())])


def test_the_unedited_file_is_valid() -> None:
    assert check([("a.yaml", VALID.encode())]).state is not None

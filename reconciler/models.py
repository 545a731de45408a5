"""The config language (`apiVersion: muxgate/v1`): one pydantic model per kind.

Sits at the start of the flow: the loader turns YAML into plain data, these models check its shape, and
`reconciler.validate` adds the checks that span documents. Field names are the user-facing contract (camelCase in
YAML, snake_case in Python); every field carries a description because editors show it while typing.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_camel

API_VERSION = "muxgate/v1"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
NAME_RE = re.compile(NAME_PATTERN)
RESERVED_WORKSPACE_NAMES = frozenset({"active", "archive", "archived"})
DEFAULT_WORKSPACE = "default"


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_enum_values=False,
    )


Name = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="Lower-case letters, digits, '-' and '_', starting with a letter or digit; at most 63 characters.",
    ),
]


class Metadata(_Model):
    name: Name = Field(
        description=(
            "Unique name of the resource within its kind: lower-case letters, digits, '-' and '_', starting with a "
            "letter or digit, at most 63 characters. Never changed silently."
        )
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Free-form key/value labels, for example the owning team."
    )


# --- Provider -------------------------------------------------------------------------------------------------


class ProviderType(enum.StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    OLLAMA = "ollama"
    VLLM = "vllm"
    OPENROUTER = "openrouter"
    LM_STUDIO = "lm_studio"
    LLAMACPP = "llamacpp"


class ApiFormat(enum.StrEnum):
    """The wire format a provider speaks."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    OLLAMA = "ollama"


API_FORMAT: dict[ProviderType, ApiFormat] = {
    ProviderType.OPENAI: ApiFormat.OPENAI,
    ProviderType.ANTHROPIC: ApiFormat.ANTHROPIC,
    ProviderType.OLLAMA: ApiFormat.OLLAMA,
    ProviderType.VLLM: ApiFormat.OPENAI,
    ProviderType.OPENROUTER: ApiFormat.OPENAI,
    ProviderType.LM_STUDIO: ApiFormat.OPENAI,
    ProviderType.LLAMACPP: ApiFormat.OPENAI,
}

# Where a provider type has a well-known address, `endpoint` may be left out. vLLM has none.
DEFAULT_ENDPOINTS: dict[ProviderType, str] = {
    ProviderType.OPENAI: "https://api.openai.com/v1",
    ProviderType.ANTHROPIC: "https://api.anthropic.com/v1",
    ProviderType.OLLAMA: "http://localhost:11434",
    ProviderType.OPENROUTER: "https://openrouter.ai/api/v1",
    ProviderType.LM_STUDIO: "http://localhost:1234/v1",
    ProviderType.LLAMACPP: "http://localhost:8080/v1",
}


class SecretRef(_Model):
    """Where a secret is read from when the gateway starts; the value itself is never written in YAML."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["fromEnv"]}, {"required": ["fromFile"]}]},
    )

    from_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of the environment variable that holds the secret.",
    )
    from_file: str | None = Field(
        default=None,
        min_length=1,
        description="Path of a file whose content (trimmed) is the secret, for example /run/secrets/openai.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.from_env is None) == (self.from_file is None):
            raise ValueError("give exactly one of fromEnv or fromFile")
        return self


class NoAuth(_Model):
    type: Literal["none"] = Field(description="No credentials are sent to the provider.")


class PassthroughAuth(_Model):
    type: Literal["passthrough"] = Field(description="The client's own key is forwarded to the provider.")


class ApiKeyAuth(_Model):
    type: Literal["api_key"] = Field(description="The provider's key replaces whatever key the client sent.")
    api_key: SecretRef = Field(description="Reference to the key: {fromEnv: NAME} or {fromFile: PATH}.")


Auth = Annotated[NoAuth | PassthroughAuth | ApiKeyAuth, Field(discriminator="type")]


class Price(_Model):
    input_per_m_tok: float = Field(
        ge=0, strict=True, allow_inf_nan=False, description="USD per million input (prompt) tokens."
    )
    output_per_m_tok: float = Field(
        ge=0, strict=True, allow_inf_nan=False, description="USD per million output (completion) tokens."
    )


class ModelSpec(_Model):
    name: str = Field(min_length=1, description="The model name as the provider knows it.")
    price: Price | None = Field(default=None, description="Optional price, used to compute cost.")


class Timeouts(_Model):
    connect: float = Field(
        default=5.0,
        gt=0,
        strict=True,
        allow_inf_nan=False,
        description="Seconds to wait for a connection to the provider.",
    )
    read: float = Field(
        default=600.0,
        gt=0,
        strict=True,
        allow_inf_nan=False,
        description="Seconds to wait for the next bytes of an answer from the provider.",
    )


class ProviderSpec(_Model):
    type: ProviderType = Field(description="The kind of provider; decides the API format spoken to it.")
    endpoint: str | None = Field(
        default=None,
        description="Base URL of the provider's API. Optional for types with a well-known address (not vllm).",
        json_schema_extra={"pattern": r"^https?://[^\s/?#]+[^\s]*$"},
    )
    description: str = Field(default="", description="Free text shown in the admin API.")
    auth: Auth = Field(default_factory=lambda: NoAuth(type="none"), description="How requests are authenticated.")
    models: list[ModelSpec] = Field(
        default_factory=list,
        description="Models mux rules may route to. When empty, any model name is accepted.",
    )
    timeouts: Timeouts = Field(default_factory=Timeouts, description="Connect and read timeouts.")

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^\s/?#]+[^\s]*$", value):
            raise ValueError("endpoint must be an http:// or https:// URL, for example https://api.openai.com/v1")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _endpoint_known(self) -> ProviderSpec:
        if self.endpoint is None and self.type not in DEFAULT_ENDPOINTS:
            raise ValueError(f"a provider of type {self.type.value} needs an endpoint")
        return self

    @property
    def base_url(self) -> str:
        return self.endpoint or DEFAULT_ENDPOINTS[self.type]

    @property
    def api_format(self) -> ApiFormat:
        return API_FORMAT[self.type]


# --- Workspace ------------------------------------------------------------------------------------------------


class MatcherType(enum.StrEnum):
    CATCH_ALL = "catch_all"
    FILENAME_MATCH = "filename_match"
    FIM_FILENAME = "fim_filename"
    CHAT_FILENAME = "chat_filename"


class Match(_Model):
    type: MatcherType = Field(
        description=(
            "catch_all: always; filename_match: a filename in the request matches; fim_filename: a fill-in-the-"
            "middle request (and the pattern matches); chat_filename: a chat request (and the pattern matches)."
        )
    )
    pattern: str | None = Field(
        default=None,
        description=(
            "Shell-style glob. With a '/', matched against the file's path; without, against its basename. "
            "Empty or absent: any request of the matcher's kind."
        ),
    )

    @model_validator(mode="after")
    def _catch_all_has_no_pattern(self) -> Match:
        if self.type is MatcherType.CATCH_ALL and self.pattern:
            raise ValueError("a catch_all matcher takes no pattern")
        return self


class MuxRule(_Model):
    match: Match = Field(description="When the rule applies.")
    provider: Name = Field(description="Name of a declared Provider (kind: Provider, metadata.name).")
    model: str = Field(min_length=1, description="Model to route to; one of the provider's models if it lists any.")


class SecretsMode(enum.StrEnum):
    REDACT = "redact"
    ALERT = "alert"
    OFF = "off"


class SecretPattern(_Model):
    name: Name = Field(description="What the secret is called in alerts, for example acme-deploy-token.")
    regex: str = Field(
        min_length=1,
        description=(
            "Python regular expression matching the secret. Nested or adjacent unbounded repeats ((a+)+, \\w+\\w+) "
            "are refused, since they can take exponential time."
        ),
    )


class SecretsSpec(_Model):
    mode: SecretsMode = Field(
        default=SecretsMode.REDACT,
        description=(
            "redact: secrets become REDACTED<id> placeholders before the request leaves and are restored in the "
            "answer; alert: secrets are only reported; off: nothing is scanned. Alerts are recorded unless off."
        ),
    )
    patterns: list[SecretPattern] = Field(
        default_factory=list, description="More secrets to protect in this workspace, besides the built-in rules."
    )
    values: list[SecretRef] = Field(
        default_factory=list,
        description="Literal values to protect wherever they appear: {fromEnv: NAME} or {fromFile: PATH}.",
    )


class HistoryMode(enum.StrEnum):
    FULL = "full"
    METADATA = "metadata"
    OFF = "off"


class WorkspaceSpec(_Model):
    archived: bool = Field(
        default=False, strict=True, description="An archived workspace keeps its history but serves nothing."
    )
    custom_instructions: str = Field(
        default="", description="Text prepended to the system prompt of every chat request (never FIM)."
    )
    mux_rules: list[MuxRule] = Field(
        default_factory=list, description="Routing rules in priority order: the first match wins."
    )
    history: HistoryMode = Field(
        default=HistoryMode.FULL,
        description=(
            "What the gateway keeps of this workspace's conversations: full (messages and answers), metadata "
            "(when, which model, how many messages; no text) or off. Token usage and cost are recorded regardless."
        ),
    )
    secrets: SecretsSpec = Field(
        default_factory=SecretsSpec,
        description="Secret protection: the mode, and patterns and values to protect besides the built-in rules.",
    )

    @model_serializer(mode="wrap")
    def _default_history_left_out(self, handler: SerializerFunctionWrapHandler) -> Any:
        # The default written out means the same as the default left out; dumping neither keeps the hash of
        # every existing state, so adding this field planned no change anywhere.
        data = handler(self)
        if isinstance(data, dict) and self.history is HistoryMode.FULL:
            data.pop("history", None)
        if isinstance(data, dict) and self.secrets == SecretsSpec():
            data.pop("secrets", None)
        return data


# --- Persona --------------------------------------------------------------------------------------------------


class PersonaSpec(_Model):
    description: str = Field(min_length=1, description="What the persona does.")


# --- SecretPolicy ---------------------------------------------------------------------------------------------


class SecretPolicySpec(_Model):
    patterns: list[SecretPattern] = Field(
        default_factory=list, description="Secrets to protect in every workspace, besides the built-in rules."
    )
    values: list[SecretRef] = Field(
        default_factory=list,
        description="Literal values to protect in every workspace: {fromEnv: NAME} or {fromFile: PATH}.",
    )


# --- Documents ------------------------------------------------------------------------------------------------


class _Document(_Model):
    api_version: Literal["muxgate/v1"] = Field(description="Always muxgate/v1.")
    metadata: Metadata = Field(description="Name and labels.")


class Provider(_Document):
    """An LLM provider endpoint that mux rules route to (global)."""

    kind: Literal["Provider"] = Field(description="Always Provider: an LLM endpoint that mux rules route to.")
    spec: ProviderSpec = Field(description="The provider's type, endpoint, auth and models.")


class Workspace(_Document):
    """A workspace: its routing rules and custom instructions."""

    kind: Literal["Workspace"] = Field(description="Always Workspace: routing rules and custom instructions.")
    spec: WorkspaceSpec = Field(default_factory=WorkspaceSpec, description="Rules, instructions, lifecycle.")


class Persona(_Document):
    """A named persona (global)."""

    kind: Literal["Persona"] = Field(description="Always Persona: a named persona with a description.")
    spec: PersonaSpec = Field(description="The persona's description.")


class SecretPolicy(_Document):
    """Secrets to protect in every workspace (global)."""

    kind: Literal["SecretPolicy"] = Field(
        description="Always SecretPolicy: patterns and values protected in every workspace."
    )
    spec: SecretPolicySpec = Field(description="The patterns and values to protect.")


Resource = Provider | Workspace | Persona | SecretPolicy
KINDS: dict[str, type[Provider] | type[Workspace] | type[Persona] | type[SecretPolicy]] = {
    "Provider": Provider,
    "Workspace": Workspace,
    "Persona": Persona,
    "SecretPolicy": SecretPolicy,
}

"""Push mode, the client's side: plan against a running gateway, and apply a config directory to it.

    reconcile DIR --dry-run --server URL   GET  URL/api/v1/reconcile/state ─▶ plan locally against it
    reconcile DIR --server URL             the same, then POST URL/api/v1/reconcile/apply with DIR's files

The gateway loads and validates the files again and answers with what it did; this module only speaks HTTP and
turns every failure into one `PushError` sentence for the CLI. Like the rest of `reconciler/`, it knows the
gateway only by its HTTP contract (docs/admin-api.md), never by importing `proxy/`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from reconciler.diagnostics import Diagnostic, Severity
from reconciler.state import DesiredState

TOKEN_VARIABLE = "MUXGATE_ADMIN_TOKEN"
STATE_PATH = "/api/v1/reconcile/state"
APPLY_PATH = "/api/v1/reconcile/apply"
# The gateway validates and builds the whole tree before it answers; a large tree takes seconds.
APPLY_TIMEOUT = 120.0
READ_TIMEOUT = 30.0


class PushError(RuntimeError):
    """Talking to the gateway failed; the message is one sentence naming the cause and the fix."""


class PushRejectedError(PushError):
    """The gateway found the pushed files invalid (422) and applied nothing; `diagnostics` says why."""

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic]) -> None:
        super().__init__(message)
        self.diagnostics = tuple(diagnostics)


@dataclass(frozen=True, slots=True)
class Running:
    """What the gateway serves: the state a plan is made against."""

    revision: str | None
    state_hash: str
    state: DesiredState


@dataclass(frozen=True, slots=True)
class Outcome:
    """The gateway's answer to an apply: the revision it serves now and what its own plan counted."""

    revision: str | None
    state_hash: str
    counts: Mapping[str, int]

    @property
    def has_changes(self) -> bool:
        return any(self.counts.values())

    def sentence(self) -> str:
        """`Applied revision 3f2c1e9a0b1c: 1 added, 0 changed, 0 archived.` or `No changes.`"""
        if not self.has_changes:
            return "No changes."
        parts = [f"{self.counts.get(key, 0)} {verb}" for key, verb in _ALWAYS]
        parts += [f"{self.counts[key]} {verb}" for key, verb in _WHEN_ANY if self.counts.get(key)]
        return f"Applied {self.label}: {', '.join(parts)}."

    @property
    def label(self) -> str:
        # As the gateway's status names it: a dirty revision with its state, since every uncommitted edit has it.
        short = self.state_hash[:12]
        if self.revision is None:
            return f"state {short} (not in git)"
        if self.revision.endswith("-dirty"):
            return f"revision {self.revision} (state {short})"
        return f"revision {self.revision}"


_ALWAYS = (("add", "added"), ("change", "changed"), ("archive", "archived"))
_WHEN_ANY = (("recover", "recovered"), ("delete", "deleted"))


def read_token(token_file: Path | None) -> str | None:
    """The admin token from `token_file`, else from MUXGATE_ADMIN_TOKEN; None when neither gives one."""
    if token_file is None:
        return os.environ.get(TOKEN_VARIABLE, "").strip() or None
    try:
        token = token_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise PushError(
            f"The token file {token_file} cannot be read ({reason}); pass the admin-token file of the gateway's "
            "data directory."
        ) from None
    if not token:
        raise PushError(
            f"The token file {token_file} is empty; pass the admin-token file of the gateway's data directory."
        )
    return token


def check_url(url: str) -> str:
    """`url` without a trailing slash; PushError unless it is an http:// or https:// address with a host."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise PushError(f"--server {url!r} is not a gateway address; pass one like http://127.0.0.1:8989.")
    return url.rstrip("/")


class GatewayClient:
    """The admin API of one gateway, for push mode. The token is sent, never shown."""

    def __init__(self, url: str, token: str | None, *, transport: httpx.BaseTransport | None = None) -> None:
        self.url = check_url(url)
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=READ_TIMEOUT, transport=transport)

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def running(self) -> Running:
        """The state the gateway serves."""
        body = self._call("GET", STATE_PATH)
        try:
            return Running(body.get("revision"), str(body["stateHash"]), DesiredState.from_json(body["state"]))
        except Exception as exc:
            raise PushError(
                f"The gateway at {self.url} sent a state this reconcile cannot read ({type(exc).__name__}); use "
                "the same version of Muxgate on both sides."
            ) from None

    def apply(self, files: Iterable[tuple[str, bytes]], revision: str | None, *, prune: bool = False) -> Outcome:
        """Push `files` (relative path, content) for the gateway to validate and apply; PushRejectedError when it finds
        them invalid, PushError for any other refusal."""
        payload = {
            # The files were validated here, so they are UTF-8: the JSON carries them as text.
            "files": [{"path": path, "content": content.decode("utf-8")} for path, content in files],
            "revision": revision,
            "prune": prune,
        }
        body = self._call("POST", APPLY_PATH, json=payload, timeout=APPLY_TIMEOUT)
        try:
            status, counts = body["status"], body["plan"]["counts"]
            return Outcome(status.get("revision"), str(status["stateHash"]), {k: int(v) for k, v in counts.items()})
        except (KeyError, TypeError, ValueError, AttributeError):
            raise PushError(
                f"The gateway at {self.url} applied the push but its answer cannot be read; check "
                f"{self.url}/api/v1/reconcile/status."
            ) from None

    def _call(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **options)
        except httpx.TimeoutException:
            raise PushError(
                f"The gateway at {self.url} did not answer in time; check that it runs and try again."
            ) from None
        except httpx.HTTPError as exc:
            raise PushError(
                f"No gateway answers at {self.url} ({type(exc).__name__}: {exc}); check the address and that "
                "`muxgate serve` runs there."
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict):
            return body
        raise self._refusal(response.status_code, path, body)

    def _refusal(self, status: int, path: str, body: Any) -> PushError:
        detail = body.get("detail") if isinstance(body, dict) else None
        if status == 401:
            return PushError(
                f"The gateway at {self.url} needs the admin token; pass --token-file with its data directory's "
                f"admin-token file, or set {TOKEN_VARIABLE}."
            )
        if status == 403:
            return PushError(
                f"The gateway at {self.url} refused the admin token; pass the token of that gateway (--token-file "
                f"or {TOKEN_VARIABLE})."
            )
        if status == 422 and isinstance(body, dict) and isinstance(body.get("diagnostics"), list):
            return PushRejectedError(str(detail), [_diagnostic(d) for d in body["diagnostics"] if isinstance(d, dict)])
        if status == 404 and detail in (None, "Not Found"):
            return PushError(
                f"The gateway at {self.url} has no {path}; it is not a Muxgate gateway, or one older than push mode."
            )
        if isinstance(detail, str) and detail:
            return PushError(detail)
        return PushError(f"The gateway at {self.url} answered {path} with HTTP {status}.")


def _diagnostic(raw: Mapping[str, Any]) -> Diagnostic:
    """A diagnostic as the gateway sent it (`Diagnostic.to_json`)."""
    path = raw.get("path")
    return Diagnostic(
        Severity.ERROR if raw.get("severity") == "error" else Severity.WARNING,
        str(raw.get("summary") or "invalid config"),
        file=raw.get("file"),
        line=raw.get("line"),
        column=raw.get("column"),
        end_column=raw.get("end_column"),
        # Already formatted ("spec.muxRules[1].provider"); one part prints it back as it is.
        path=(path,) if isinstance(path, str) and path else (),
        message=str(raw.get("message") or ""),
        hint=str(raw.get("hint") or ""),
        code=str(raw.get("code") or ""),
    )

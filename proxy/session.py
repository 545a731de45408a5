"""The session: the workspace that serves requests naming none, kept across restarts in DATA_DIR/session.json.

Sits beside the registry. The registry says what git declares; the session says which declared workspace the
operator activated at run time (`POST /api/v1/workspaces/active`). A request that names its workspace (header or
`/w/NAME/`) is not affected by it. The data directory helpers live here because the session is the first thing
the gateway writes there.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from proxy.registry import Registry

log = logging.getLogger("muxgate.session")

SESSION_FILE = "session.json"
# The running gateway's address, for `muxgate sql` on the same data directory (a gateway on --port 0 has one
# no setting names). Written once listening, removed on a clean stop.
GATEWAY_URL_FILE = "gateway-url"


class DataDirError(Exception):
    """The data directory, or a file in it, cannot be created, read or written; the message names the path."""


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def prepare_data_dir(path: Path) -> Path:
    """Create the data directory if needed and check that files can be written in it."""
    fix = "choose another one with --data-dir or MUXGATE_DATA_DIR"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(f"cannot create the data directory {path} ({_reason(exc)}); {fix}.") from exc
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DataDirError(f"cannot write in the data directory {path} ({_reason(exc)}); {fix}.") from exc
    return path


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`: readers see the old content
    or the new one, never half of it, even if the process dies mid-write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True, slots=True)
class Session:
    active_workspace: str
    # When the workspace became active: activation time, or start-up time for a fallback.
    updated_at: datetime


class SessionStore:
    """The session file of a data directory and the session last loaded or saved."""

    def __init__(self, data_dir: Path, current: Session) -> None:
        self.path = data_dir / SESSION_FILE
        self.current = current

    @classmethod
    def open(cls, data_dir: Path, registry: Registry, fallback: str) -> SessionStore:
        """The saved session if it names a workspace the registry serves; else `fallback` (with a warning when a
        saved workspace was dropped)."""
        store = cls(data_dir, Session(fallback, _now()))
        saved = store.read()
        if saved is None:
            return store
        workspace = registry.workspaces.get(saved.active_workspace)
        if workspace is None or workspace.archived:
            state = "no longer exists" if workspace is None else "is archived"
            log.warning(
                "the saved active workspace %s %s; %s is active instead (%s)",
                saved.active_workspace,
                state,
                fallback,
                store.path,
            )
            return store
        store.current = saved
        return store

    def read(self) -> Session | None:
        """The saved session; None when there is none or it cannot be read (a warning says why)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read %s (%s); starting with the default workspace", self.path, _reason(exc))
            return None
        try:
            data = json.loads(raw)
            return Session(str(data["active_workspace"]), datetime.fromisoformat(data["updated_at"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s is not a session file (%s); starting with the default workspace", self.path, exc)
            return None

    def save(self, active_workspace: str) -> Session:
        """Record `active_workspace` as active now; DataDirError when the file cannot be written."""
        session = Session(active_workspace, _now())
        body = {"active_workspace": session.active_workspace, "updated_at": session.updated_at.isoformat()}
        try:
            write_atomically(self.path, json.dumps(body, indent=2).encode() + b"\n")
        except OSError as exc:
            raise DataDirError(f"cannot write {self.path} ({_reason(exc)}).") from exc
        self.current = session
        return session


def _now() -> datetime:
    return datetime.now(UTC)


def announce_url(data_dir: Path, url: str) -> None:
    """Write the gateway's URL into the data directory; a failure is logged, not raised (it only helps tools)."""
    try:
        write_atomically(Path(data_dir) / GATEWAY_URL_FILE, (url + "\n").encode())
    except OSError as exc:
        log.warning("could not write %s (%s)", Path(data_dir) / GATEWAY_URL_FILE, _reason(exc))


def withdraw_url(data_dir: Path, url: str) -> None:
    """Remove the URL file if it still names this gateway (another one may have taken the directory since)."""
    path = Path(data_dir) / GATEWAY_URL_FILE
    try:
        if path.read_text().strip() == url:
            path.unlink()
    except OSError:
        pass


def announced_url(data_dir: Path) -> str | None:
    """The URL a gateway on this data directory wrote, if any."""
    try:
        url = (Path(data_dir) / GATEWAY_URL_FILE).read_text().strip()
    except OSError:
        return None
    return url or None

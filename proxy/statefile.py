"""The last applied state, kept in the data dir so a restart with a broken config still serves the last good one.

Written by the live reconciler after every apply (`DATA_DIR/last-applied.json`), read once when `muxgate serve`
starts. The file holds the desired state as `DesiredState.to_json()` gives it, the revision, when it was applied,
the config directory it came from (and whether it was pushed through the admin API instead of read from there),
and the inventory: the last declared spec of every workspace ever applied, so a workspace removed from the
directory stays archived across restarts. A write goes to a temporary file in the
same folder first and is renamed over the old one, so a crash leaves either the old file or the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from pydantic import ValidationError

from reconciler.models import Workspace
from reconciler.state import DesiredState

FORMAT_VERSION: Final = 1
FILE_NAME: Final = "last-applied.json"


class StateFileError(Exception):
    """The state file exists but cannot be used; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class LastApplied:
    config_dir: str
    revision: str | None
    applied_at: datetime
    desired: DesiredState
    # Workspace name → its last declared resource, for every workspace applied and not pruned since.
    inventory: Mapping[str, Workspace]
    pushed: bool = False  # pushed through the admin API rather than read from config_dir

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "configDir": self.config_dir,
            "source": "push" if self.pushed else "directory",
            "revision": self.revision,
            "appliedAt": iso_utc(self.applied_at),
            "desired": self.desired.to_json(),
            "inventory": {
                "workspaces": [ws.model_dump(mode="json", by_alias=True) for _, ws in sorted(self.inventory.items())]
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LastApplied:
        workspaces = [Workspace.model_validate(raw) for raw in data["inventory"]["workspaces"]]
        return cls(
            config_dir=str(data["configDir"]),
            revision=data["revision"],
            applied_at=datetime.fromisoformat(data["appliedAt"]).astimezone(UTC),
            desired=DesiredState.from_json(data["desired"]),
            inventory=MappingProxyType({ws.metadata.name: ws for ws in workspaces}),
            # Files written before pushes existed have no source: they came from the directory.
            pushed=data.get("source") == "push",
        )


def iso_utc(moment: datetime) -> str:
    """`2025-01-01T12:00:00.123Z`: ISO 8601 in UTC, milliseconds, as the status endpoint shows it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def state_path(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def save(data_dir: Path, last: LastApplied) -> Path:
    """Write `last` atomically (temporary file, fsync, rename); creates the data dir if needed."""
    data_dir.mkdir(parents=True, exist_ok=True)
    target = state_path(data_dir)
    text = json.dumps(last.to_json(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    fd, temporary = tempfile.mkstemp(prefix=f".{FILE_NAME}.", suffix=".tmp", dir=data_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_directory(data_dir)
    return target


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the folder's entry is on disk; some filesystems refuse to open a folder.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(data_dir: Path) -> LastApplied | None:
    """The saved state, or None when there is none; StateFileError when the file is there but unusable."""
    path = state_path(data_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateFileError(f"{path} cannot be read ({exc}); fix its permissions or delete it.") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateFileError(f"{path} is not valid JSON ({exc}); delete it, the next apply writes it again.") from exc
    version = data.get("format") if isinstance(data, dict) else None
    if version != FORMAT_VERSION:
        raise StateFileError(
            f"{path} has format {version!r}, but this version of Muxgate reads format {FORMAT_VERSION}; "
            "delete it, the next apply writes it again."
        )
    try:
        return LastApplied.from_json(data)
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StateFileError(
            f"{path} does not hold a usable state ({detail}); delete it, the next apply writes it again."
        ) from exc

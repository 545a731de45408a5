"""Child processes for the end-to-end tests: `muxgate serve` and friends, with their output read as it comes.

Threads read stdout and stderr, so waiting for a line (the URL line a server prints once it listens) ends at a
deadline or when the process exits, never blocking forever on a pipe.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

# The console script installed next to this interpreter, not whichever one PATH names first.
MUXGATE = str(Path(sys.executable).parent / "muxgate")


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment (provider keys included) without MUXGATE_* settings, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MUXGATE_")}
    return {**env, **overrides}


class Process:
    """A child process whose stdout and stderr are collected line by line while it runs."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], *, new_session: bool = False) -> None:
        # A new session makes the process the leader of a process group a test can signal as a terminal would.
        self.process = subprocess.Popen(
            list(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(env),
            start_new_session=new_session,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: TextIO, into: list[str], announce: bool) -> None:
        for line in stream:
            into.append(line)
            if announce:
                self._lines.put(line.rstrip("\n"))
        if announce:
            # Tells a waiting reader that no more lines will come.
            self._lines.put(None)

    def wait_for_line(self, pattern: re.Pattern[str], timeout: float = 30) -> re.Match[str]:
        """The first stdout line from here on that `pattern` matches; fails with the output if none comes in time."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"No URL line within {timeout} s; output: {self.output()}") from None
            if line is None:
                raise AssertionError(f"muxgate exited before serving; output: {self.output()}")
            if match := pattern.match(line):
                return match

    def stop(self, timeout: float = 15) -> int:
        """Send SIGTERM (unless it has ended) and wait for the exit and the last line; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code

    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)

    def close(self) -> None:
        """Kill the process if it still runs, wait for it, and close its pipes: a test's clean-up."""
        if self.process.poll() is None:
            self.process.kill()
        self.stop()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

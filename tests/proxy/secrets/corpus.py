"""Real code for the negative corpus: .py files of the installed standard library and site-packages, a bounded,
deterministic sample."""

from __future__ import annotations

import functools
import random
import sys
import sysconfig
from pathlib import Path


@functools.cache
def real_code(size: int, seed: int = 3) -> str:
    """About `size` characters of real Python source, whole files in a shuffled but fixed order."""
    roots = {Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])}
    files = sorted(p for root in roots for p in root.rglob("*.py"))
    random.Random(seed).shuffle(files)
    parts: list[str] = []
    total = 0
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(text)
        total += len(text)
        if total >= size:
            break
    if total < size // 2:
        raise RuntimeError(f"Only {total} characters of Python source found under {sorted(map(str, roots))}.")
    return "".join(parts)[:size]


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"

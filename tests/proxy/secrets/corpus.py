"""Real code for the negative corpus: .py files of the interpreter's standard library, a bounded, deterministic
sample. Installed packages are left out: which ones a machine has (and their versions) varies, and a few ship
hard-coded example credentials, so a sample drawn from them would differ from one machine to the next."""

from __future__ import annotations

import functools
import random
import sys
import sysconfig
from pathlib import Path


@functools.cache
def real_code(size: int, seed: int = 3) -> str:
    """About `size` characters of real Python source, whole files in a shuffled but fixed order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    # Sorted by the path inside the standard library, so the sample doesn't depend on where Python is installed;
    # site-packages lives inside it on most installations.
    files = sorted(
        (p.relative_to(root) for p in root.rglob("*.py") if "site-packages" not in p.relative_to(root).parts),
        key=lambda p: p.as_posix(),
    )
    random.Random(seed).shuffle(files)
    parts: list[str] = []
    total = 0
    for path in files:
        try:
            text = (root / path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(text)
        total += len(text)
        if total >= size:
            break
    if total < size // 2:
        raise RuntimeError(f"Only {total} characters of Python source found under {root}.")
    return "".join(parts)[:size]


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"

"""Where the scanner's prefilter anchors each literal prefix: on its rarest character, so that the regex engine's
first-character skip loop (which runs in C) stops on as few positions of ordinary text as possible.

`ghp_` is looked for at its `g`, `-----BEGIN ` at its `B`, `://` at its `/`: the prefilter branch starts with
that character and checks the rest with a look-behind and a literal. Anchors are chosen together, greedily, so
that prefixes share them (every `sk-…` and `xox…-` prefix stops on `-`) and the set of stopping characters stays
small.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

# Percent of characters in a sample of Python source (standard library and popular packages). Absent: rarer.
CODE_FREQUENCY: Final = {
    " ": 25.2, "e": 6.5, "t": 4.7, "a": 4.1, "r": 4.1, "s": 4.0, "n": 3.8, "i": 3.6, "o": 3.4, "\n": 2.8,
    "l": 2.4, "p": 2.0, "c": 1.9, "d": 1.9, "_": 1.8, ",": 1.8, "u": 1.6, "m": 1.6, "f": 1.5, ".": 1.3,
    ")": 1.3, "(": 1.3, "'": 1.0, "h": 1.0, '"': 0.97, "g": 0.97, "y": 0.96, "=": 0.8, ":": 0.76, "b": 0.67,
    "x": 0.52, "v": 0.51, "w": 0.42, "T": 0.36, "k": 0.35, "-": 0.35, "1": 0.33, "[": 0.33, "]": 0.33,
    "A": 0.32, "S": 0.30, "E": 0.30, "0": 0.29, "N": 0.28, "C": 0.26, "2": 0.26, "I": 0.24, "R": 0.23,
    "P": 0.21, "L": 0.20, "#": 0.20, "*": 0.20, "F": 0.19, "O": 0.19, "`": 0.18, "D": 0.17, "M": 0.16,
    ">": 0.15, "q": 0.15, "z": 0.12, "B": 0.12, "3": 0.11, "j": 0.11, "}": 0.10, "{": 0.10, "/": 0.10,
    "G": 0.09, "5": 0.09, "+": 0.09, "U": 0.09, "4": 0.08, "\\": 0.08, "V": 0.07, "|": 0.07, "W": 0.07,
    "K": 0.06, "6": 0.06, "H": 0.06, "Y": 0.05, "X": 0.05, "8": 0.04, "9": 0.04, "7": 0.03, "Q": 0.03,
    "@": 0.03, "%": 0.03, "<": 0.03, "Z": 0.03, "!": 0.02, "J": 0.02, "~": 0.02, "?": 0.01, "&": 0.01,
}  # fmt: skip
_RARE: Final = 0.005
# Costs in the unit of the table (percent of characters), as measured: one more pass over the text costs about what
# stopping on 0.6 % of its characters does; one more alternative at an anchor costs a tenth of stopping there.
_PASS_COST: Final = 0.6
_BRANCH_COST: Final = 0.1


def choose_anchors(prefixes: Iterable[str]) -> dict[str, int]:
    """The index of the anchor character in each prefix, chosen to make the scan cheap: each anchor character is
    one pass of the regex engine's fast literal search, plus the cost of the hits it stops on (weighted set
    cover, greedy: the character with the lowest cost per prefix it would cover goes first)."""
    uncovered = set(prefixes)
    chosen: set[str] = set()
    anchors: dict[str, int] = {}
    while uncovered:
        best: tuple[float, str] | None = None
        for char in sorted({c for p in uncovered for c in p}):
            covered = sum(1 for p in uncovered if char in p)
            frequency = CODE_FREQUENCY.get(char, _RARE)
            added = frequency * _BRANCH_COST * covered
            cost = added if char in chosen else _PASS_COST + frequency + added
            if best is None or cost / covered < best[0]:
                best = (cost / covered, char)
        assert best is not None
        char = best[1]
        chosen.add(char)
        for prefix in [p for p in uncovered if char in p]:
            anchors[prefix] = prefix.index(char)
            uncovered.discard(prefix)
    return anchors

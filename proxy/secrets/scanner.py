"""The scanner: a few fast passes over a text find every secret the rules describe, and declared patterns and values.

    text ─ prefilters (one regex per anchor character: the rules' literal prefixes, anchored on rare ones) ─ hits
         ─ the rules registered for the prefix at each hit: shape, length, entropy, checksum ─ findings
         + declared patterns (each its own regex) + declared values (one alternation) ─ merged, in order

The prefilters run the regex engine's fast literal search and stop only where a prefix occurs (see
`proxy.secrets.anchors`); Python code runs per hit, and hits are rare in ordinary text. Findings never overlap:
overlapping ones are merged into one span, so no part of a secret is left out.
"""

from __future__ import annotations

import bisect
import importlib
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, NamedTuple

from .anchors import choose_anchors
from .context_rules import CONTEXT_RULES
from .placeholders import PLACEHOLDER_RULE
from .rules import VENDOR_RULES, Rule

BUILTIN_RULES: Final[tuple[Rule, ...]] = (*VENDOR_RULES, *CONTEXT_RULES)
PLACEHOLDER: Final = PLACEHOLDER_RULE.id
# No built-in rule finds a secret of fewer characters (the shortest, a URL's password, must have 8), and declared
# values that short are ignored (policy.MIN_VALUE_LENGTH): a shorter text ("user", a model name) is not scanned
# unless the scanner has declared patterns, which may match anything.
SHORTEST_SECRET: Final = 8
# Texts up to this long are first searched once for any prefilter: most of a request's short strings hold
# none, and one search of the alternation costs less than looking for each anchor in turn (0.2-0.4 us against
# 1-2 us for a sentence). In longer texts that search would find a hit early anyway and then cost extra.
GATED_LENGTH: Final = 512
# Texts a scan found clean are remembered, up to this many characters in all (then forgotten together): a coding
# assistant sends the whole conversation again with every turn (system prompt, tool definitions, earlier
# messages), and looking a text up costs a hash of it, several times less than scanning it.
CLEAN_CACHE_CHARS: Final = 8_000_000


class Finding(NamedTuple):
    start: int
    end: int
    rule: str  # rule id, "pattern:NAME" or "value:N"
    label: str  # the kind of secret, as alerts name it


@dataclass(frozen=True, slots=True)
class DeclaredPattern:
    name: str
    regex: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class DeclaredValue:
    value: str
    source: str  # where it was read from, for alerts: "environment variable DB_PASSWORD"


class _Candidates(NamedTuple):
    """The prefixes that put one anchor character at the same `offset` and have the same `length`: at a hit,
    one slice of the text and one lookup tell which of them (if any) is there."""

    offset: int
    length: int
    rules: dict[str, tuple[Rule, ...]]  # prefix → its rules


class Scanner:
    """Finds secrets in text. Built once per policy (when the registry is built) and shared by requests."""

    def __init__(
        self,
        rules: Sequence[Rule] = BUILTIN_RULES,
        patterns: Sequence[DeclaredPattern] = (),
        values: Sequence[DeclaredValue] = (),
    ) -> None:
        self.rules = (*rules, PLACEHOLDER_RULE)
        self.patterns = tuple(patterns)
        self.values = tuple(values)
        by_prefix: dict[str, list[Rule]] = {}
        for rule in self.rules:
            for prefix in rule.prefixes:
                by_prefix.setdefault(prefix, []).append(rule)
        anchors = choose_anchors(by_prefix)
        tables: dict[str, dict[tuple[int, int], dict[str, tuple[Rule, ...]]]] = {}
        for prefix, prefix_rules in by_prefix.items():
            at = anchors[prefix]
            tables.setdefault(prefix[at], {}).setdefault((at, len(prefix)), {})[prefix] = tuple(prefix_rules)
        # Longer prefixes first: at one position, "sk-ant-" decides before "sk-".
        self._candidates = {
            anchor: [_Candidates(o, n, t) for (o, n), t in sorted(table.items(), key=lambda item: -item[0][1])]
            for anchor, table in tables.items()
        }
        self._prefilters = _prefilters(by_prefix, anchors)
        self._gate = re.compile("|".join(prefilter.pattern for _, prefilter in self._prefilters))
        ordered = sorted(self.values, key=lambda v: -len(v.value))
        self._value_of = {v.value: (f"value:{i}", f"declared secret ({v.source})") for i, v in enumerate(ordered)}
        self._values = re.compile("|".join(re.escape(v.value) for v in ordered)) if ordered else None
        self._shortest = 1 if self.patterns else SHORTEST_SECRET
        # Declared patterns and values are searched in every text, whatever the prefilters say.
        self._unconditional = bool(self.patterns) or self._values is not None
        self._joinable = all(_finds_the_same_in_context(prefilter) for _, prefilter in self._prefilters)
        self._clean: dict[str, None] = {}  # texts without findings (see CLEAN_CACHE_CHARS)
        self._clean_chars = 0
        self.clean_cache_chars = CLEAN_CACHE_CHARS

    def scan_all(self, texts: Sequence[str]) -> list[tuple[str, list[Finding]]]:
        """`(text, scan(text))` for each of `texts` that holds any finding, in their order.

        A text this scanner found clean before is not scanned again (a dictionary of them, bounded by
        `clean_cache_chars`; a text with any finding is never remembered). A request is mostly short texts
        (roles, names, messages, tool schemas' descriptions) without any rule's prefix: the short ones are joined
        by NUL and searched as one text the way a long one is (each anchor character looked for in C, its
        prefilter only where it occurs) instead of one search of the gate each, which costs per character several
        times what those searches cost; only the texts with a hit are scanned. A hit that runs from one text into
        the next only makes that text scanned for nothing, and each prefilter goes on from the next text, so
        every text with a prefix of its own is still scanned (the prefilters have no anchors or negative
        look-arounds that a joined neighbour could defeat; see `_finds_the_same_in_context`).
        """
        shortest, clean = self._shortest, self._clean
        joinable = self._joinable and not self._unconditional
        alone: list[int] = []  # scanned one by one
        short: list[int] = []  # searched joined first
        for index, text in enumerate(texts):
            size = len(text)
            if size < shortest or text in clean:
                continue
            (alone if size > GATED_LENGTH or not joinable else short).append(index)
        if len(short) == 1:
            alone += short  # one search of the gate is the cheapest for a single short text
        elif short:
            parts = [texts[index] for index in short]
            joined = "\0".join(parts)
            starts: list[int] | None = None  # where each part begins in `joined`, once a prefilter hits
            marked: set[int] = set()
            for anchor, prefilter in self._prefilters:
                if anchor not in joined:
                    continue
                search, at = prefilter.search, 0
                while (hit := search(joined, at)) is not None:
                    if starts is None:
                        starts = [0, *itertools.accumulate(len(part) + 1 for part in parts)]
                    part = bisect.bisect_right(starts, hit.start()) - 1
                    marked.add(part)
                    at = starts[part + 1]
            for part, index in enumerate(short):
                if part in marked:
                    alone.append(index)
                else:
                    self._remember(parts[part])
        hits: list[tuple[str, list[Finding]]] = []
        for index in sorted(alone):
            text = texts[index]
            if found := self.scan(text):
                hits.append((text, found))
            else:
                self._remember(text)
        return hits

    def _remember(self, text: str) -> None:
        """Note a text without findings; all are forgotten when they would pass `clean_cache_chars`. (A large
        body is scanned in a worker thread while the event loop scans others: the dictionary's operations are
        atomic, and the character count may drift by a text until the next time all are forgotten.)"""
        size = len(text)
        if self._clean_chars + size > self.clean_cache_chars:
            self._clean.clear()
            self._clean_chars = 0
            if size > self.clean_cache_chars:
                return
        self._clean[text] = None
        self._clean_chars += size

    def scan(self, text: str) -> list[Finding]:
        """Every secret in `text`, in order, merged where they overlap; placeholders the text already holds
        (`REDACTED<…>` in any of the forms the restorer reads) come as findings of rule "placeholder"."""
        if len(text) < self._shortest:
            return []
        found: list[Finding] = []
        candidates = self._candidates
        prefilters = self._prefilters
        if len(text) <= GATED_LENGTH and self._gate.search(text) is None:
            if self._unconditional is False:
                return []  # most of a request's texts: no prefix of any rule, nothing declared to look for
            prefilters = ()
        for anchor, prefilter in prefilters:
            # Each prefilter starts with its anchor character: where that is absent, one substring search
            # (in C) replaces a pass of the regex engine. Most of a request's strings lack most anchors.
            if anchor not in text:
                continue
            done = 0  # hits inside a secret this pass found are not looked at again
            for hit in prefilter.finditer(text):
                at = hit.start()
                if at < done:
                    continue
                for offset, length, table in candidates[text[at]]:
                    start = at - offset
                    rules = table.get(text[start : start + length]) if start >= 0 else None
                    if rules is None:
                        continue
                    span = None
                    for rule in rules:
                        span = rule.match(text, start)
                        if span is not None:
                            found.append(Finding(span[0], span[1], rule.id, rule.label))
                            done = span[1]
                            break
                    if span is not None:
                        break
        for pattern in self.patterns:
            for match in pattern.regex.finditer(text):
                if match.end() > match.start():
                    found.append(Finding(match.start(), match.end(), f"pattern:{pattern.name}", pattern.name))
        if self._values is not None:
            for match in self._values.finditer(text):
                rule_id, label = self._value_of[match.group()]
                found.append(Finding(match.start(), match.end(), rule_id, label))
        return _merge(found)


def _prefilters(by_prefix: dict[str, list[Rule]], anchors: dict[str, int]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """One regex per anchor character, starting with it, with that character."""
    ahead: dict[str, list[str]] = {}  # anchor → branches that go on with a literal (rejected on one comparison)
    behind: dict[str, dict[int, list[str]]] = {}  # anchor → width → prefixes ending with the anchor
    gated: dict[str, list[str]] = {}
    for prefix, rules in by_prefix.items():
        at = anchors[prefix]
        anchor = prefix[at]
        gates = {rule.gate for rule in rules}
        gate = "" if "" in gates else "(?:" + "|".join(sorted(gates)) + ")"
        rest = prefix[at + 1 :]
        # After the anchor and the rest of the prefix, a look-behind checks the part before the anchor.
        check = f"(?<={re.escape(prefix)})" if at else ""
        if rest:
            ahead.setdefault(anchor, []).append(re.escape(rest) + check + gate)
        elif gate:
            gated.setdefault(anchor, []).append(check + gate)
        elif at:
            behind.setdefault(anchor, {}).setdefault(at + 1, []).append(re.escape(prefix))
        else:
            gated.setdefault(anchor, []).append("")
    patterns = []
    for anchor in sorted({*ahead, *behind, *gated}):
        branches = sorted(ahead.get(anchor, []))
        # Look-behinds of one width share one assertion: the engine tries its literals like a branch.
        branches += [f"(?<={'|'.join(sorted(p))})" for _, p in sorted(behind.get(anchor, {}).items())]
        branches += sorted(gated.get(anchor, []))
        body = "" if "" in branches else "(?:" + "|".join(branches) + ")"
        patterns.append((anchor, re.compile(re.escape(anchor) + body)))
    return tuple(patterns)


def _finds_the_same_in_context(pattern: re.Pattern[str]) -> bool:
    """True when a match of `pattern` inside a text is also one inside any longer text containing it: the pattern
    has no anchor (^, $, \\A, \\Z, word boundaries) and no negative look-around, the only parts that may fail
    once other characters surround the text. `Scanner.scan_all` joins texts only for such prefilters."""
    # The standard library's own parser of regular expressions (the tree `re.compile` builds from).
    constants = importlib.import_module("re._constants")
    parser = importlib.import_module("re._parser")
    refused = {constants.AT, constants.ASSERT_NOT}

    def clean(items: Iterable[tuple[object, object]]) -> bool:
        for op, arg in items:
            if op in refused:
                return False
            for value in arg if isinstance(arg, tuple | list) else (arg,):
                if isinstance(value, parser.SubPattern) and not clean(value):
                    return False
                if isinstance(value, list | tuple) and not all(
                    clean(sub) for sub in value if isinstance(sub, parser.SubPattern)
                ):
                    return False
        return True

    return clean(parser.parse(pattern.pattern, pattern.flags))


# Rules that say less about a secret than a vendor format does: when both find it, the vendor's name is kept.
_GENERIC: Final = frozenset({"assigned-secret", "url-password", "bearer-token", PLACEHOLDER})


def _merge(found: Iterable[Finding]) -> list[Finding]:
    merged: list[Finding] = []
    for finding in sorted(found, key=lambda f: (f.start, -f.end, f.rule in _GENERIC)):
        if merged and finding.start < merged[-1].end:
            last = merged[-1]
            if last.rule in _GENERIC and finding.rule not in _GENERIC:
                last = finding._replace(start=last.start)
            merged[-1] = last._replace(end=max(last.end, finding.end))
            continue
        merged.append(finding)
    return merged

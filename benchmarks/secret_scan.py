"""Secret scanning on the request path: time per 100 KB prompt, findings per MB of real code, and the cost of
redacting and restoring a whole request.

Real code is the .py files of the interpreter's standard library (the same sample the tests use).
Measured, in one process:
  scan 100 KB     Scanner.scan on 100 KB of real code (target: at most 2 ms on a 2-core machine);
  scan 1 MB       the same on 1 MB, to show the cost is linear;
  findings / MB   findings of the built-in rules over --corpus-mb MB of real code (target: at most 1);
  redact+restore  a chat request of 100 KB with three secrets: redact the body, restore a streamed echo of it.
  agent request   redact an agent's request without secrets: 20 tools with JSON schemas, a long system prompt and
                  60 messages of code and prose (about 60 KB in some 1,300 strings, most of them short), with
                  nothing remembered; then its next turn (one new message) after the conversation so far was
                  redacted, which is what an assistant sends turn after turn.
Each time is the median (min–max) over --rounds rounds.

    python benchmarks/secret_scan.py [--rounds 30] [--corpus-mb 8] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The corpus and the samples are the tests' own: the repository root makes `tests` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxy.secrets import Scanner, StreamRestorer, builtin_scanner, redact
from tests.proxy.secrets.corpus import real_code
from tests.proxy.secrets.samples import samples


def timings(work: Callable[[], object], rounds: int, setup: Callable[[], object] | None = None) -> dict[str, float]:
    """`work` timed `rounds` times, after `setup` each time (not timed) when given."""
    if setup is not None:
        setup()
    work()  # warm caches
    seconds = []
    for _ in range(rounds):
        if setup is not None:
            setup()
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return {
        "median_ms": statistics.median(seconds) * 1000,
        "min_ms": min(seconds) * 1000,
        "max_ms": max(seconds) * 1000,
    }


def agent_request(code: str) -> dict[str, Any]:
    """A coding agent's chat request: tool definitions with JSON schemas, a system prompt, a conversation that
    quotes code."""
    kinds = ("string", "integer", "boolean")
    tools = [
        {
            "type": "function",
            "function": {
                "name": f"tool_{t}",
                "description": "Reads or edits files of the workspace, as its parameters say. " * 3,
                "parameters": {
                    "type": "object",
                    "properties": {
                        f"param_{i}": {"type": kinds[(t + i) % 3], "description": f"What the tool does with item {i}."}
                        for i in range(10)
                    },
                    "required": ["param_0", "param_1"],
                },
            },
        }
        for t in range(20)
    ]
    messages = [{"role": "system", "content": "You are a coding assistant working in the user's repository. " * 130}]
    for i in range(30):
        messages.append(
            {"role": "user", "content": f"What does this do?\n```python\n{code[i * 900 : i * 900 + 700]}\n```"}
        )
        messages.append({"role": "assistant", "content": "It " + code[i * 900 + 700 : i * 900 + 900]})
    return {"model": "coder", "messages": messages, "tools": tools, "stream": True}


def shown(figure: dict[str, float]) -> str:
    return f"{figure['median_ms']:.2f} ms ({figure['min_ms']:.2f}–{figure['max_ms']:.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--corpus-mb", type=float, default=8.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    scanner = builtin_scanner()
    prompt = real_code(100_000)
    megabyte = real_code(1_000_000)
    corpus = real_code(int(args.corpus_mb * 1_000_000))
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "rules": len(scanner.rules),
        "load_average": os.getloadavg()[0],
    }
    results["scan_100kb"] = timings(lambda: scanner.scan(prompt), args.rounds)
    results["scan_1mb"] = timings(lambda: scanner.scan(megabyte), max(3, args.rounds // 5))
    started = time.perf_counter()
    found = scanner.scan(corpus)
    results["corpus_mb"] = len(corpus) / 1e6
    results["corpus_seconds"] = time.perf_counter() - started
    results["findings"] = len(found)
    results["findings_per_mb"] = len(found) / (len(corpus) / 1e6)
    results["finding_rules"] = sorted({f.rule for f in found})

    secrets = {s.rule: s.secret for s in samples()}
    pasted = prompt[:50_000] + f"\nKEY = '{secrets['github-pat']}'\n" + prompt[50_000:] + secrets["private-key"]
    body = {
        "model": "m",
        "messages": [{"role": "system", "content": secrets["aws-access-key-id"]}, {"role": "user", "content": pasted}],
    }

    def round_trip() -> None:
        redaction = redact(body, scanner, workspace="bench")
        echoed = redaction.body["messages"][1]["content"]
        restorer = StreamRestorer(redaction.values)
        out = [restorer.feed(echoed[i : i + 16]) for i in range(0, len(echoed), 16)]
        out.append(restorer.flush())
        assert "".join(out) == pasted

    results["redact_restore_100kb"] = timings(round_trip, max(3, args.rounds // 3))
    # Each request arrives as new JSON, so its texts are new string objects: decoded again before every round.
    raw = json.dumps(agent_request(real_code(40_000)))
    conversation = json.loads(raw)
    conversation["messages"].append({"role": "user", "content": f"And this?\n```python\n{real_code(1_000)}\n```"})
    next_raw = json.dumps(conversation)
    results["agent_request_bytes"] = len(raw)
    fresh = Scanner()
    fresh.clean_cache_chars = 0  # remembers nothing: every text is scanned
    request: list[Any] = []
    results["redact_agent_request"] = timings(
        lambda: redact(request[-1], fresh, workspace="bench"), args.rounds, lambda: request.append(json.loads(raw))
    )

    scanners: list[Scanner] = []

    def next_turn() -> None:  # a new scanner has redacted (and remembered) the conversation so far, a turn ago
        scanners.append(Scanner())
        redact(json.loads(raw), scanners[-1], workspace="bench")
        request.append(json.loads(next_raw))

    results["redact_agent_next_turn"] = timings(
        lambda: redact(request[-1], scanners[-1], workspace="bench"), args.rounds, next_turn
    )

    print(f"Python {results['python']} on {results['machine']} (load average {results['load_average']:.1f})")
    print(f"built-in rules:            {results['rules']}")
    print(f"scan 100 KB of real code:  {shown(results['scan_100kb'])}   target ≤ 2 ms")
    print(f"scan 1 MB of real code:    {shown(results['scan_1mb'])}")
    print(
        f"findings in real code:     {results['findings']} in {results['corpus_mb']:.1f} MB = "
        f"{results['findings_per_mb']:.2f} per MB   target ≤ 1"
        + (f"  ({', '.join(results['finding_rules'])})" if found else "")
    )
    print(f"redact + restore (stream): {shown(results['redact_restore_100kb'])} for a 100 KB request, 16-char deltas")
    kilobytes = results["agent_request_bytes"] / 1000
    print(f"redact an agent's request: {shown(results['redact_agent_request'])} ({kilobytes:.0f} KB, 20 tools)")
    turn = shown(results["redact_agent_next_turn"])
    print(f"  its next turn:           {turn} (one new message, the rest scanned before)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

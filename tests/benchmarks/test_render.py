"""docs/benchmarks.md is rendered from the scripts' JSON: ratios from the same run, and a missing LiteLLM said."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from profile_request_path import summarise
from render import analytics_section, overhead_section, render


def _span(value: float) -> dict[str, float]:
    return {"median": value, "min": value * 0.9, "max": value * 1.1}


def _run(target: str, stream: bool, concurrency: int, rps: float, p50: float) -> dict[str, Any]:
    return {
        "target": target,
        "stream": stream,
        "concurrency": concurrency,
        "requests": 100,
        "rps": _span(rps),
        "p50_ms": _span(p50),
        "p99_ms": _span(p50 * 2),
        "errors": 0,
    }


def _results(tmp: Path, litellm: dict[str, Any], targets: dict[str, tuple[float, float]]) -> Path:
    suite = {
        "mode": "quick",
        "started": "2026-01-01 00:00",
        "seconds": 60.0,
        "machine": {"cpu": "Test CPU", "cores": 2, "python": "3.11.7", "platform": "Linux"},
        "packages": {"litestar": "1.0"},
        "steps": [{"name": "analytics", "outcome": "timed out", "seconds": 300.0, "detail": "Stopped."}],
    }
    runs = [
        _run(name, stream, c, rps, p50 + (0 if c == 1 else 5))
        for name, (rps, p50) in targets.items()
        for stream in (False, True)
        for c in (1, 10, 16)
    ]
    (tmp / "suite.json").write_text(json.dumps(suite))
    (tmp / "litellm_compare.json").write_text(json.dumps({"litellm": litellm, "rounds": 1, "runs": runs}))
    return tmp


def test_ratios_against_litellm_come_from_the_same_run(tmp_path: Path) -> None:
    targets = {"direct": (5000.0, 0.5), "bare passthrough": (1200.0, 1.5), "muxgate": (1000.0, 1.5)}
    targets["litellm"] = (50.0, 20.5)
    doc = render(_results(tmp_path, {"available": True, "version": "9.9", "start_s": 5.0}, targets))
    assert "LiteLLM 9.9" in doc
    assert "| Muxgate RPS ÷ LiteLLM RPS at 10 connections | 20.0× | 20.0× | ≥ 15× |" in doc
    assert "| LiteLLM added latency ÷ Muxgate added latency | 20.0× | 20.0× | ≥ 15× |" in doc
    assert "`analytics`: timed out after 300 s" in doc
    assert "## How to reproduce" in doc


def test_a_missing_litellm_is_said_and_the_rest_rendered(tmp_path: Path) -> None:
    targets = {"direct": (5000.0, 0.5), "bare passthrough": (1200.0, 1.5), "muxgate": (1000.0, 1.5)}
    why = "pip could not install litellm[proxy] into .bench/litellm-venv: no network"
    doc = render(_results(tmp_path, {"available": False, "version": None, "why_not": why}, targets))
    assert f"**LiteLLM was not measured in this run.** {why}" in doc
    assert "| muxgate | JSON | +1.00 ms" in doc
    assert "Ratios" not in doc


def test_profile_self_time_by_package_marks_our_code() -> None:
    raw = "\n".join(
        [
            "main (proxy/cli.py:1);run (asyncio/runners.py:2);write (asyncio/selector_events.py:3) 6",
            "main (proxy/cli.py:1);relay (proxy/gateway.py:9) 3",
            "main (proxy/cli.py:1);send (httpx/_client.py:4) 1",
        ]
    )
    summary = summarise(raw)
    assert summary["samples"] == 10
    names = [(row["name"], round(row["percent"]), row["ours"]) for row in summary["by_component"]]
    assert names == [("stdlib asyncio", 60, False), ("proxy", 30, True), ("httpx", 10, False)]
    assert summary["by_component"][1]["functions"][0]["name"] == "relay (proxy/gateway.py)"
    assert summary["own_code_self_percent"] == 30


def test_the_overhead_section_says_whether_each_round_had_fresh_processes() -> None:
    runs = [
        _run(name, stream, c, rps, 1.0)
        for name, rps in (("direct", 5000.0), ("bare passthrough (aiohttp)", 1000.0), ("muxgate (aiohttp)", 800.0))
        for stream in (False, True)
        for c in (1, 16)
    ]
    data: dict[str, Any] = {"rounds": 5, "requests": 6000, "yardstick": "bare passthrough (aiohttp)", "runs": runs}
    fresh = "each round on freshly started gateways and passthroughs (1,000 requests of warm-up each)"
    assert fresh not in "\n".join(overhead_section(data))
    doc = "\n".join(overhead_section({**data, "warmup": 1000}))
    assert f"5 rounds, the targets taking turns, {fresh}; figures are" in doc
    assert "| RPS at 16 connections ÷ bare passthrough's | 80% | 80% | ≥ 80 % |" in doc


def test_the_overhead_summary_gives_muxgate_with_recording_off_its_own_row_when_measured() -> None:
    targets = (
        ("direct", 5000.0),
        ("bare passthrough (aiohttp)", 1000.0),
        ("muxgate (aiohttp)", 700.0),
        ("muxgate (aiohttp), recording off", 850.0),
    )
    runs = [_run(name, stream, c, rps, 1.0) for name, rps in targets for stream in (False, True) for c in (1, 16)]
    data: dict[str, Any] = {"rounds": 5, "requests": 6000, "yardstick": "bare passthrough (aiohttp)", "runs": runs}
    doc = "\n".join(overhead_section(data))
    assert "| RPS at 16 connections ÷ bare passthrough's | 70% | 70% | ≥ 80 % |" in doc
    assert "| the same, recording off | 85% | 85% | |" in doc
    assert "and on the default client once more with recording off (the request path alone); and" in doc
    without = "\n".join(overhead_section({**data, "runs": [r for r in runs if "off" not in r["target"]]}))
    assert "recording off" not in without


def test_the_overhead_ratios_show_where_the_rounds_own_ratios_lie() -> None:
    runs = []
    for name, rounds in (
        ("direct", [5000.0, 5000.0, 5000.0]),
        ("bare passthrough (aiohttp)", [1000.0, 1200.0, 800.0]),
        ("muxgate (aiohttp)", [700.0, 1080.0, 720.0]),
    ):
        for stream in (False, True):
            for c in (1, 16):
                run = _run(name, stream, c, sorted(rounds)[1], 1.0)
                runs.append({**run, "rps_rounds": rounds})
    data: dict[str, Any] = {"rounds": 3, "requests": 6000, "yardstick": "bare passthrough (aiohttp)", "runs": runs}
    doc = "\n".join(overhead_section(data))
    # Medians 720 / 1000; the rounds' own ratios 70 %, 90 % and 90 %.
    assert "| RPS at 16 connections ÷ bare passthrough's | 72% (70%–90%) | 72% (70%–90%) | ≥ 80 % |" in doc
    assert "in brackets the lowest and the highest of the rounds' own ratios" in doc


def test_the_recording_cost_shows_where_the_rounds_own_costs_lie() -> None:
    gateway = {
        "stream": False,
        "rps_off": 1000.0,
        "rps_on": 900.0,
        "rps_cost_percent": 10.0,
        "cpu_us_per_request_off": 200.0,
        "cpu_us_per_request_on": 220.0,
        "dropped": 0,
        # Round by round: costs of 5 %, 10 % and -2 % (the rounds' order differs from the medians').
        "rounds": {"rps": {"off": [1000.0, 800.0, 1000.0], "on": [950.0, 720.0, 1020.0]}},
    }
    doc = "\n".join(analytics_section({"gateway": [gateway]}))
    assert "| JSON | 1,000 | 900 | +10.0 % (-2.0 to +10.0) | – | – | 200 | 220 |" in doc
    without = "\n".join(analytics_section({"gateway": [{**gateway, "rounds": {}}]}))
    assert "| JSON | 1,000 | 900 | +10.0 % | – | – |" in without
    assert "in brackets" in doc
    assert "in brackets" not in without

"""The last stage of `benchmarks/run`: one Markdown document from the JSON results the benchmark scripts wrote.

Reads RESULTS/*.json (one file per script, named after it, plus suite.json: the machine, the package versions,
the mode and each step's outcome) and writes docs/benchmarks.md. It only reads: every figure comes from the run.

    python benchmarks/render.py RESULTS [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway_overhead import MUXGATE, MUXGATE_OFF

ROOT = Path(__file__).resolve().parents[1]
Data = dict[str, Any]


def span(s: Data, fmt: str = "{:,.0f}", scale: float = 1.0) -> str:
    """A median with its min and max over the rounds: '812 (790–830)'."""
    m, lo, hi = (fmt.format(s[k] * scale) for k in ("median", "min", "max"))
    return f"{m} ({lo}–{hi})"


def kind(stream: bool) -> str:
    return "SSE" if stream else "JSON"


def machine_section(suite: Data) -> list[str]:
    m = suite["machine"]
    lines = [
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores",
        f"- Python {m['python']} on {m['platform']}",
        f"- Run: {suite['started']} UTC, mode `{suite['mode']}`, {suite['seconds'] / 60:.1f} minutes in all",
        "",
        "| package | version |",
        "|---|---|",
    ]
    lines += [f"| {name} | {version} |" for name, version in suite["packages"].items()]
    return [*lines, ""]


def _fresh_targets(data: Data) -> str:
    """How the targets were started, for results that say (a warm-up count means fresh processes every round)."""
    if "warmup" not in data:
        return ""
    return f", each round on freshly started gateways and passthroughs ({data['warmup']:,} requests of warm-up each)"


def overhead_section(data: Data) -> list[str]:
    runs = data["runs"]
    direct = {(r["stream"], r["concurrency"]): r for r in runs if r["target"] == "direct"}
    bare = {(r["stream"], r["concurrency"]): r for r in runs if r["target"] == data["yardstick"]}
    measured_off = any(r["target"] == MUXGATE_OFF for r in runs)
    off_too = (
        ", and on the default client once more with recording off (the request path alone)" if measured_off else ""
    )
    lines = [
        "## What the gateway adds",
        "",
        "OpenAI chat requests to the fake provider directly, through a bare passthrough on Muxgate's stack "
        "(Litestar, uvicorn with httptools and uvloop, the same upstream client; no routing, rewriting, translation, "
        "secret scanning or recording) and through "
        f"`muxgate serve`, with either upstream client (aiohttp's ClientSession, the default, or httpx){off_too}; "
        "and through a "
        "bare passthrough on the httpx API over aiohttp (httpx-aiohttp), the client the gateway would use to keep "
        f"the httpx API. {data['requests']:,} requests per round at 16 connections (a quarter of that at one), "
        f"{data['rounds']} rounds, the targets taking turns{_fresh_targets(data)}; figures are the median (min–max) "
        "over the rounds. A Muxgate round ends when what it recorded is written: the time its status endpoint takes "
        "to write what is queued counts into the round.",
        "",
        "| target | body | connections | RPS | p50 ms | p99 ms | p50 added vs direct | RPS vs bare (aiohttp) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        key = (r["stream"], r["concurrency"])
        added = r["p50_ms"]["median"] - direct[key]["p50_ms"]["median"]
        ratio = r["rps"]["median"] / bare[key]["rps"]["median"]
        lines.append(
            f"| {r['target']} | {kind(r['stream'])} | {r['concurrency']} | {span(r['rps'])} | "
            f"{span(r['p50_ms'], '{:.2f}')} | {span(r['p99_ms'], '{:.2f}')} | {added:+.2f} ms | {ratio:.0%} |"
        )
    mux = {(r["stream"], r["concurrency"]): r for r in runs if r["target"] == MUXGATE}
    off = {(r["stream"], r["concurrency"]): r for r in runs if r["target"] == MUXGATE_OFF}
    if all((s, c) in mux for s in (False, True) for c in (1, 16)):

        def added_ms(stream: bool) -> float:
            return float(mux[(stream, 1)]["p50_ms"]["median"] - direct[(stream, 1)]["p50_ms"]["median"])

        def share(target: dict[tuple[bool, int], Data], stream: bool) -> str:
            """The ratio of the medians, and where the rounds' own ratios lie when the run kept them."""
            ours, yardstick = target[(stream, 16)], bare[(stream, 16)]
            text = f"{ours['rps']['median'] / yardstick['rps']['median']:.0%}"
            if "rps_rounds" in ours and "rps_rounds" in yardstick:
                ratios = [a / b for a, b in zip(ours["rps_rounds"], yardstick["rps_rounds"], strict=True)]
                text += f" ({min(ratios):.0%}–{max(ratios):.0%})"
            return text

        lines += [
            "",
            "| Muxgate (default client), measured in this run | JSON | SSE | target |",
            "|---|---:|---:|---|",
            f"| p50 added at 1 connection | {added_ms(False):+.2f} ms | {added_ms(True):+.2f} ms | ≤ 1 ms (JSON) |",
            f"| RPS at 16 connections ÷ bare passthrough's | {share(mux, False)} | {share(mux, True)} | ≥ 80 % |",
        ]
        if all((s, 16) in off for s in (False, True)):
            lines.append(
                f"| the same, recording off | {share(off, False)} | {share(off, True)} | |",
            )
        if "rps_rounds" in bare[(False, 16)]:
            lines += [
                "",
                "The RPS ratios are of the medians; in brackets the lowest and the highest of the rounds' own ratios "
                "(a round measures every target, on processes of its own, one after the other).",
            ]
    return [*lines, ""]


def litellm_section(data: Data) -> list[str]:
    info = data["litellm"]
    runs = data["runs"]
    by = {(r["target"], r["stream"], r["concurrency"]): r for r in runs}
    targets = [t for t in ("direct", "bare passthrough", "muxgate", "litellm") if (t, False, 1) in by]
    lines = ["## Muxgate and the LiteLLM proxy", ""]
    if info.get("why_not"):
        lines += [f"**LiteLLM was not measured in this run.** {info['why_not']}", ""]
    else:
        lines += [
            f"LiteLLM {info['version']} (`litellm[proxy]` from PyPI in its own virtualenv under `.bench/`, one "
            "worker, `LITELLM_LOCAL_MODEL_COST_MAP=True`, a master key, one `openai/` model whose base is the fake "
            f"provider's `/v1`; it answered its first request {info.get('start_s', 0):.1f} s after its start) and "
            "Muxgate (aiohttp upstream client, one catch-all rule) side by side in one run, against the same fake "
            "provider, with the direct figures and a bare passthrough on Muxgate's stack as yardsticks.",
            "",
        ]
    requests = {t: by[(t, False, 10)]["requests"] for t in targets if (t, False, 10) in by}
    lines += [
        "Requests per round: "
        + ", ".join(f"{t} {n:,}" for t, n in requests.items())
        + f" (a quarter of that at one connection); {data['rounds']} rounds; median (min–max) over the rounds. "
        "Added latency is the target's median p50 at one connection minus the direct median p50.",
        "",
        "| target | body | added latency, 1 connection | RPS at 10 | RPS at 16 | p50 ms at 10 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    added: dict[tuple[str, bool], float] = {}
    for stream in (False, True):
        base = by[("direct", stream, 1)]["p50_ms"]["median"]
        for t in targets:
            one = by[(t, stream, 1)]["p50_ms"]
            added[(t, stream)] = one["median"] - base
            lo, hi = one["min"] - base, one["max"] - base
            added_text = "—" if t == "direct" else f"{added[(t, stream)]:+.2f} ms ({lo:+.2f}…{hi:+.2f})"
            lines.append(
                f"| {t} | {kind(stream)} | {added_text} | {span(by[(t, stream, 10)]['rps'])} | "
                f"{span(by[(t, stream, 16)]['rps'])} | {by[(t, stream, 10)]['p50_ms']['median']:.1f} |"
            )
    errors = {t: sum(r["errors"] for r in runs if r["target"] == t) for t in targets}
    lines += ["", "Failed requests: " + ", ".join(f"{t} {n}" for t, n in errors.items()) + ".", ""]
    if "litellm" in targets:
        lines += [
            "### Ratios, measured in this run",
            "",
            "| | JSON | SSE | target |",
            "|---|---:|---:|---|",
        ]
        for c in (10, 16):
            cells = [by[("muxgate", s, c)]["rps"]["median"] / by[("litellm", s, c)]["rps"]["median"] for s in (0, 1)]
            lines.append(
                f"| Muxgate RPS ÷ LiteLLM RPS at {c} connections | {cells[0]:.1f}× | {cells[1]:.1f}× | ≥ 15× |"
            )
        cells = [added[("litellm", s)] / max(added[("muxgate", s)], 1e-3) for s in (False, True)]
        lines.append(f"| LiteLLM added latency ÷ Muxgate added latency | {cells[0]:.1f}× | {cells[1]:.1f}× | ≥ 15× |")
        bare = [
            by[("muxgate", s, 10)]["rps"]["median"] / by[("bare passthrough", s, 10)]["rps"]["median"] for s in (0, 1)
        ]
        lines += [
            f"| Muxgate RPS ÷ bare passthrough RPS at 10 connections | {bare[0]:.0%} | {bare[1]:.0%} | |",
            "",
            "For reference, on another 2-core machine LiteLLM 1.108.7 with one worker added 16–20 ms per request "
            "(26–29 ms streaming) and served 73.5 RPS at 10 connections. On two cores the load generator, the fake "
            "provider and the gateway share the CPU, so the direct and passthrough figures are a ceiling of this "
            "machine rather than of the gateway.",
            "",
        ]
    return lines


def reload_section(reload: Data | None, compare: Data | None) -> list[str]:
    lines = ["## Config reload", ""]
    if reload:
        e, load = reload["edit_to_live_ms"], reload["under_load"]
        lines += [
            f"Muxgate's watcher (`benchmarks/reload.py`): `muxgate serve` on a git repository of "
            f"{reload['workspaces']} workspaces; a rule's model is rewritten and requests are sent 5 ms apart "
            "until the new model answers. Under load, clients send requests without pause while the file is "
            "rewritten again and again.",
            "",
            "| measure | result |",
            "|---|---|",
            f"| edit to live, median ({e['edits']} edits) | {e['p50']:.0f} ms (min {e['min']:.0f}, "
            f"p95 {e['p95']:.0f}, max {e['max']:.0f}) |",
            f"| failed requests while reloading {load['reloads']} times, {load['clients']} clients without pause | "
            f"{load['failed']} of {load['requests']:,} |",
            "",
        ]
    if compare and "muxgate_reload" in compare:
        mux, lite = compare["muxgate_reload"], compare.get("litellm_reload")
        lines += [
            "The same edit side by side (`benchmarks/litellm_compare.py`): paced clients "
            f"({mux['clients']}, each pausing {mux['pause_s'] * 1000:.0f} ms after an answer) run from 0.5 s before "
            "the edit until 0.5 s after the new config answers; edit to live is the time from the write to the "
            "first answer from the new config, median (min–max) over the edits.",
            "",
            "| gateway | how it takes the edit | edit to live | failed requests |",
            "|---|---|---:|---:|",
            f"| Muxgate | watcher (debounced), swap in place | {span(mux['edit_to_live_s'], '{:,.0f} ms', 1000)} | "
            f"{mux['failed']} of {mux['requests']:,} |",
        ]
        if lite and "why_not" not in lite:
            lines.append(
                f"| LiteLLM | `{lite['method']}` | {span(lite['edit_to_live_s'], '{:.2f} s')} | "
                f"{lite['failed']} of {lite['requests']:,} |"
            )
            ratio = lite["edit_to_live_s"]["median"] / mux["edit_to_live_s"]["median"]
            lines += ["", f"Muxgate takes an edit live {ratio:.0f}× sooner than LiteLLM's {lite['method']}."]
            if lite["has_reload_option"]:
                lines.append(
                    "LiteLLM's `--reload` is uvicorn's development reloader: it restarts the worker process when "
                    "a file in its working directory or the config changes, so the edit waits for a whole start."
                )
        elif lite:
            lines.append(f"| LiteLLM | — | not measured | {lite['why_not']} |")
        else:
            lines.append("| LiteLLM | — | not measured | LiteLLM was not available in this run |")
        lines.append("")
    return lines


def profile_section(data: Data) -> list[str]:
    lines = ["## Where a request's time goes", ""]
    if data.get("why_not"):
        return [*lines, f"**The profile was not recorded in this run.** {data['why_not']}", ""]
    comps = data["by_component"]
    lines += [
        f"py-spy sampled `muxgate serve` ({data['rate']} Hz, {data['seconds']} s, without pausing it) while "
        "16 connections sent OpenAI chat requests, JSON and streaming in turn, through it to the fake provider "
        "(analytics and secret protection on, the defaults); all of its threads. "
        f"Flame graph: [{Path(data['svg']).name}]({Path(data['svg']).name}). {data['samples']:,} samples; "
        "shares are of self time (the frame on top of the stack).",
        "",
        "The three biggest costs:",
        "",
    ]
    for i, row in enumerate(comps[:3], 1):
        owner = "ours (Muxgate)" if row["ours"] else "not ours"
        top = row["functions"][:3]
        detail = "; ".join(f"`{f['name']}` {f['percent']:.1f} %" for f in top)
        lines.append(f"{i}. **{row['name']}**, {row['percent']:.1f} % — {owner}. Mostly: {detail}.")
    lines += [
        "",
        f"Muxgate's own code (`proxy`, `reconciler`) is {data['own_code_self_percent']:.1f} % of the self time.",
        "",
        "| package | self time |",
        "|---|---:|",
    ]
    lines += [f"| {r['name']}{' (ours)' if r['ours'] else ''} | {r['percent']:.1f} % |" for r in comps[:10]]
    lines += ["", "| function (file) | self time |", "|---|---:|"]
    lines += [
        f"| `{r['name']}`{' (ours)' if r['ours'] else ''} | {r['percent']:.1f} % |" for r in data["by_function"][:10]
    ]
    return [*lines, ""]


def scale_section(data: Data) -> list[str]:
    lines = [
        "## Config load, validate and plan",
        "",
        "`benchmarks/reconcile_scale.py`: generated repositories of workspace files (about 30 lines each), in one "
        "process; median (min–max) over the rounds.",
        "",
        "| files | cold | unchanged (cached) | after a one-file change |",
        "|---:|---:|---:|---:|",
    ]
    for r in data["runs"]:
        cells = [span(r[k], "{:,.1f}", 1000) + " ms" for k in ("cold_s", "warm_s", "one_file_s")]
        lines.append(f"| {r['files']:,} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _round_costs(gateway: Data, name: str) -> str:
    """` (low–high)`: the RPS cost of variant `name` against recording off, round by round; empty when the
    results do not keep their rounds."""
    rounds = gateway.get("rounds", {}).get("rps", {})
    if name not in rounds or "off" not in rounds:
        return ""
    costs = [(1 - on / off) * 100 for on, off in zip(rounds[name], rounds["off"], strict=True)]
    return f" ({min(costs):+.1f} to {max(costs):+.1f})"


def analytics_section(data: Data) -> list[str]:
    lines = ["## Analytics", "", "`benchmarks/analytics.py`.", ""]
    writer = [w for w in data.get("writer", []) if "skipped" not in w]
    if writer:
        lines += ["| insert method | batch | events/s | CPU µs/event |", "|---|---:|---:|---:|"]
        lines += [
            f"| {w['method']} | {w['batch']:,} | {w['events_per_s']:,.0f} | {w['cpu_us_per_event']:.1f} |"
            for w in writer
        ]
        lines.append("")
    if data.get("gateway"):
        lines += [
            "Recording off, on (the writer process, the default) and on with the writer as a thread of the gateway "
            "(`MUXGATE_ANALYTICS_WRITER=thread`), 16 connections, the variants' order rotating each round, a "
            "fresh gateway per variant and round (medians). A round with recording on ends when its rows are "
            "written (the time and CPU counted):",
            "",
            "| body | RPS off | on | cost | thread | cost | CPU µs/request off | on | of it, event loop | "
            "writer process | thread | dropped |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for g in data["gateway"]:
            thread = g.get("rps_thread")
            lines.append(
                f"| {kind(g['stream'])} | {g['rps_off']:,.0f} | {g['rps_on']:,.0f} | "
                f"{g['rps_cost_percent']:+.1f} %{_round_costs(g, 'on')} | "
                + (
                    f"{thread:,.0f} | {g['rps_cost_percent_thread']:+.1f} %{_round_costs(g, 'thread')} | "
                    if thread
                    else "– | – | "
                )
                + f"{g['cpu_us_per_request_off']:,.0f} | {g['cpu_us_per_request_on']:,.0f} | "
                f"{g.get('loop_cpu_us_per_request_on', float('nan')):,.0f} | "
                f"{g.get('writer_process_cpu_us_per_request', float('nan')):,.0f} | "
                f"{g.get('cpu_us_per_request_thread', float('nan')):,.0f} | {g['dropped']} |"
            )
        ranges = any(_round_costs(g, "on") for g in data["gateway"])
        lines += [
            "",
            "CPU per request: the gateway with its writer process; of it, the event loop's thread and the writer "
            "process."
            + (
                " The costs are of the medians; in brackets the lowest and the highest of the rounds' own costs (a "
                "round measures every variant, one after the other)."
                if ranges
                else ""
            ),
            "",
        ]
        tails = [g for g in data["gateway"] if "latency_ms" in g]
        if tails:
            lines += [
                "Latency over every round's requests, p50 / p99 / p99.9 in ms:",
                "",
                "| body | off | on (writer process) | on (writer thread) |",
                "|---|---:|---:|---:|",
            ]
            for g in tails:
                cells = [
                    f"{t['p50']:.2f} / {t['p99']:.2f} / {t['p99.9']:.2f}"
                    for t in (g["latency_ms"][name] for name in ("off", "on", "thread"))
                ]
                lines.append(f"| {kind(g['stream'])} | " + " | ".join(cells) + " |")
            lines.append("")
    checkpoints = data.get("checkpoints")
    if checkpoints:
        lines += [
            f"The writer's commits over {checkpoints[0]['requests']:,} requests (a request row and a history row "
            "each, batches of 3,000), by how much write-ahead log DuckDB lets accumulate before a checkpoint "
            "(16 MB is DuckDB's default):",
            "",
            "| checkpoint_threshold | insert CPU µs/request | commit CPU µs/request | checkpoints | longest |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {c['threshold']} | {c['insert_cpu_us_per_request']:.2f} | {c['commit_cpu_us_per_request']:.2f} | "
            f"{c['checkpoints']} | {c['checkpoint_ms_max']:,.0f} ms |"
            for c in checkpoints
        ]
        lines.append("")
    if data.get("views"):
        v = data["views"]
        lines += [f"Usage views over {v['rows']:,} rows (median of 5):", "", "| query | time |", "|---|---:|"]
        lines += [f"| {name} | {s * 1000:,.1f} ms |" for name, s in v["query_s"].items()]
        lines.append("")
    return lines


def secrets_section(data: Data) -> list[str]:
    def ms(s: Data) -> str:
        return f"{s['median_ms']:.2f} ms ({s['min_ms']:.2f}–{s['max_ms']:.2f})"

    return [
        "## Secret scanning",
        "",
        f"`benchmarks/secret_scan.py`, {data['rules']} built-in rules; median (min–max) over the rounds.",
        "",
        "| measure | result |",
        "|---|---|",
        f"| scan 100 KB of real code | {ms(data['scan_100kb'])} |",
        f"| scan 1 MB of real code | {ms(data['scan_1mb'])} |",
        f"| redact and restore a 100 KB request, streamed | {ms(data['redact_restore_100kb'])} |",
        *(
            [
                f"| redact an agent's request ({data['agent_request_bytes'] / 1000:.0f} KB: 20 tools with schemas, "
                f"a system prompt, 60 messages; no secret) | {ms(data['redact_agent_request'])} |"
            ]
            + (
                [
                    "| its next turn: one new message, the conversation so far scanned a turn before | "
                    f"{ms(data['redact_agent_next_turn'])} |"
                ]
                if "redact_agent_next_turn" in data
                else []
            )
            if "redact_agent_request" in data
            else []
        ),
        f"| findings in {data['corpus_mb']:.1f} MB of real code | {data['findings']} "
        f"({data['findings_per_mb']:.2f} per MB) |",
        "",
    ]


REPRODUCE = """\
## How to reproduce

```
benchmarks/run            # every benchmark, about {minutes} minutes on 2 cores; writes docs/benchmarks.md
benchmarks/run --quick    # fewer rounds and requests: a smoke run of every step in a few minutes
```

It needs the project's virtualenv (`.venv`) and, on the first run, PyPI: `litellm[proxy]` and `py-spy` are
installed into `.bench/litellm-venv` (ignored by git; never a dependency of Muxgate). Everything listens on
127.0.0.1 only. Each step runs in its own process group with a time limit, each load run has a fixed request
count and a timeout, and every process a step started is stopped when it ends, fails, times out or on Ctrl-C. The
raw results are kept in `.bench/results/`; `python benchmarks/render.py .bench/results/full` renders them again.
Each script also runs alone (`python benchmarks/NAME.py --help`). Figures from one run compare with each other;
across machines, compare the ratios.

To judge a change, `python benchmarks/compare_revisions.py REV` runs the gateway of a git revision and of the
working tree side by side (not part of the suite): RPS moves by several percent between runs on a small machine,
so it also reports CPU per request of the event loop, the gateway process and its writer process.
"""


SECTIONS: list[tuple[str, Callable[[Data], list[str]]]] = [
    ("gateway_overhead", overhead_section),
    ("profile_request_path", profile_section),
    ("reconcile_scale", scale_section),
    ("analytics", analytics_section),
    ("secret_scan", secrets_section),
]


def render(results: Path) -> str:
    def load(name: str) -> Data | None:
        path = results / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    suite = load("suite")
    if suite is None:
        raise SystemExit(f"{results}/suite.json is missing; run benchmarks/run first.")
    lines = [
        "# Benchmarks",
        "",
        "Generated by `benchmarks/run` from one run on one machine; every ratio compares figures measured side by "
        "side in that run. Loopback only: a fake provider that answers at once stands in for the LLM, so the "
        "figures are what the gateways themselves cost.",
        "",
        *machine_section(suite),
    ]
    compare = load("litellm_compare")
    if compare and compare.get("runs"):
        lines += litellm_section(compare)
    lines += reload_section(load("reload"), compare)
    for name, section in SECTIONS:
        data = load(name)
        if data is not None:
            lines += section(data)
    failed = [s for s in suite["steps"] if s["outcome"] != "ok"]
    if failed:
        lines += ["## Steps that did not finish", ""]
        lines += [f"- `{s['name']}`: {s['outcome']} after {s['seconds']:.0f} s. {s.get('detail', '')}" for s in failed]
        lines.append("")
    lines.append(REPRODUCE.format(minutes=max(1, round(suite["seconds"] / 60)) if suite["mode"] == "full" else 20))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    args.out.write_text(render(args.results))
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()

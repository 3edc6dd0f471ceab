#!/usr/bin/env python3
"""What one refresh of the ledger figures costs (`tokenledger serve` runs it every `ledger_export.refresh_secs`,
15 s by default): the three queries of src/ledger/figures.rs, read from that file verbatim, on N api_request events
(the deterministic workload of benches/storage.py: 100 events per workflow, spread over --days days ending now,
so about N / 100 / days workflows are active within the one-day window).

    .venv/bin/python benches/ledger_figures.py                 # 1,000,000 events over 30 days, 7 runs
    .venv/bin/python benches/ledger_figures.py --fast          # smoke: 100,000 events, 3 runs
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import storage  # noqa: E402  (the shared generator and schema loader)

REPO = Path(__file__).resolve().parent.parent
DB = storage.OURS_DB


def figures_sql() -> dict[str, str]:
    """The SQL constants of src/ledger/figures.rs, by name."""
    text = (REPO / "src" / "ledger" / "figures.rs").read_text()
    found = dict(re.findall(r'const (\w+): &str = "\\\n(.*?)";', text, re.S))
    assert set(found) == {"WORKFLOWS", "STAGES", "TEAM"}, f"figures.rs constants changed: {sorted(found)}"
    return found


def bind(sql: str, *values: str) -> str:
    """Fills the `?` placeholders in order, as the clickhouse crate does client-side."""
    for value in values:
        sql = sql.replace("?", value, 1)
    assert "?" not in sql
    return sql


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--window-secs", type=int, default=86_400, help="ledger_export.active_window_secs")
    p.add_argument("--max-workflows", type=int, default=500, help="ledger_export.max_workflows")
    args = storage.sized_args(p, (1_000_000, 100_000), (7, 3), "days the events are spread over, ending now (default 30)")
    return storage.in_temp_dir("tokenledger-ledger-", run, args)


def run(args: argparse.Namespace, data_dir: str) -> int:
    b = storage.Bench(args, data_dir)
    span_ms = args.days * 86_400_000
    start_ms = int(time.time() * 1000) - span_ms
    b.load_api_requests(start_ms, span_ms, f"over {args.days} days")
    b.timed("merge", f"OPTIMIZE TABLE {DB}.otel_api_request_events FINAL")

    sql = figures_sql()
    workflows_sql = bind(sql["WORKFLOWS"], str(args.window_secs), str(args.max_workflows))
    settings = f"\nSETTINGS {b.settings}"

    def refresh() -> tuple[dict[str, float], int, int]:
        timings = {}
        t0 = time.perf_counter()
        rows = b.rows(workflows_sql + settings)
        timings["workflows"] = time.perf_counter() - t0
        ids = "[" + ",".join(f"'{r[0]}'" for r in rows) + "]"
        t0 = time.perf_counter()
        stages = b.rows(bind(sql["STAGES"], ids) + settings) if rows else []
        timings["stages"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        b.rows(bind(sql["TEAM"], "7") + settings)
        timings["team"] = time.perf_counter() - t0
        timings["refresh"] = sum(timings.values())
        active = int(rows[0][-1]) if rows else 0
        return timings, len(rows), active, len(stages)

    refresh()  # warm-up
    samples: dict[str, list[float]] = {}
    for _ in range(args.runs):
        timings, exported, active, stage_rows = refresh()
        for name, seconds in timings.items():
            samples.setdefault(name, []).append(seconds * 1000)
    print(f"ClickHouse {b.scalar('SELECT version()')} (chdb-core, in-process), max_threads = {args.threads}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {args.events:,} api_request events over "
          f"{args.days} days; {active} workflows active in {args.window_secs} s, {exported} exported "
          f"(cap {args.max_workflows}), {stage_rows} stage groups; {args.runs} timed refreshes after a warm-up; "
          "median (min), ms.\n")
    print("| query | median | min |")
    print("|---|---|---|")
    for name in ("workflows", "stages", "team", "refresh"):
        values = samples[name]
        print(f"| {name} | {statistics.median(values):.1f} | {min(values):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

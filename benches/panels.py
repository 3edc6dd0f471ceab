#!/usr/bin/env python3
"""Every Grafana panel's query on 10M api_request events: p95 per panel, as the read-only user runs it (final = 1).

The events are generated inside the engine (INSERT … SELECT from numbers(), benches/storage.py's generator: 100
requests per workflow, spread over --days ending today), with tool results (a third of the requests, 2 % of them
failed), api_errors (one request in 997) and a Beads issue for one workflow in ten. Then --dup-share of the
api_requests is inserted a second time with merges stopped, so final = 1 has real duplicates to fold, as between a
collector retry and the next merge. The panel queries are the dashboards' own, expanded by
`cargo run --example expand_panels` (the expansion tests/grafana_panels.rs checks) for the dashboards'
default range (now-7d) and for the whole --days; multi-value variables at All, the detail dashboard on one
workflow. The hourly rollups are refreshed once (timed) and their schedule stopped before the panels are timed.
Each query runs once to warm up, then --runs times; p95 and median per panel, slowest first.

    .venv/bin/python benches/panels.py                 # 10,000,000 events over 30 days, 20 runs per panel
    .venv/bin/python benches/panels.py --fast          # smoke: 200,000 events, 5 runs
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import storage  # noqa: E402  (the shared generator)

REPO = Path(__file__).resolve().parent.parent
DB = storage.OURS_DB
# The refreshable materialized views of the rollups (src/sink/schema.rs ROLLUP_VIEWS).
ROLLUP_VIEWS = ["api_request_hourly_refresh", "workflow_failures_hourly_refresh"]
# Every schema file `tokenledger schema apply` applies, in its order (src/sink/schema.rs lists the same).
storage.SCHEMA_FILES = sorted(REPO.glob("clickhouse/0*.sql"))


def reader_settings() -> str:
    """The reader profile's final = 1 (clickhouse/users.d/tokenledger.xml), with the bench's own settings."""
    return "final = 1"


def expanded(from_ms: int, to_ms: int, workflow: str) -> list[dict]:
    out = subprocess.run(
        ["cargo", "run", "--quiet", "--example", "expand_panels", "--", str(from_ms), str(to_ms), workflow],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dup-share", type=float, default=0.01, help="share of api_requests inserted twice")
    args = storage.sized_args(p, (10_000_000, 200_000), (20, 5), "days the events are spread over, ending today")
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    args.start = (today - dt.timedelta(days=args.days - 1)).strftime("%Y-%m-%d")
    args.keep, args.dir = False, None
    return storage.in_temp_dir("tokenledger-panels-", run, args)


def run(args: argparse.Namespace, data_dir: str) -> int:
    b = storage.Bench(args, data_dir)
    start_ms, span_ms, start_note = storage.window(args)
    load = b.load_api_requests(start_ms, span_ms, f"from {start_note}")
    src = f"{storage.BENCH_DB}.src"
    b.timed("load otel_tool_result_events", f"""
        INSERT INTO {DB}.otel_tool_result_events
            (timestamp, event_key, workflow_id, workflow_path, stage, agent, model_expected, session_id, tool_name,
             success, duration_ms, error)
        SELECT timestamp + toIntervalSecond(1), sipHash64('tool', i), workflow_id, workflow_path, stage, agent,
               model_expected, session_id, ['Bash', 'Read', 'Edit', 'Grep'][i % 4 + 1], i % 150 != 0,
               20 + i % 200, if(i % 150 = 0, 'exit status 1', '')
        FROM {src} WHERE i % 3 = 0""" + load)
    b.timed("load otel_api_error_events", f"""
        INSERT INTO {DB}.otel_api_error_events
            (timestamp, event_key, workflow_id, workflow_path, stage, agent, model_expected, session_id, model,
             error, status_code, attempt, duration_ms)
        SELECT timestamp + toIntervalSecond(2), sipHash64('error', i), workflow_id, workflow_path, stage, agent,
               model_expected, session_id, model, 'Overloaded', '529', 1, 250
        FROM {src} WHERE i % 997 = 0""" + load)
    b.timed("load beads_issues", f"""
        INSERT INTO {DB}.beads_issues (id, title, status, issue_type, priority, parent, workflow_id, created_at,
                                       updated_at)
        SELECT concat(workflow_id, '.1'), 'task', if(w % 7 = 0, 'open', 'closed'), 'task', 1, workflow_id,
               workflow_id, timestamp, timestamp
        FROM {src} WHERE j = 0 AND w % 10 = 0""" + load)
    # Duplicates that no merge has folded yet: what final = 1 is for.
    b.q(f"SYSTEM STOP MERGES {DB}.otel_api_request_events")
    modulo = max(1, round(1 / args.dup_share)) if args.dup_share > 0 else 0
    if modulo:
        b.timed("redeliver", storage.INSERT_OURS_TYPED.rstrip() + f" WHERE i % {modulo} = 0" + load)
    # The overview panels read the hourly rollups (clickhouse/004_grafana.sql), refreshed every minute from the
    # event tables with FINAL: refresh them now, timing what each refresh costs at this size, then stop their
    # schedule so that no refresh runs while the panels are timed.
    refresh_s = {}
    for view in ROLLUP_VIEWS:
        t0 = time.perf_counter()
        b.q(f"SYSTEM REFRESH VIEW {DB}.{view}")
        b.q(f"SYSTEM WAIT VIEW {DB}.{view}")
        refresh_s[view] = time.perf_counter() - t0
        b.q(f"SYSTEM STOP VIEW {DB}.{view}")
        storage.log(f"  refresh {view}: {refresh_s[view]:.1f} s")
    rollup_rows = int(b.scalar(f"SELECT count() FROM {DB}.api_request_hourly FINAL"))
    rows = int(b.scalar(f"SELECT count() FROM {DB}.otel_api_request_events"))
    parts = b.scalar(
        f"SELECT count() FROM system.parts WHERE database = '{DB}' AND table = 'otel_api_request_events' AND active")
    workflow = b.scalar(f"SELECT workflow_id FROM {src} WHERE i = {(args.events // 200) * 100}")

    end_ms = int(time.time() * 1000)
    ranges = {"7 days": end_ms - 7 * 86_400_000, f"{args.days} days": start_ms}
    settings = f"{b.settings}, {reader_settings()}"
    results = []
    for range_label, from_ms in ranges.items():
        for q in expanded(from_ms, end_ms, workflow):
            samples = b.samples(f"{q['sql']}\nSETTINGS {settings}", args.runs)
            results.append((range_label, q["dashboard"], q["panel"], p95(samples), statistics.median(samples)))
            storage.log(f"  [{range_label}] {q['dashboard']} / {q['panel']}: p95 {results[-1][3]:.1f} ms")

    load_avg = os.getloadavg()[0]
    print(f"## Grafana panels on {rows:,} api_request rows ({args.events:,} events, {args.dup_share:.0%} "
          f"inserted twice, {parts} active parts, merges stopped)\n")
    print(f"ClickHouse {b.scalar('SELECT version()')} (chdb-core, in-process), max_threads = {args.threads}, "
          f"final = 1 (the reader profile), {os.cpu_count()} cores shared (load {load_avg:.1f}); {args.runs} timed "
          f"runs per panel after a warm-up. Events over {args.days} days from {start_note}.\n")
    print("Rollup refresh (SYSTEM REFRESH VIEW + SYSTEM WAIT VIEW, the work the schedule does every minute): "
          + ", ".join(f"{view} {secs:.1f} s" for view, secs in refresh_s.items())
          + f"; api_request_hourly holds {rollup_rows:,} rows.\n")
    for range_label in ranges:
        part = sorted((r for r in results if r[0] == range_label), key=lambda r: -r[3])
        over = [r for r in part if r[3] > 100]
        print(f"### Range {range_label}: {len(part)} panels, {len(over)} over 100 ms p95\n")
        print("| dashboard | panel | p95 ms | median ms |")
        print("|---|---|---:|---:|")
        for _, dash, panel, q95, median in part:
            print(f"| {dash} | {panel} | {q95:.1f} | {median:.1f} |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

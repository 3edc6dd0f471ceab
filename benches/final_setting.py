#!/usr/bin/env python3
"""What the reader profile's `final = 1` costs: the README's example queries and the assessment's own queries,
each run on plain tables and with the setting, on N api_request events of which a share was delivered twice.

Why it matters: the tables are ReplacingMergeTree keyed by each record's content hash, so a redelivered request
(a collector retry after a timeout) leaves two rows until a merge folds them. A plain `SELECT sum(cost_usd)`
counts both; with `final = 1` (the `tokenledger_reader` profile in clickhouse/users.d/) every SELECT reads the
folded state. This script loads the events (the generator of benches/storage.py: the same deterministic
workload), inserts a copy of --dup-share of them again in separate parts (what a redelivery leaves behind before
a merge), then times each query both ways (one warm-up, then --runs timed runs; median and min) and shows the
error plain reads make: the total cost read plainly vs with `final = 1` vs the exact figure.

    .venv/bin/python benches/final_setting.py                  # 2,000,000 events, 2 % delivered twice, 7 runs
    .venv/bin/python benches/final_setting.py --fast           # smoke: 100,000 events, 3 runs
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import storage  # noqa: E402  (the shared generator and schema loader)

REPO = Path(__file__).resolve().parent.parent
ASSESSMENT = REPO / "tests" / "fixtures" / "assessment"
DB = storage.OURS_DB


def readme_queries() -> list[tuple[str, str]]:
    """The ```sql blocks of README.md's "First query" step, verbatim, labelled by their GROUP BY."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("### 6. First query"):]
    section = section[: section.index("\n### ", 1)]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    assert blocks, "README.md's first-query step has no SQL"
    label = lambda block: re.search(r"GROUP BY [^\n]*", block).group(0)  # noqa: E731
    return [(label(block), block) for block in blocks]


def queries(workflow: str) -> dict[str, str]:
    """Label → SQL, run in database DB. The assessment's files verbatim (the per-stage query without its FORMAT
    clause, its `${WORKFLOW_ID}` filled in), and the queries README.md's first-query step shows."""
    assessment = {
        "assessment: workflow_summary body": (ASSESSMENT / "view_workflow_summary.sql").read_text(),
        "assessment: stage_performance body": (ASSESSMENT / "view_stage_performance.sql").read_text(),
        "assessment: model_cost_comparison body": (ASSESSMENT / "view_model_cost_comparison.sql").read_text(),
        "assessment: per-stage (otel-to-beads.sh)": (ASSESSMENT / "per_stage.sql")
        .read_text()
        .replace("${WORKFLOW_ID}", workflow)
        .replace("FORMAT JSON", ""),
        "assessment: latest 5 api_requests": (ASSESSMENT / "latest_api_requests.sql").read_text(),
    }
    readme = {f"README: {label}": sql for label, sql in readme_queries()}
    return {**readme, **assessment}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dup-share", type=float, default=0.02, help="share of events delivered twice (default 0.02)")
    args = storage.sized_args(p, (2_000_000, 100_000), (7, 3), "days the events are spread over (default 30)")
    # storage.window() wants these two as well.
    args.start, args.keep, args.dir = "2026-10-26", False, None
    return storage.in_temp_dir("tokenledger-final-", run, args)


def run(args: argparse.Namespace, data_dir: str) -> int:
    b = storage.Bench(args, data_dir)
    start_ms, span_ms, start_note = storage.window(args)
    load = b.load_api_requests(start_ms, span_ms, f"from {start_note}")
    b.timed("load otel_events", storage.INSERT_OURS_EVENTS + load)
    b.timed("merge", f"OPTIMIZE TABLE {DB}.otel_api_request_events FINAL")
    b.q(f"OPTIMIZE TABLE {DB}.otel_events FINAL")
    exact = float(b.scalar(f"SELECT sum(cost_usd) FROM {DB}.otel_api_request_events"))

    # A redelivery: the same rows (same event_key) again, in new parts that no merge has folded yet. Merges are
    # stopped so the state measured is the one a user meets between a retry and the next merge.
    b.q(f"SYSTEM STOP MERGES {DB}.otel_api_request_events")
    b.q(f"SYSTEM STOP MERGES {DB}.otel_events")
    modulo = max(1, round(1 / args.dup_share)) if args.dup_share > 0 else 0
    if modulo:
        b.timed("redeliver", storage.INSERT_OURS_TYPED.rstrip() + f" WHERE i % {modulo} = 0" + load)
        b.q(storage.INSERT_OURS_EVENTS.rstrip() + f" WHERE i % {modulo} = 0" + load)
    plain_total = float(b.scalar(f"SELECT sum(cost_usd) FROM {DB}.otel_api_request_events"))
    final_total = float(b.scalar(f"SELECT sum(cost_usd) FROM {DB}.otel_api_request_events SETTINGS final = 1"))
    parts = b.scalar(
        f"SELECT count() FROM system.parts WHERE database = '{DB}' AND table = 'otel_api_request_events' AND active"
    )

    workflow = b.scalar(f"SELECT workflow_id FROM {storage.BENCH_DB}.src WHERE i = {(args.events // 200) * 100}")
    results = []
    for label, sql in queries(workflow).items():
        sql = sql.strip().rstrip(";")
        timings = {}
        for mode, extra in (("plain", ""), ("final", ", final = 1")):
            samples = b.samples(f"{sql}\nSETTINGS {b.settings}{extra}", args.runs)
            timings[mode] = (statistics.median(samples), min(samples))
        results.append((label, timings))
        storage.log(f"  {label}: plain {timings['plain'][0]:.1f} ms, final {timings['final'][0]:.1f} ms")

    print(f"## `final = 1` on {args.events:,} api_request events, {args.dup_share:.0%} delivered twice "
          f"({parts} active parts, merges stopped)\n")
    print(f"ClickHouse {b.scalar('SELECT version()')} (chdb-core, in-process), max_threads = {args.threads}, "
          f"{os.cpu_count()} cores; {args.runs} timed runs after a warm-up; median (min), ms.\n")
    print(f"Total cost: exact {exact:.6f} USD; plain read {plain_total:.6f} "
          f"({(plain_total / exact - 1) * 100:+.2f} %); with final = 1 {final_total:.6f} "
          f"({(final_total / exact - 1) * 100:+.4f} %).\n")
    print("| query | plain | final = 1 | ratio |")
    print("|---|---:|---:|---:|")
    for label, t in results:
        (pm, pn), (fm, fn) = t["plain"], t["final"]
        print(f"| {label} | {pm:.1f} ({pn:.1f}) | {fm:.1f} ({fn:.1f}) | {fm / pm:.1f}× |")
    ok = abs(final_total - exact) <= 1e-6 * exact and (not modulo or plain_total > exact)
    if not ok:
        storage.log("ERROR: final = 1 did not read the exact total, or the redelivery left no duplicate")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Storage and queries, side by side in one run: tokenledger's schema vs the OpenTelemetry Collector contrib
ClickHouse exporter's `otel_logs` table.

The same N api_request events (default 2,000,000, shaped like tests/fixtures/claude-code-2.1.331) are generated
deterministically inside ClickHouse (INSERT ... SELECT FROM numbers(N)) and loaded into

* tokenledger: clickhouse/001_tables.sql + 002_views.sql, executed unchanged. Every event lands in the typed
  table `otel_api_request_events` (the one the cost queries and views read) and in `otel_events` (every record
  goes there too), with the columns the relay fills (src/reshape/logs.rs): typed values in columns, the
  attributes without a column of their own in the Maps.
* the exporter's `otel_logs`, from its public DDL (copied below), with every attribute as a string in
  LogAttributes / ResourceAttributes and Body 'claude_code.api_request', as the exporter writes it. Two
  renderings of that DDL are measured: the current template (after PR #47720, April 2026: five-minute
  bucket ORDER BY, text indexes on ClickHouse >= 26.2) and the earlier one (TimestampTime, bloom filters),
  which is what existing deployments created before that change still have.

After OPTIMIZE TABLE ... FINAL it reports bytes on disk per event (system.parts, active parts), and times a
per-workflow cost-by-stage query and a top-10-workflows-by-cost query on each schema (a warm-up run, then
--runs timed runs; median and min), after checking that both schemas return the same answer.

Run with the project venv (it has chdb, the ClickHouse engine in-process):

    .venv/bin/python benches/storage.py                 # 2,000,000 events, 7 timed runs per query
    .venv/bin/python benches/storage.py --fast          # smoke test: 100,000 events, 3 runs
    .venv/bin/python benches/storage.py --events 500000 --runs 5 --threads 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCHEMA_FILES = [REPO / "clickhouse" / "001_tables.sql", REPO / "clickhouse" / "002_views.sql"]

OURS_DB = "tokenledger"
BENCH_DB = "bench"  # the generator view

# ---------------------------------------------------------------------------------------------------------------
# The contrib exporter's logs table, copied verbatim from
# github.com/open-telemetry/opentelemetry-collector-contrib, exporter/clickhouseexporter/internal/sqltemplates/.
#
# CURRENT: logs_table.sql after PR #47720 ("Upgrade Logs Table (optimizations + full text search)", merged
# 2026-04) and PR #48036 (column COMMENTs, merged 2026-04-29); a Go text/template rendered by the exporter with
# HasFullTextSearch = (server version >= 26.2). This is what a new deployment gets today (v0.162.0).
# LEGACY: logs_table.sql at commit e3bd2d1d648f1868f50a8f2c1b68f7ce451ee6eb (fmt.Sprintf template; %q are the
# quoted database and table names). Default for new deployments until PR #47720 (v0.150.x and earlier), so it
# is what most existing tables look like; it is also the DDL the task text describes.
# The exporter's default config (ttl: 0, table_engine MergeTree(), no cluster) renders no TTL clause.
# ---------------------------------------------------------------------------------------------------------------
OTEL_LOGS_CURRENT_TEMPLATE = r"""CREATE TABLE IF NOT EXISTS {{ident .Database}}.{{ident .TableName}} {{.ClusterString}} (
    `Timestamp` DateTime64(9) COMMENT 'Event timestamp with nanosecond precision' CODEC(Delta(8), ZSTD(1)),
    `TraceId` String COMMENT 'W3C trace identifier' CODEC(ZSTD(1)),
    `SpanId` String COMMENT 'W3C span identifier' CODEC(ZSTD(1)),
    `TraceFlags` UInt8 COMMENT 'W3C trace flags',
    `SeverityText` LowCardinality(String) COMMENT 'Log severity as text' CODEC(ZSTD(1)),
    `SeverityNumber` UInt8 COMMENT 'Log severity as number (1-24)',
    `ServiceName` LowCardinality(String) COMMENT 'Service that emitted the log' CODEC(ZSTD(1)),
    `Body` String COMMENT 'Log message body' CODEC(ZSTD(1)),
    `ResourceSchemaUrl` LowCardinality(String) COMMENT 'Schema URL for the resource' CODEC(ZSTD(1)),
    `ResourceAttributes` Map(LowCardinality(String), String) COMMENT 'Resource attributes as key-value pairs' CODEC(ZSTD(1)),
    `ScopeSchemaUrl` LowCardinality(String) COMMENT 'Schema URL for the instrumentation scope' CODEC(ZSTD(1)),
    `ScopeName` String COMMENT 'Instrumentation scope name' CODEC(ZSTD(1)),
    `ScopeVersion` LowCardinality(String) COMMENT 'Instrumentation scope version' CODEC(ZSTD(1)),
    `ScopeAttributes` Map(LowCardinality(String), String) COMMENT 'Instrumentation scope attributes' CODEC(ZSTD(1)),
    `LogAttributes` Map(LowCardinality(String), String) COMMENT 'Log record attributes' CODEC(ZSTD(1)),
    `EventName` String COMMENT 'Event name for log records representing events' CODEC(ZSTD(1)),
    `__otel_materialized_k8s.cluster.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.cluster.name'] CODEC(ZSTD(1)),
    `__otel_materialized_k8s.container.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.container.name'] CODEC(ZSTD(1)),
    `__otel_materialized_k8s.deployment.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.deployment.name'] CODEC(ZSTD(1)),
    `__otel_materialized_k8s.namespace.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.namespace.name'] CODEC(ZSTD(1)),
    `__otel_materialized_k8s.node.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.node.name'] CODEC(ZSTD(1)),
    `__otel_materialized_k8s.pod.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.pod.name'] CODEC(ZSTD(1)),
    `__otel_materialized_k8s.pod.uid` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.pod.uid'] CODEC(ZSTD(1)),
    `__otel_materialized_deployment.environment.name` LowCardinality(String) MATERIALIZED ResourceAttributes['deployment.environment.name'] CODEC(ZSTD(1)),
{{- if .HasFullTextSearch}}
    INDEX idx_trace_id TraceId TYPE text(tokenizer = 'array'),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE text(tokenizer = 'array'),
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE text(tokenizer = 'array'),
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE text(tokenizer = 'array'),
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE text(tokenizer = 'array'),
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE text(tokenizer = 'array'),
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE text(tokenizer = 'array'),
    INDEX idx_lower_body lower(Body) TYPE text(tokenizer = 'splitByNonAlpha')
{{- else}}
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_lower_body lower(Body) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
{{- end}}
) ENGINE = {{.Engine}}
PARTITION BY toDate(Timestamp)
ORDER BY (toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp)
{{.TTL}}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""

OTEL_LOGS_LEGACY_TEMPLATE = r"""CREATE TABLE IF NOT EXISTS %q.%q %s (
    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),
    TimestampTime DateTime DEFAULT toDateTime(Timestamp),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    TraceFlags UInt8,
    SeverityText LowCardinality(String) CODEC(ZSTD(1)),
    SeverityNumber UInt8,
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    Body String CODEC(ZSTD(1)),
    ResourceSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeSchemaUrl LowCardinality(String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion LowCardinality(String) CODEC(ZSTD(1)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    LogAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    EventName String CODEC(ZSTD(1)),

    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = %s
PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, TimestampTime)
ORDER BY (ServiceName, TimestampTime, Timestamp)
%s
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""

OTEL_VARIANTS = {
    # key: (database, label)
    "current": ("otel", "otel_logs, current DDL"),
    "legacy": ("otel_legacy", "otel_logs, pre-#47720 DDL"),
}


def render_current(database: str, table: str, full_text: bool) -> str:
    """Renders the current Go template the way the exporter does with its default config."""
    text = re.sub(
        r"\s*\{\{- if \.HasFullTextSearch\}\}(.*?)\s*\{\{- else\}\}(.*?)\s*\{\{- end\}\}",
        lambda m: m.group(1) if full_text else m.group(2),
        OTEL_LOGS_CURRENT_TEMPLATE,
        flags=re.S,
    )
    for placeholder, value in {
        "{{ident .Database}}": f"`{database}`",
        "{{ident .TableName}}": f"`{table}`",
        "{{.ClusterString}}": "",
        "{{.Engine}}": "MergeTree()",
        "{{.TTL}}": "",
    }.items():
        text = text.replace(placeholder, value)
    assert "{{" not in text, text
    return text


def render_legacy(database: str, table: str) -> str:
    """Renders the fmt.Sprintf template: %q database, %q table, %s cluster, %s engine, %s TTL."""
    values = iter([f'"{database}"', f'"{table}"', "", "MergeTree()", ""])
    return re.sub(r"%[qs]", lambda _: next(values), OTEL_LOGS_LEGACY_TEMPLATE)


# ---------------------------------------------------------------------------------------------------------------
# The events. One row per api_request, every value a deterministic function of the event number, so each table
# receives exactly the same logical events. Shape (see tests/fixtures/claude-code-2.1.331/README.md and
# analyze-plain/logs-1.json): 100 requests per workflow, 70% of workflows on the full path (analyze 15, plan 15,
# implement 50, review 20 requests) and 30% on the fast path (implement 60, review 40); one session per
# (workflow, stage), a prompt every 5 requests; 40 users; opus for analyze/review, sonnet for plan/implement,
# 8% haiku side calls; token counts and latencies spread uniformly; cost computed from the model's price the way
# Claude Code does (double arithmetic, so cost_usd has the same digits it would send); a workflow runs ~2.5 h
# and workflows start uniformly over the window (30 days by default).
# ---------------------------------------------------------------------------------------------------------------
SOURCE_VIEW = """
CREATE VIEW {db}.src AS
WITH
    {start_ms} AS start_ms,
    {span_ms} AS span_ms,
    ['analyze', 'plan', 'implement', 'review'] AS stages,
    ['analyst', 'planner', 'implementer', 'reviewer'] AS agents,
    ['opus', 'sonnet', 'sonnet', 'opus'] AS expected
SELECT
    i,
    w,
    j,
    concat('wf-', lower(hex(toUInt32((w * 2654435761) % 4294967296)))) AS workflow_id,
    if(sipHash64(w, 'path') % 10 < 7, 'full', 'fast') AS workflow_path,
    ['simple', 'moderate', 'complex'][1 + sipHash64(w, 'complexity') % 3] AS complexity,
    toUInt8(if(workflow_path = 'full', multiIf(j < 15, 1, j < 30, 2, j < 80, 3, 4), if(j < 60, 3, 4))) AS stage_no,
    stages[stage_no] AS stage,
    agents[stage_no] AS agent,
    expected[stage_no] AS model_expected,
    concat(workflow_id, '.', toString(stage_no), '-', stage) AS task_id,
    sipHash64(w, 'user') % 40 AS user_no,
    lower(hex(SHA256(concat('user-', toString(user_no))))) AS user_id,
    ['xterm', 'xterm-256color', 'vscode', 'tmux'][1 + user_no % 4] AS terminal_type,
    if(user_no % 3 = 0, 'arm64', 'amd64') AS host_arch,
    if(user_no % 3 = 0, 'darwin', 'linux') AS os_type,
    ['24.6.0', '6.18.44-fc-v669', '6.8.0-48-generic'][1 + user_no % 3] AS os_version,
    UUIDNumToString(sipHash128('session', w, stage_no)) AS session_id,
    UUIDNumToString(sipHash128('prompt', w, intDiv(j, 5))) AS prompt_id,
    toUInt64(j * 4 + 5) AS event_sequence,
    sipHash64(i, 'model') % 100 AS model_roll,
    toUInt8(multiIf(model_roll < 8, 1, model_expected = 'opus', 3, 2)) AS tier,
    ['claude-haiku-4-5-20251001', 'claude-sonnet-4-5-20250929', 'claude-opus-4-5-20251101'][tier] AS model,
    if(sipHash64(i, 'query_source') % 100 < 4, 'compact', 'sdk') AS query_source,
    'normal' AS speed,
    ['low', 'medium', 'high'][tier] AS effort,
    toUInt64(20 + sipHash64(i, 'input') % 3000) AS input_tokens,
    toUInt64(10 + sipHash64(i, 'output') % 4000) AS output_tokens,
    toUInt64(sipHash64(i, 'cache_read') % 150000) AS cache_read_tokens,
    toUInt64(sipHash64(i, 'cache_creation') % 20000) AS cache_creation_tokens,
    cache_creation_tokens AS cache_creation_5m_tokens,
    toUInt64(0) AS cache_creation_1h_tokens,
    -- USD per million tokens: input, output, cache read, 5-minute cache write (haiku 4.5, sonnet 4.5, opus 4.5)
    input_tokens * [1.0, 3.0, 5.0][tier] / 1e6 + output_tokens * [5.0, 15.0, 25.0][tier] / 1e6
        + cache_read_tokens * [0.1, 0.3, 0.5][tier] / 1e6 + cache_creation_tokens * [1.25, 3.75, 6.25][tier] / 1e6
        AS cost_usd,
    toUInt64(round(cost_usd * 1e6)) AS cost_usd_micros,
    toUInt64(300 + sipHash64(i, 'duration') % 60000) AS duration_ms,
    toUInt64(100 + sipHash64(i, 'ttft') % least(duration_ms, 5000)) AS ttft_ms,
    start_ms + sipHash64(w, 'start') % (span_ms - 12 * 3600000) AS workflow_start_ms,
    workflow_start_ms + j * 90000 + sipHash64(i, 'jitter') % 60000 AS ts_ms,
    toDateTime64(fromUnixTimestamp64Milli(toInt64(ts_ms), 'UTC'), 9, 'UTC') AS timestamp,
    concat(formatDateTime(timestamp, '%Y-%m-%dT%H:%i:%S', 'UTC'), '.', leftPad(toString(ts_ms % 1000), 3, '0'), 'Z')
        AS event_timestamp,
    sipHash64('event', i) AS event_key
FROM (SELECT number AS i, intDiv(number, 100) AS w, number % 100 AS j FROM numbers({events}))
"""

# The resource: OTEL_RESOURCE_ATTRIBUTES' workflow keys, then what the SDK adds (fixture order).
RESOURCE_MAP = """map(
        'workflow_id', workflow_id, 'workflow_path', workflow_path, 'complexity', complexity, 'stage', stage,
        'task_id', task_id, 'agent', agent, 'model_expected', model_expected,
        'host.arch', host_arch, 'os.type', os_type, 'os.version', os_version,
        'service.name', 'claude-code', 'service.version', '2.1.331')"""

# Every attribute of the record, in fixture order: what the exporter puts in LogAttributes.
LOG_ATTRIBUTES_MAP = """map(
        'workflow_id', workflow_id, 'workflow_path', workflow_path, 'complexity', complexity, 'stage', stage,
        'task_id', task_id, 'agent', agent, 'model_expected', model_expected,
        'user.id', user_id, 'session.id', session_id, 'anthropic.provider', 'firstParty',
        'terminal.type', terminal_type, 'event.name', 'api_request', 'event.timestamp', event_timestamp,
        'event.sequence', toString(event_sequence), 'prompt.id', prompt_id,
        'model', model, 'input_tokens', toString(input_tokens), 'output_tokens', toString(output_tokens),
        'cache_read_tokens', toString(cache_read_tokens), 'cache_creation_tokens', toString(cache_creation_tokens),
        'cache_creation_5m_tokens', toString(cache_creation_5m_tokens),
        'cache_creation_1h_tokens', toString(cache_creation_1h_tokens),
        'cost_usd', toString(cost_usd), 'cost_usd_micros', toString(cost_usd_micros),
        'duration_ms', toString(duration_ms), 'ttft_ms', toString(ttft_ms), 'speed', speed,
        'query_source', query_source, 'effort', effort)"""

# What the relay writes (src/reshape/logs.rs): typed columns; the typed table's Map keeps only the attributes it
# has no column for (here anthropic.provider); otel_events keeps the attributes no column holds (the same ones:
# an api_request stored in the typed table leaves that table's columns out of otel_events) and the resource
# attributes no column holds (host and os; the workflow keys and service name/version are columns).
INSERT_OURS_TYPED = f"""
INSERT INTO {OURS_DB}.otel_api_request_events
    (timestamp, event_key, workflow_id, workflow_path, complexity, stage, task_id, agent, model_expected,
     session_id, prompt_id, event_sequence, query_source, model, input_tokens, output_tokens,
     cache_read_tokens, cache_creation_tokens, cache_creation_5m_tokens, cache_creation_1h_tokens,
     cost_usd, cost_usd_micros, duration_ms, ttft_ms, speed, effort, user_id, terminal_type, service_version,
     attributes)
SELECT timestamp, event_key, workflow_id, workflow_path, complexity, stage, task_id, agent, model_expected,
       session_id, prompt_id, event_sequence, query_source, model, input_tokens, output_tokens,
       cache_read_tokens, cache_creation_tokens, cache_creation_5m_tokens, cache_creation_1h_tokens,
       cost_usd, cost_usd_micros, duration_ms, ttft_ms, speed, effort, user_id, terminal_type, '2.1.331',
       map('anthropic.provider', 'firstParty')
FROM {BENCH_DB}.src
"""

INSERT_OURS_EVENTS = f"""
INSERT INTO {OURS_DB}.otel_events
    (timestamp, event_key, workflow_id, workflow_path, complexity, stage, task_id, agent, model_expected,
     session_id, prompt_id, event_sequence, event_name, severity_text, scope_name, service_name,
     service_version, attributes, resource_attributes)
SELECT timestamp, event_key, workflow_id, workflow_path, complexity, stage, task_id, agent, model_expected,
       session_id, prompt_id, event_sequence, 'claude_code.api_request', '', 'com.anthropic.claude_code.events',
       'claude-code', '2.1.331',
       map('anthropic.provider', 'firstParty'),
       map('host.arch', host_arch, 'os.type', os_type, 'os.version', os_version)
FROM {BENCH_DB}.src
"""

# What the exporter writes (logs_insert.sql): the record's fields, attributes as strings in Maps. Claude Code
# sends no trace context, severity or schema URLs, and no OTLP event_name (the name is in body / event.name).
INSERT_OTEL_LOGS = f"""
INSERT INTO {{db}}.otel_logs
    (Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, ServiceName, Body,
     ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, ScopeVersion, ScopeAttributes, LogAttributes)
SELECT timestamp, '', '', 0, '', 0, 'claude-code', 'claude_code.api_request',
       '', {RESOURCE_MAP}, '', 'com.anthropic.claude_code.events', '2.1.331', map(),
       {LOG_ATTRIBUTES_MAP}
FROM {BENCH_DB}.src
"""


def schema_statements() -> list[str]:
    """The repo's schema files split the way `tokenledger schema apply` does: `--` lines are comments and a
    statement ends with a line ending in `;`."""
    statements = []
    for path in SCHEMA_FILES:
        current: list[str] = []
        for line in path.read_text().splitlines():
            if line.strip().startswith("--"):
                continue
            current.append(line)
            if line.rstrip().endswith(";"):
                statement = "\n".join(current).strip().rstrip(";").strip()
                if statement:
                    statements.append(statement)
                current = []
        assert not "\n".join(current).strip(), f"unterminated statement in {path}"
    return statements


# ---------------------------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, data_dir: str):
        from chdb import session  # imported here so --help works without chdb

        self.args = args
        self.s = session.Session(data_dir)
        # Same settings for every measured query on both schemas. The query cache and the query condition cache
        # are off: either would let a repeated query skip work and measure the cache rather than the schema.
        self.settings = (
            f"max_threads = {args.threads}, use_query_cache = 0, use_query_condition_cache = 0"
        )

    def q(self, sql: str, fmt: str = "TabSeparated"):
        return self.s.query(sql, fmt)

    def rows(self, sql: str) -> list[list[str]]:
        out = str(self.q(sql, "TabSeparated"))
        return [line.split("\t") for line in out.splitlines() if line]

    def scalar(self, sql: str) -> str:
        return self.rows(sql)[0][0]

    def timed(self, label: str, sql: str) -> float:
        t0 = time.perf_counter()
        self.q(sql)
        elapsed = time.perf_counter() - t0
        log(f"  {label}: {elapsed:.1f} s")
        return elapsed

    def samples(self, sql: str, runs: int) -> list[float]:
        """Milliseconds of `runs` runs of `sql`, after one warm-up run."""
        self.q(sql)
        out = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self.q(sql)
            out.append((time.perf_counter() - t0) * 1000)
        return out

    def load_api_requests(self, start_ms: int, span_ms: int, window_note: str) -> str:
        """Fresh BENCH_DB and OURS_DB with the relay's schema, the generator view over `args.events` events in the
        window, and otel_api_request_events loaded from it (left as the current database). Returns the load
        SETTINGS clause, for the benches that load more tables the same way."""
        for db in (BENCH_DB, OURS_DB):
            self.q(f"DROP DATABASE IF EXISTS {db}")
            self.q(f"CREATE DATABASE {db}")
        self.q(f"USE {OURS_DB}")
        for statement in schema_statements():
            self.q(statement)
        self.q(SOURCE_VIEW.format(db=BENCH_DB, start_ms=start_ms, span_ms=span_ms, events=self.args.events))
        threads = self.args.threads
        load = f" SETTINGS max_threads = {threads}, max_insert_threads = {threads}"
        log(f"ClickHouse {self.scalar('SELECT version()')} (chdb); {self.args.events:,} events {window_note}")
        self.timed("load otel_api_request_events", INSERT_OURS_TYPED + load)
        return load


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--events", type=int, default=None, help="events to load (default 2,000,000; 100,000 with --fast)")
    p.add_argument("--runs", type=int, default=None, help="timed runs per query after one warm-up (default 7; 3 with --fast)")
    p.add_argument("--threads", type=int, default=2, help="max_threads for every query, both schemas (default 2)")
    p.add_argument("--fast", action="store_true", help="smoke test: 100,000 events, 3 runs")
    p.add_argument(
        "--otel-ddl", choices=["current", "legacy", "both"], default="both",
        help="which rendering of the exporter's DDL to load (default both)",
    )
    p.add_argument("--days", type=int, default=30, help="days the events are spread over (default 30)")
    p.add_argument(
        "--start", default="2026-10-26",
        help="first day of the window, UTC (default 2026-10-26; moved to today-DAYS when otel_events' 180-day TTL "
        "would expire it)",
    )
    p.add_argument("--dir", default=None, help="where chdb keeps its data (default: a new directory in $TMPDIR, removed at exit)")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    args = p.parse_args()
    if args.events is None:
        args.events = 100_000 if args.fast else 2_000_000
    if args.runs is None:
        args.runs = 3 if args.fast else 7
    if args.events < 100:
        p.error("--events must be at least 100 (one workflow)")
    return args


def sized_args(
    p: argparse.ArgumentParser, events: tuple[int, int], runs: tuple[int, int], days_help: str
) -> argparse.Namespace:
    """Adds the options the load-and-query benchmarks share (--events, --runs, --threads, --days, --fast), parses,
    and fills --events and --runs from (full, --fast) defaults."""
    p.add_argument("--events", type=int, default=None, help=f"events (default {events[0]:,}; {events[1]:,} with --fast)")
    p.add_argument("--runs", type=int, default=None, help=f"timed runs (default {runs[0]}; {runs[1]} with --fast)")
    p.add_argument("--threads", type=int, default=2, help="max_threads for every query (default 2: this machine's cores)")
    p.add_argument("--days", type=int, default=30, help=days_help)
    p.add_argument("--fast", action="store_true")
    args = p.parse_args()
    args.events = args.events or events[1 if args.fast else 0]
    args.runs = args.runs or runs[1 if args.fast else 0]
    return args


def in_temp_dir(prefix: str, run, args: argparse.Namespace) -> int:
    """`run(args, data_dir)` with chdb's data in a new temporary directory, removed afterwards."""
    data_dir = tempfile.mkdtemp(prefix=prefix)
    try:
        return run(args, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def window(args: argparse.Namespace) -> tuple[int, int, str]:
    start = dt.datetime.strptime(args.start, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
    today = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    note = ""
    # otel_events has `TTL timestamp + 180 DAY`: events older than that would be deleted by OPTIMIZE.
    if start + dt.timedelta(days=args.days) < today - dt.timedelta(days=150) or start > today + dt.timedelta(days=365):
        start = today - dt.timedelta(days=args.days)
        note = f" (moved from --start {args.start} so otel_events' 180-day TTL keeps every row)"
    return int(start.timestamp() * 1000), args.days * 86_400_000, start.strftime("%Y-%m-%d") + note


def median_min(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), min(samples)


def main() -> int:
    args = parse_args()
    t_start = time.perf_counter()
    data_dir = args.dir or tempfile.mkdtemp(prefix="tokenledger-storage-")
    os.makedirs(data_dir, exist_ok=True)
    try:
        return run(args, data_dir, t_start)
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(args: argparse.Namespace, data_dir: str, t_start: float) -> int:
    b = Bench(args, data_dir)
    version = b.scalar("SELECT version()")
    major, minor = (int(x) for x in version.split(".")[:2])
    full_text = (major, minor) >= (26, 2)  # the exporter's own rule for the text indexes
    variants = ["current", "legacy"] if args.otel_ddl == "both" else [args.otel_ddl]
    start_ms, span_ms, start_note = window(args)
    workflows = args.events // 100
    log(f"ClickHouse {version} (chdb), data in {data_dir}")
    log(f"{args.events:,} events, {workflows:,} workflows, window {args.days} days from {start_note}")

    # --- schemas -------------------------------------------------------------------------------------------
    for db in [BENCH_DB, OURS_DB] + [OTEL_VARIANTS[v][0] for v in variants]:
        b.q(f"DROP DATABASE IF EXISTS {db}")
        b.q(f"CREATE DATABASE {db}")
    b.q(f"USE {OURS_DB}")
    for statement in schema_statements():
        b.q(statement)
    b.q("USE default")
    if "current" in variants:
        b.q(render_current(OTEL_VARIANTS["current"][0], "otel_logs", full_text))
    if "legacy" in variants:
        b.q(render_legacy(OTEL_VARIANTS["legacy"][0], "otel_logs"))
    b.q(SOURCE_VIEW.format(db=BENCH_DB, start_ms=start_ms, span_ms=span_ms, events=args.events))

    # --- load: the same generated events into every table ----------------------------------------------------
    load_settings = f" SETTINGS max_threads = {args.threads}, max_insert_threads = {args.threads}"
    log("loading")
    load_s = {}
    load_s["otel_api_request_events"] = b.timed("otel_api_request_events", INSERT_OURS_TYPED + load_settings)
    load_s["otel_events"] = b.timed("otel_events", INSERT_OURS_EVENTS + load_settings)
    for v in variants:
        db = OTEL_VARIANTS[v][0]
        load_s[f"{db}.otel_logs"] = b.timed(f"{db}.otel_logs", INSERT_OTEL_LOGS.format(db=db) + load_settings)
    log("OPTIMIZE TABLE ... FINAL")
    tables = [(OURS_DB, "otel_api_request_events"), (OURS_DB, "otel_events")] + [
        (OTEL_VARIANTS[v][0], "otel_logs") for v in variants
    ]
    for db, table in tables:
        b.timed(f"{db}.{table}", f"OPTIMIZE TABLE {db}.{table} FINAL")

    # --- bytes on disk ---------------------------------------------------------------------------------------
    storage = {}
    for db, table in tables:
        rows, parts, on_disk, compressed, uncompressed, marks, pk = (
            int(x) for x in b.rows(
                f"SELECT sum(rows), count(), sum(bytes_on_disk), sum(data_compressed_bytes), "
                f"sum(data_uncompressed_bytes), sum(marks_bytes), sum(primary_key_size) "
                f"FROM system.parts WHERE database = '{db}' AND table = '{table}' AND active"
            )[0]
        )
        idx = b.rows(
            f"SELECT name, type, data_compressed_bytes + marks_bytes FROM system.data_skipping_indices "
            f"WHERE database = '{db}' AND table = '{table}' ORDER BY 3 DESC"
        )
        cols = b.rows(
            f"SELECT name, data_compressed_bytes, data_uncompressed_bytes FROM system.columns "
            f"WHERE database = '{db}' AND table = '{table}' ORDER BY data_compressed_bytes DESC LIMIT 6"
        )
        if rows != args.events:
            log(f"ERROR: {db}.{table} has {rows} rows after OPTIMIZE, expected {args.events}")
            return 1
        storage[(db, table)] = dict(
            rows=rows, parts=parts, on_disk=on_disk, compressed=compressed, uncompressed=uncompressed,
            marks=marks, pk=pk, indexes=[(n, t, int(s)) for n, t, s in idx],
            columns=[(n, int(c), int(u)) for n, c, u in cols],
        )

    # --- queries ----------------------------------------------------------------------------------------------
    wf = b.scalar(f"SELECT workflow_id FROM {BENCH_DB}.src WHERE i = {(workflows // 2) * 100}")
    s = b.settings
    per_workflow = {
        "ours_final": f"SELECT stage, sum(cost_usd) AS cost FROM {OURS_DB}.otel_api_request_events FINAL "
        f"WHERE workflow_id = '{wf}' GROUP BY stage ORDER BY stage SETTINGS {s}",
        "ours_plain": f"SELECT stage, sum(cost_usd) AS cost FROM {OURS_DB}.otel_api_request_events "
        f"WHERE workflow_id = '{wf}' GROUP BY stage ORDER BY stage SETTINGS {s}",
    }
    top10 = {
        "ours_view": f"SELECT workflow_id, total_cost_usd FROM {OURS_DB}.workflow_summary "
        f"ORDER BY total_cost_usd DESC LIMIT 10 SETTINGS {s}",
        "ours_final": f"SELECT workflow_id, sum(cost_usd) AS total_cost_usd FROM {OURS_DB}.otel_api_request_events "
        f"FINAL GROUP BY workflow_id ORDER BY total_cost_usd DESC LIMIT 10 SETTINGS {s}",
        "ours_plain": f"SELECT workflow_id, sum(cost_usd) AS total_cost_usd FROM {OURS_DB}.otel_api_request_events "
        f"GROUP BY workflow_id ORDER BY total_cost_usd DESC LIMIT 10 SETTINGS {s}",
    }
    for v in variants:
        db = OTEL_VARIANTS[v][0]
        per_workflow[v] = (
            f"SELECT LogAttributes['stage'] AS stage, sum(toFloat64OrZero(LogAttributes['cost_usd'])) AS cost "
            f"FROM {db}.otel_logs WHERE LogAttributes['workflow_id'] = '{wf}' GROUP BY stage ORDER BY stage "
            f"SETTINGS {s}"
        )
        # The same query with the data-skipping indexes switched off, to see what they contribute.
        per_workflow[v + "_noidx"] = per_workflow[v].replace(f"SETTINGS {s}", f"SETTINGS {s}, use_skip_indexes = 0")
        top10[v] = (
            f"SELECT LogAttributes['workflow_id'] AS workflow_id, "
            f"sum(toFloat64OrZero(LogAttributes['cost_usd'])) AS total_cost_usd FROM {db}.otel_logs "
            f"GROUP BY workflow_id ORDER BY total_cost_usd DESC LIMIT 10 SETTINGS {s}"
        )

    # Same answers from both schemas, compared numerically (sums of the same doubles in another order).
    def answer(sql: str) -> list[tuple[str, float]]:
        return [(k, float(c)) for k, c in b.rows(sql)]

    def same(a, b_, what):
        ok = len(a) == len(b_) and all(
            ka == kb and math.isclose(ca, cb, rel_tol=1e-9, abs_tol=1e-12) for (ka, ca), (kb, cb) in zip(a, b_)
        )
        if not ok:
            log(f"ERROR: {what} answers differ:\n  {a}\n  {b_}")
        return ok

    reference_q1 = answer(per_workflow["ours_final"])
    reference_q2 = answer(top10["ours_view"])
    all_same = bool(reference_q1) and len(reference_q2) == 10
    for name, sql in per_workflow.items():
        all_same &= same(reference_q1, answer(sql), f"per-workflow ({name})")
    for name, sql in top10.items():
        all_same &= same(reference_q2, answer(sql), f"top-10 ({name})")
    if not all_same:
        return 1
    log(f"answers match: per-workflow ({wf}: {len(reference_q1)} stages), top-10 (first {reference_q2[0][0]})")

    # Which granules the exporter's skipping indexes leave for the per-workflow query.
    index_notes = {"ours_final": explain_summary(str(b.q(
        "EXPLAIN indexes = 1 " + per_workflow["ours_final"].split(" SETTINGS ")[0], "TabSeparatedRaw")))}
    for v in variants:
        plan = str(b.q("EXPLAIN indexes = 1 " + per_workflow[v].split(" SETTINGS ")[0], "TabSeparatedRaw"))
        index_notes[v] = explain_summary(plan)

    timings: dict[tuple[str, str], dict] = {}

    def measure(kind: str, name: str, sql: str) -> None:
        b.q(sql)  # warm-up
        samples, read_rows, read_bytes = [], 0, 0
        for _ in range(args.runs):
            t0 = time.perf_counter()
            res = b.q(sql)
            samples.append((time.perf_counter() - t0) * 1000)
            read_rows, read_bytes = res.storage_rows_read(), res.storage_bytes_read()
        med, low = median_min(samples)
        timings[(kind, name)] = dict(median=med, min=low, rows=read_rows, bytes=read_bytes)
        log(f"  {kind:12} {name:18} median {med:9.2f} ms  min {low:9.2f} ms  read {read_rows:,} rows")

    log(f"timing: 1 warm-up + {args.runs} runs each, SETTINGS {s}")
    measure("floor", "SELECT 1", f"SELECT 1 SETTINGS {s}")  # chdb's own per-query cost, for scale
    for name, sql in per_workflow.items():
        measure("per-workflow", name, sql)
    for name, sql in top10.items():
        measure("top-10", name, sql)

    total_s = time.perf_counter() - t_start
    print_report(args, version, full_text, variants, start_note, wf, storage, timings, index_notes, load_s,
                 per_workflow, top10, total_s)
    return 0


def explain_summary(plan: str) -> str:
    """'PrimaryKey 245/245 → idx_log_attr_value 3/245' from the Indexes section of EXPLAIN indexes = 1."""
    steps, name, in_indexes = [], None, False
    for line in plan.splitlines():
        t = line.strip()
        if t == "Indexes:":
            in_indexes = True
        elif not in_indexes:
            continue
        elif t in ("Min-Max", "Partition", "PrimaryKey", "Skip"):
            name = t
        elif t.startswith("Name:"):
            name = t.split(":", 1)[1].strip()
        elif t.startswith("Granules:") and name:
            if name not in ("Min-Max", "Partition"):
                steps.append(f"{name} {t.split(':', 1)[1].strip()}")
            name = None
    return " → ".join(steps) if steps else "(no index steps)"


def fmt_bytes(n: float) -> str:
    for unit in ["B", "KiB", "MiB", "GiB"]:
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1024
    return str(n)


def print_report(args, version, full_text, variants, start_note, wf, storage, timings, index_notes, load_s,
                 per_workflow, top10, total_s) -> None:
    n = args.events
    ours = storage[(OURS_DB, "otel_api_request_events")]
    events = storage[(OURS_DB, "otel_events")]
    theirs = {v: storage[(OTEL_VARIANTS[v][0], "otel_logs")] for v in variants}
    cmd = f".venv/bin/python benches/storage.py --events {n} --runs {args.runs} --threads {args.threads}"
    if args.otel_ddl != "both":
        cmd += f" --otel-ddl {args.otel_ddl}"
    if args.days != 30:
        cmd += f" --days {args.days}"
    if args.start != "2026-10-26":
        cmd += f" --start {args.start}"

    def per_event(st):
        return st["on_disk"] / n

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    out = []
    out.append(f"## Storage and queries: tokenledger vs the contrib exporter's otel_logs ({n:,} api_request events)")
    out.append("")
    out.append(
        f"ClickHouse {version} in-process (chdb), {os.cpu_count()} cores ({platform.machine()}), shared with other "
        f"work: timings are noisy. Events spread over {args.days} days from {start_note}; {n // 100:,} workflows of "
        f"100 requests. After OPTIMIZE TABLE ... FINAL. Queries: 1 warm-up + {args.runs} runs, "
        f"SETTINGS max_threads = {args.threads}, use_query_cache = 0, use_query_condition_cache = 0 on every query. "
        f"Exporter DDL: " + "; ".join(
            f"`{OTEL_VARIANTS[v][0]}.otel_logs` = {'current template (text indexes, since ClickHouse >= 26.2)' if (v == 'current' and full_text) else 'current template (bloom filters)' if v == 'current' else 'pre-#47720 template (TimestampTime, bloom filters)'}"
            for v in variants
        ) + "."
    )
    out.append("")

    # Storage table
    out.append("### Bytes on disk per event (system.parts, active parts)")
    out.append("")
    out.append("| table | rows | parts | on disk | bytes/event | compressed data | uncompressed data | skip-index bytes |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = [("tokenledger `otel_api_request_events` (compared)", ours), ("tokenledger `otel_events` (also written)", events)]
    rows += [(f"exporter `{OTEL_VARIANTS[v][0]}.otel_logs`", theirs[v]) for v in variants]
    for label, st in rows:
        idx_bytes = sum(s for _, _, s in st["indexes"])
        out.append(
            f"| {label} | {st['rows']:,} | {st['parts']} | {fmt_bytes(st['on_disk'])} | {per_event(st):.1f} | "
            f"{fmt_bytes(st['compressed'])} | {fmt_bytes(st['uncompressed'])} | {fmt_bytes(idx_bytes)} |"
        )
    out.append(
        f"| tokenledger both tables (what the relay writes per api_request) | | | "
        f"{fmt_bytes(ours['on_disk'] + events['on_disk'])} | {per_event(ours) + per_event(events):.1f} | | | |"
    )
    out.append("")

    # Results table
    out.append("### Results against the targets")
    out.append("")
    out.append("| measure | tokenledger | " + " | ".join(OTEL_VARIANTS[v][1] for v in variants) + " | target | result |")
    out.append("|---|---:|" + "---:|" * len(variants) + "---|---|")

    def ratio_cells(ours_value, theirs_values, fmt):
        return " | ".join(fmt(t, ours_value) for t in theirs_values)

    # bytes
    bpe = per_event(ours)
    their_bpe = [per_event(theirs[v]) for v in variants]
    out.append(
        "| bytes/event, `otel_api_request_events` | " + f"{bpe:.1f} | "
        + " | ".join(f"{t:.1f} (ours = {bpe / t:.3f}×, 1/{t / bpe:.1f})" for t in their_bpe)
        + " | ≤ 1/3 | " + ", ".join(f"{v}: {verdict(bpe <= t / 3)}" for v, t in zip(variants, their_bpe)) + " |"
    )
    both = per_event(ours) + per_event(events)
    out.append(
        "| bytes/event, typed + `otel_events` (both written) | " + f"{both:.1f} | "
        + " | ".join(f"{t:.1f} (ours = {both / t:.3f}×, 1/{t / both:.1f})" for t in their_bpe)
        + " | (≤ 1/3) | " + ", ".join(f"{v}: {verdict(both <= t / 3)}" for v, t in zip(variants, their_bpe)) + " |"
    )

    def time_row(label, kind, ours_name, target, target_label, show_target=True):
        o = timings[(kind, ours_name)]
        cells = []
        verdicts = []
        for v in variants:
            t = timings[(kind, v)]
            speedup = t["median"] / o["median"]
            cells.append(f"{t['median']:.1f} / {t['min']:.1f} ms ({speedup:.1f}× ours)")
            verdicts.append(f"{v}: {verdict(speedup >= target)}")
        out.append(
            f"| {label} | {o['median']:.1f} / {o['min']:.1f} ms | " + " | ".join(cells)
            + f" | {target_label if show_target else '(' + target_label + ')'} | " + ", ".join(verdicts) + " |"
        )

    time_row("per-workflow cost by stage, median / min (ours FINAL)", "per-workflow", "ours_final", 10, "≥ 10×")
    time_row("per-workflow, ours without FINAL", "per-workflow", "ours_plain", 10, "≥ 10×", show_target=False)
    time_row("top-10 workflows by cost, median / min (ours: `workflow_summary` view)", "top-10", "ours_view", 30, "≥ 30×")
    time_row("top-10, ours on the table with FINAL", "top-10", "ours_final", 30, "≥ 30×", show_target=False)
    time_row("top-10, ours on the table without FINAL", "top-10", "ours_plain", 30, "≥ 30×", show_target=False)
    out.append("")
    floor = timings[("floor", "SELECT 1")]
    out.append(
        "Speed-ups are the exporter's median over ours. The rows without a bare target are for information. "
        f"For scale, `SELECT 1` takes {floor['median']:.1f} / {floor['min']:.1f} ms (median / min) in this process."
    )
    out.append("")

    # Detail: rows read, indexes
    out.append("### Rows read and what the exporter's skipping indexes do")
    out.append("")
    out.append("| query | median / min ms | rows read | bytes read (ClickHouse's read_bytes) |")
    out.append("|---|---:|---:|---:|")
    names = {"ours_final": "tokenledger, FINAL", "ours_plain": "tokenledger, no FINAL",
             "ours_view": "tokenledger, workflow_summary view"}
    for v in variants:
        names[v] = OTEL_VARIANTS[v][1]
        names[v + "_noidx"] = OTEL_VARIANTS[v][1] + ", use_skip_indexes = 0"
    for kind, queries in [("per-workflow", per_workflow), ("top-10", top10)]:
        for name in queries:
            t = timings[(kind, name)]
            out.append(f"| {kind}: {names[name]} | {t['median']:.1f} / {t['min']:.1f} | {t['rows']:,} | {fmt_bytes(t['bytes'])} |")
    out.append("")
    out.append(f"- tokenledger, per-workflow `workflow_id = '{wf}'` (FINAL): granules {index_notes['ours_final']}.")
    for v in variants:
        with_idx, without = timings[("per-workflow", v)], timings[("per-workflow", v + "_noidx")]
        out.append(
            f"- {OTEL_VARIANTS[v][1]}, per-workflow `LogAttributes['workflow_id'] = '{wf}'`: granules "
            f"{index_notes[v]}; median {with_idx['median']:.1f} ms with the indexes vs {without['median']:.1f} ms "
            f"without ({without['median'] / with_idx['median']:.1f}×)."
        )
    out.append("")

    # Where the bytes go
    out.append("### Largest columns (compressed) and skipping indexes")
    out.append("")
    out.append("(system.columns, which counts wide parts only: small runs have compact parts that it leaves out.)")
    out.append("")
    for label, st in rows:
        cols = ", ".join(f"{c} {fmt_bytes(comp)}" for c, comp, _ in st["columns"])
        out.append(f"- {label}: {cols}")
        if st["indexes"]:
            out.append("  - indexes: " + ", ".join(f"{nm} ({tp}) {fmt_bytes(sz)}" for nm, tp, sz in st["indexes"]))
    out.append("")
    out.append(
        "Load (INSERT ... SELECT from the generator, single run, not a target): "
        + ", ".join(f"{t} {sec:.1f} s" for t, sec in load_s.items()) + "."
    )
    out.append("")
    out.append(f"Total runtime {total_s:.0f} s. Reproduce (from the repo root):")
    out.append("")
    out.append("```")
    out.append(cmd)
    out.append("```")
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())

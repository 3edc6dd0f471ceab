-- tokenledger tables. `tokenledger schema apply` runs this file, then 002_views.sql, in the configured database.
-- Every statement is idempotent (IF NOT EXISTS / OR REPLACE), so applying twice is harmless.
-- Statements are separated by a line that ends with `;`.
--
-- Choices shared by every event table (README.md in this folder says more):
-- * ReplacingMergeTree keyed on a content hash (`event_key`): the same OTLP record delivered twice (a collector
--   retry) collapses into one row; the views read with FINAL so their sums never count it twice.
-- * ORDER BY (workflow_id, timestamp, event_key): a query for one workflow reads only that workflow's granules, and
--   within it a time range is a contiguous slice. Every ORDER BY column is read from the record itself, never from
--   relay config, so a redelivered record always lands on the same key.
-- * PARTITION BY month: a time-range query skips whole partitions; months are few enough to keep parts large.
-- * LowCardinality for the few-valued strings (stage, agent, model, ...); Delta+ZSTD for timestamps; T64+ZSTD
--   for counters (token counts are small numbers in wide columns: T64 drops the unused high bits); ZSTD for
--   floats, free-form maps and ids. event_key is a hash: no codec shrinks it, so it has none.
-- * Timestamps are DateTime64(9, 'UTC'): OTLP's nanoseconds, kept exactly, so the dedup hash and the row agree.

CREATE TABLE IF NOT EXISTS otel_api_request_events
(
    timestamp                DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    event_key                UInt64,
    workflow_id              LowCardinality(String),
    workflow_path            LowCardinality(String),
    complexity               LowCardinality(String),
    stage                    LowCardinality(String),
    task_id                  LowCardinality(String),
    agent                    LowCardinality(String),
    model_expected           LowCardinality(String),
    session_id               String CODEC(ZSTD(1)),
    prompt_id                String CODEC(ZSTD(1)),
    event_sequence           UInt64 CODEC(T64, ZSTD(1)),
    agent_id                 String CODEC(ZSTD(1)),
    agent_name               LowCardinality(String),
    query_source             LowCardinality(String),
    request_id               String CODEC(ZSTD(1)),
    model                    LowCardinality(String),
    input_tokens             UInt64 CODEC(T64, ZSTD(1)),
    output_tokens            UInt64 CODEC(T64, ZSTD(1)),
    cache_read_tokens        UInt64 CODEC(T64, ZSTD(1)),
    cache_creation_tokens    UInt64 CODEC(T64, ZSTD(1)),
    cache_creation_5m_tokens UInt64 CODEC(T64, ZSTD(1)),
    cache_creation_1h_tokens UInt64 CODEC(T64, ZSTD(1)),
    cost_usd                 Float64 CODEC(ZSTD(1)),
    cost_usd_micros          UInt64 CODEC(T64, ZSTD(1)),
    duration_ms              UInt64 CODEC(T64, ZSTD(1)),
    ttft_ms                  UInt64 CODEC(T64, ZSTD(1)),
    speed                    LowCardinality(String),
    effort                   LowCardinality(String),
    user_id                  LowCardinality(String),
    organization_id          LowCardinality(String),
    account_uuid             LowCardinality(String),
    user_email               LowCardinality(String),
    terminal_type            LowCardinality(String),
    service_version          LowCardinality(String),
    attributes               Map(LowCardinality(String), String) CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (workflow_id, timestamp, event_key);

CREATE TABLE IF NOT EXISTS otel_tool_result_events
(
    timestamp              DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    event_key              UInt64,
    workflow_id            LowCardinality(String),
    workflow_path          LowCardinality(String),
    complexity             LowCardinality(String),
    stage                  LowCardinality(String),
    task_id                LowCardinality(String),
    agent                  LowCardinality(String),
    model_expected         LowCardinality(String),
    session_id             String CODEC(ZSTD(1)),
    prompt_id              String CODEC(ZSTD(1)),
    event_sequence         UInt64 CODEC(T64, ZSTD(1)),
    agent_id               String CODEC(ZSTD(1)),
    tool_name              LowCardinality(String),
    tool_use_id            String CODEC(ZSTD(1)),
    success                Bool,
    decision               LowCardinality(String),
    decision_source        LowCardinality(String),
    duration_ms            UInt64 CODEC(T64, ZSTD(1)),
    tool_input_size_bytes  UInt64 CODEC(T64, ZSTD(1)),
    tool_result_size_bytes UInt64 CODEC(T64, ZSTD(1)),
    error                  String CODEC(ZSTD(1)),
    tool_parameters        String CODEC(ZSTD(3)),
    tool_input             String CODEC(ZSTD(3)),
    user_id                LowCardinality(String),
    terminal_type          LowCardinality(String),
    service_version        LowCardinality(String),
    attributes             Map(LowCardinality(String), String) CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (workflow_id, timestamp, event_key);

CREATE TABLE IF NOT EXISTS otel_api_error_events
(
    timestamp       DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    event_key       UInt64,
    workflow_id     LowCardinality(String),
    workflow_path   LowCardinality(String),
    complexity      LowCardinality(String),
    stage           LowCardinality(String),
    task_id         LowCardinality(String),
    agent           LowCardinality(String),
    model_expected  LowCardinality(String),
    session_id      String CODEC(ZSTD(1)),
    prompt_id       String CODEC(ZSTD(1)),
    event_sequence  UInt64 CODEC(T64, ZSTD(1)),
    agent_id        String CODEC(ZSTD(1)),
    query_source    LowCardinality(String),
    request_id      String CODEC(ZSTD(1)),
    model           LowCardinality(String),
    error           String CODEC(ZSTD(3)),
    status_code     LowCardinality(String),
    attempt         UInt32 CODEC(T64, ZSTD(1)),
    duration_ms     UInt64 CODEC(T64, ZSTD(1)),
    user_id         LowCardinality(String),
    terminal_type   LowCardinality(String),
    service_version LowCardinality(String),
    attributes      Map(LowCardinality(String), String) CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (workflow_id, timestamp, event_key);

-- One row per finished subagent run (claude_code.subagent_completed): which agent, how many tokens and tool uses.
CREATE TABLE IF NOT EXISTS otel_subagent_events
(
    timestamp       DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    event_key       UInt64,
    workflow_id     LowCardinality(String),
    workflow_path   LowCardinality(String),
    complexity      LowCardinality(String),
    stage           LowCardinality(String),
    task_id         LowCardinality(String),
    agent           LowCardinality(String),
    model_expected  LowCardinality(String),
    session_id      String CODEC(ZSTD(1)),
    prompt_id       String CODEC(ZSTD(1)),
    event_sequence  UInt64 CODEC(T64, ZSTD(1)),
    agent_id        String CODEC(ZSTD(1)),
    agent_type      LowCardinality(String),
    agent_source    LowCardinality(String),
    is_built_in     Bool,
    is_async        Bool,
    total_tokens    UInt64 CODEC(T64, ZSTD(1)),
    total_tool_uses UInt64 CODEC(T64, ZSTD(1)),
    duration_ms     UInt64 CODEC(T64, ZSTD(1)),
    model           LowCardinality(String),
    final_model     LowCardinality(String),
    model_swapped   Bool,
    user_id         LowCardinality(String),
    service_version LowCardinality(String),
    attributes      Map(LowCardinality(String), String) CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (workflow_id, timestamp, event_key);

-- Every log record, whatever its name (known, unknown, or not from Claude Code at all), with the attributes that
-- no column holds in `attributes`. An event also stored in a typed table above leaves that table's columns out of
-- the Map (same event_key there: join on it), so its values are stored once; an event its typed table refused
-- (an unreadable value) keeps every attribute here, raw.
-- Generic events are diagnostics rather than money records, so they expire after 180 days; the typed tables keep
-- everything (drop old partitions by hand if you must).
CREATE TABLE IF NOT EXISTS otel_events
(
    timestamp           DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    event_key           UInt64,
    workflow_id         LowCardinality(String),
    workflow_path       LowCardinality(String),
    complexity          LowCardinality(String),
    stage               LowCardinality(String),
    task_id             LowCardinality(String),
    agent               LowCardinality(String),
    model_expected      LowCardinality(String),
    session_id          String CODEC(ZSTD(1)),
    prompt_id           String CODEC(ZSTD(1)),
    event_sequence      UInt64 CODEC(T64, ZSTD(1)),
    agent_id            String CODEC(ZSTD(1)),
    event_name          LowCardinality(String),
    severity_text       LowCardinality(String),
    scope_name          LowCardinality(String),
    service_name        LowCardinality(String),
    service_version     LowCardinality(String),
    attributes          Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    resource_attributes Map(LowCardinality(String), String) CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (workflow_id, event_name, timestamp, event_key)
TTL toDateTime(timestamp) + INTERVAL 180 DAY;

-- One row per number data point (Sum or Gauge) of every metric received; Claude Code's are claude_code.*.
-- `type` is the data point's `type` attribute (token.usage: input | output | cacheRead | cacheCreation).
-- Claude Code sends DELTA temporality by default: sum(value) over a range is the total for that range.
-- Do not add these to the api_request events' figures: they count the same requests a second time.
CREATE TABLE IF NOT EXISTS otel_metrics
(
    timestamp       DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    start_timestamp DateTime64(9, 'UTC') CODEC(Delta, ZSTD(1)),
    event_key       UInt64,
    metric_name     LowCardinality(String),
    unit            LowCardinality(String),
    temporality     LowCardinality(String),
    is_monotonic    Bool,
    type            LowCardinality(String),
    model           LowCardinality(String),
    value           Float64 CODEC(ZSTD(1)),
    workflow_id     LowCardinality(String),
    workflow_path   LowCardinality(String),
    complexity      LowCardinality(String),
    stage           LowCardinality(String),
    task_id         LowCardinality(String),
    agent           LowCardinality(String),
    model_expected  LowCardinality(String),
    session_id      String CODEC(ZSTD(1)),
    user_id         LowCardinality(String),
    terminal_type   LowCardinality(String),
    service_version LowCardinality(String),
    attributes      Map(LowCardinality(String), String) CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (metric_name, workflow_id, timestamp, event_key);

-- Beads issues (the workflow's task tree), so cost can be joined to tasks on task_id = id.
-- Filled by an importer; a newer updated_at replaces the older row of the same id.
CREATE TABLE IF NOT EXISTS beads_issues
(
    id          String,
    title       String,
    status      LowCardinality(String),
    issue_type  LowCardinality(String),
    priority    UInt8,
    parent      String,
    workflow_id LowCardinality(String),
    created_at  DateTime64(3, 'UTC'),
    updated_at  DateTime64(3, 'UTC'),
    closed_at   Nullable(DateTime64(3, 'UTC'))
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY id;

-- priority came after the first release of this table: databases created before it get the column here.
ALTER TABLE beads_issues ADD COLUMN IF NOT EXISTS priority UInt8 AFTER issue_type;

-- Views and rollups of the Grafana dashboards (grafana/dashboards/*.json). `tokenledger schema apply` runs this file
-- after 003_prices.sql. The two views take the dashboard's time range as parameters, so the range narrows the scan
-- before anything is grouped (a plain view would group every row ever stored, then filter):
--     SELECT * FROM workflow_outcomes(from_time = toDateTime(1764547200), to_time = now())
-- (Grafana's $__fromTime / $__toTime expand to exactly such toDateTime(...) values.) They read the hourly rollups
-- below, which are computed from the event tables with FINAL, so a redelivered record counts once whoever queries
-- them. Range edges: an hour counts whole when it overlaps the range (hour >= toStartOfHour(from_time) and
-- hour <= to_time), so the first hour may add up to 59 minutes before from_time.

-- The hourly rollups the overview dashboards read instead of the event tables (a 7-day panel over millions of
-- api_requests read with FINAL takes seconds; the rollup holds one row per hour x workflow x stage x agent x model).
-- They stay exact: each is a refreshable materialized view whose query reads the event tables with FINAL, so a
-- redelivered record counts once, and every refresh recomputes every group from all the events (an incremental
-- rollup would count a duplicate that arrives after its hour was summed). A refresh APPENDs its rows to a
-- ReplacingMergeTree whose version is the refresh time, and readers read it with FINAL (the views below say so,
-- the reader profile's final = 1 does it for the panels): of each group only the newest refresh's row counts.
-- Groups never disappear (events are never deleted), so the newest rows are exactly the current sums. Why not the
-- default replace-the-table refresh: it drops its scratch table, which needs DROP TABLE on the database, and the
-- writer must not be able to drop the event tables; APPEND needs only the writer's INSERT and SELECT.
-- Cost: one FINAL scan of the event tables per refresh, every minute (BENCHMARKS.md "Grafana panels" has its
-- duration), and a full copy of the rollup appended each time until merges fold it; the overview panels lag the
-- events by at most a minute plus that duration. The workflow detail dashboard reads the event tables live.
-- A query of these tables without FINAL (or final = 1) counts each group once per unmerged refresh.
-- Tests and benches run `SYSTEM REFRESH VIEW api_request_hourly_refresh` then `SYSTEM WAIT VIEW ...` to see rows
-- at once. Each view is dropped and created again on every apply, so a changed definition reaches databases that
-- have the old one (CREATE OR REPLACE of a materialized view needs DROP TABLE; DROP VIEW the writer has). The
-- target tables and their rows stay; creation refreshes at once. IF NOT EXISTS: a second relay applying the schema
-- at the same moment finds the view there and goes on.
CREATE TABLE IF NOT EXISTS api_request_hourly
(
    hour                  DateTime('UTC'),
    workflow_id           LowCardinality(String),
    workflow_path         LowCardinality(String),
    stage                 LowCardinality(String),
    agent                 LowCardinality(String),
    model                 LowCardinality(String),
    model_expected        LowCardinality(String),
    requests              UInt64,
    cost_usd              Float64,
    input_tokens          UInt64,
    output_tokens         UInt64,
    cache_read_tokens     UInt64,
    cache_creation_tokens UInt64,
    -- The sum of the requests' duration_ms (average = duration_ms / requests).
    duration_ms           UInt64,
    -- The first and last request of the group, for started_at / ended_at and the path a workflow had last.
    first_at              DateTime64(9, 'UTC'),
    last_at               DateTime64(9, 'UTC'),
    -- When the refresh that wrote the row ran: the newest refresh's row of a group wins.
    refreshed_at          DateTime64(9, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
ORDER BY (hour, workflow_id, stage, agent, model, workflow_path, model_expected);

DROP VIEW IF EXISTS api_request_hourly_refresh;

CREATE MATERIALIZED VIEW IF NOT EXISTS api_request_hourly_refresh
REFRESH EVERY 1 MINUTE APPEND TO api_request_hourly AS
SELECT
    toStartOfHour(timestamp) AS hour,
    workflow_id,
    workflow_path,
    stage,
    agent,
    model,
    model_expected,
    count() AS requests,
    sum(cost_usd) AS cost_usd,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_creation_tokens) AS cache_creation_tokens,
    sum(duration_ms) AS duration_ms,
    min(timestamp) AS first_at,
    max(timestamp) AS last_at,
    now64(9) AS refreshed_at
FROM otel_api_request_events FINAL
GROUP BY hour, workflow_id, workflow_path, stage, agent, model, model_expected;

-- Per hour and workflow: tool calls, failed tool calls and api_errors, for workflow_outcomes' success.
CREATE TABLE IF NOT EXISTS workflow_failures_hourly
(
    hour          DateTime('UTC'),
    workflow_id   LowCardinality(String),
    tool_calls    UInt64,
    tool_failures UInt64,
    api_errors    UInt64,
    refreshed_at  DateTime64(9, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
ORDER BY (hour, workflow_id);

DROP VIEW IF EXISTS workflow_failures_hourly_refresh;

CREATE MATERIALIZED VIEW IF NOT EXISTS workflow_failures_hourly_refresh
REFRESH EVERY 1 MINUTE APPEND TO workflow_failures_hourly AS
SELECT hour, workflow_id, sum(tool_calls) AS tool_calls, sum(tool_failures) AS tool_failures, sum(api_errors) AS api_errors,
       now64(9) AS refreshed_at
FROM
(
    SELECT toStartOfHour(timestamp) AS hour, workflow_id, count() AS tool_calls, countIf(NOT success) AS tool_failures,
           toUInt64(0) AS api_errors
    FROM otel_tool_result_events FINAL
    GROUP BY hour, workflow_id
    UNION ALL
    SELECT toStartOfHour(timestamp) AS hour, workflow_id, toUInt64(0) AS tool_calls, toUInt64(0) AS tool_failures,
           count() AS api_errors
    FROM otel_api_error_events FINAL
    GROUP BY hour, workflow_id
)
GROUP BY hour, workflow_id;

-- One row per workflow with api_request events in the range: its figures, its failures, and `success`.
-- A workflow succeeded when, within the range, Claude Code reported no api_error for it, none of its tool calls
-- failed (tool_result success = false), and every Beads issue of the workflow (beads_issues, when imported) is
-- closed. A workflow without Beads issues is judged on the first two alone.
CREATE OR REPLACE VIEW workflow_outcomes AS
SELECT
    r.workflow_id AS workflow_id,
    r.workflow_path AS workflow_path,
    r.started_at AS started_at,
    r.ended_at AS ended_at,
    r.requests AS requests,
    r.cost_usd AS cost_usd,
    r.input_tokens AS input_tokens,
    r.output_tokens AS output_tokens,
    r.cache_read_tokens AS cache_read_tokens,
    r.cache_creation_tokens AS cache_creation_tokens,
    f.api_errors AS api_errors,
    f.tool_calls AS tool_calls,
    f.tool_failures AS tool_failures,
    b.beads_issues AS beads_issues,
    b.beads_open AS beads_open,
    f.api_errors = 0 AND f.tool_failures = 0 AND b.beads_open = 0 AS success
FROM
(
    SELECT
        workflow_id,
        argMax(workflow_path, last_at) AS workflow_path,
        min(first_at) AS started_at,
        max(last_at) AS ended_at,
        sum(requests) AS requests,
        sum(cost_usd) AS cost_usd,
        sum(input_tokens) AS input_tokens,
        sum(output_tokens) AS output_tokens,
        sum(cache_read_tokens) AS cache_read_tokens,
        sum(cache_creation_tokens) AS cache_creation_tokens
    FROM api_request_hourly FINAL
    WHERE hour >= toStartOfHour({from_time:DateTime}) AND hour <= {to_time:DateTime} AND workflow_id != ''
    GROUP BY workflow_id
) AS r
LEFT JOIN
(
    SELECT workflow_id, sum(api_errors) AS api_errors, sum(tool_calls) AS tool_calls,
           sum(tool_failures) AS tool_failures
    FROM workflow_failures_hourly FINAL
    WHERE hour >= toStartOfHour({from_time:DateTime}) AND hour <= {to_time:DateTime}
    GROUP BY workflow_id
) AS f ON f.workflow_id = r.workflow_id
LEFT JOIN
(
    SELECT workflow_id, count() AS beads_issues, countIf(status != 'closed') AS beads_open
    FROM beads_issues FINAL
    WHERE workflow_id != ''
    GROUP BY workflow_id
) AS b ON b.workflow_id = r.workflow_id
SETTINGS join_use_nulls = 0;

-- One row per (workflow, stage) with api_request events in the range: what one run of a stage cost and took.
-- The stage dashboards average and spread these (cost variance per stage, average duration per stage).
-- api_ms adds the requests' own durations; span_ms is the wall-clock time from the stage's first to its last request.
CREATE OR REPLACE VIEW stage_runs AS
SELECT
    workflow_id,
    argMax(workflow_path, last_at) AS workflow_path,
    stage,
    sum(requests) AS requests,
    sum(cost_usd) AS cost_usd,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_creation_tokens) AS cache_creation_tokens,
    sum(duration_ms) AS api_ms,
    dateDiff('millisecond', min(first_at), max(last_at)) AS span_ms
FROM api_request_hourly FINAL
WHERE hour >= toStartOfHour({from_time:DateTime}) AND hour <= {to_time:DateTime} AND workflow_id != '' AND stage != ''
GROUP BY workflow_id, stage;

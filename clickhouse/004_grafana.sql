-- Views of the Grafana dashboards (grafana/dashboards/*.json). `tokenledger schema apply` runs this file after
-- 003_prices.sql. Both take the dashboard's time range as parameters, so the range narrows the scan of the event
-- tables before anything is grouped (a plain view would group every row ever stored, then filter):
--     SELECT * FROM workflow_outcomes(from_time = toDateTime(1764547200), to_time = now())
-- (Grafana's $__fromTime / $__toTime expand to exactly such toDateTime(...) values.) They read with FINAL, as the
-- other views do, so a redelivered record counts once whoever queries them.

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
    e.api_errors AS api_errors,
    t.tool_calls AS tool_calls,
    t.tool_failures AS tool_failures,
    b.beads_issues AS beads_issues,
    b.beads_open AS beads_open,
    e.api_errors = 0 AND t.tool_failures = 0 AND b.beads_open = 0 AS success
FROM
(
    SELECT
        workflow_id,
        argMax(workflow_path, timestamp) AS workflow_path,
        min(timestamp) AS started_at,
        max(timestamp) AS ended_at,
        count() AS requests,
        sum(cost_usd) AS cost_usd,
        sum(input_tokens) AS input_tokens,
        sum(output_tokens) AS output_tokens,
        sum(cache_read_tokens) AS cache_read_tokens,
        sum(cache_creation_tokens) AS cache_creation_tokens
    FROM otel_api_request_events FINAL
    WHERE timestamp >= {from_time:DateTime} AND timestamp <= {to_time:DateTime} AND workflow_id != ''
    GROUP BY workflow_id
) AS r
LEFT JOIN
(
    SELECT workflow_id, count() AS api_errors
    FROM otel_api_error_events FINAL
    WHERE timestamp >= {from_time:DateTime} AND timestamp <= {to_time:DateTime}
    GROUP BY workflow_id
) AS e ON e.workflow_id = r.workflow_id
LEFT JOIN
(
    SELECT workflow_id, count() AS tool_calls, countIf(NOT success) AS tool_failures
    FROM otel_tool_result_events FINAL
    WHERE timestamp >= {from_time:DateTime} AND timestamp <= {to_time:DateTime}
    GROUP BY workflow_id
) AS t ON t.workflow_id = r.workflow_id
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
    argMax(workflow_path, timestamp) AS workflow_path,
    stage,
    count() AS requests,
    sum(cost_usd) AS cost_usd,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    sum(cache_creation_tokens) AS cache_creation_tokens,
    sum(duration_ms) AS api_ms,
    dateDiff('millisecond', min(timestamp), max(timestamp)) AS span_ms
FROM otel_api_request_events FINAL
WHERE timestamp >= {from_time:DateTime} AND timestamp <= {to_time:DateTime} AND workflow_id != '' AND stage != ''
GROUP BY workflow_id, stage;

-- The assessment's three views, same names and columns, reading with FINAL so a redelivered record counts once.
-- stage_performance.cache_hit_rate is corrected: the share of all prompt tokens that were read from the cache,
-- cache_read / (input + cache_read + cache_creation), which stays within [0, 1]. The assessment's
-- cache_read / input exceeds 1 as soon as most of the prompt comes from the cache.

CREATE OR REPLACE VIEW workflow_summary AS
SELECT
    workflow_id,
    MIN(timestamp) AS started_at,
    MAX(timestamp) AS completed_at,
    DATE_DIFF('second', MIN(timestamp), MAX(timestamp)) AS duration_seconds,
    SUM(input_tokens) AS total_input_tokens,
    SUM(output_tokens) AS total_output_tokens,
    SUM(cache_read_tokens) AS total_cache_read_tokens,
    SUM(cost_usd) AS total_cost_usd,
    COUNT(*) AS api_requests
FROM otel_api_request_events FINAL
GROUP BY workflow_id;

CREATE OR REPLACE VIEW stage_performance AS
SELECT
    stage,
    agent,
    COUNT(DISTINCT workflow_id) AS workflow_count,
    AVG(cost_usd) AS avg_cost,
    AVG(duration_ms) AS avg_duration_ms,
    AVG(input_tokens + output_tokens) AS avg_tokens,
    SUM(cache_read_tokens) / nullIf(SUM(input_tokens + cache_read_tokens + cache_creation_tokens), 0) AS cache_hit_rate
FROM otel_api_request_events FINAL
WHERE stage != ''
GROUP BY stage, agent;

CREATE OR REPLACE VIEW model_cost_comparison AS
SELECT
    model,
    stage,
    COUNT(*) AS request_count,
    SUM(cost_usd) AS total_cost,
    AVG(cost_usd) AS avg_cost_per_request,
    SUM(input_tokens) AS total_input_tokens,
    SUM(output_tokens) AS total_output_tokens
FROM otel_api_request_events FINAL
GROUP BY model, stage
ORDER BY total_cost DESC;

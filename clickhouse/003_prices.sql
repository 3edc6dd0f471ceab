-- The price check: the cost recomputed from tokens beside the cost Claude Code reported, per workflow.
--
-- model_prices holds the price table of tokenledger's config (src/ledger/prices.toml, overridable in [prices]):
-- `schema apply` and `serve` write it, all models in one insert stamped with one `updated_at` (a generation).
-- A table rather than prices written into the view's SQL: the schema files stay static text built into the
-- binary, the prices follow the config without re-creating views, and Grafana or anyone's SQL can join them.
-- The view reads only the newest generation, so a model removed from the config stops being priced at once.
CREATE TABLE IF NOT EXISTS model_prices
(
    model               String,
    input               Float64,
    output              Float64,
    cache_read          Float64,
    cache_write_5m      Float64,
    cache_write_1h      Float64,
    long_prompt_above   UInt64,
    long_input          Float64,
    long_output         Float64,
    long_cache_read     Float64,
    long_cache_write_5m Float64,
    long_cache_write_1h Float64,
    source              String,
    as_of               String,
    updated_at          DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY model;

-- One row per workflow. Each request is priced on its own (its prompt size picks the long-prompt rates); a model
-- id is looked up as sent, else without a trailing -YYYYMMDD. Requests of unknown models are left out of both
-- sides of the comparison and listed in unknown_models, never priced as zero. Cache writes without a TTL split
-- count at the 5-minute rate, as Claude Code counts them. flagged: reported and recomputed differ by more than
-- 1 % for the workflow as a whole or for one of its models (flagged_models), as `tokenledger report` says.
CREATE OR REPLACE VIEW workflow_cost_check AS
WITH current_prices AS
(
    SELECT * FROM model_prices FINAL
    WHERE updated_at = (SELECT max(updated_at) FROM model_prices)
)
SELECT
    workflow_id,
    sum(requests) AS requests,
    sum(reported) AS reported_cost_usd,
    sumIf(reported, priced) AS reported_priced_cost_usd,
    sumIf(recomputed, priced) AS recomputed_cost_usd,
    (reported_priced_cost_usd - recomputed_cost_usd) / nullIf(recomputed_cost_usd, 0) AS difference_ratio,
    arraySort(groupArrayIf(model, priced AND abs(reported - recomputed) > 0.01 * recomputed)) AS flagged_models,
    abs(reported_priced_cost_usd - recomputed_cost_usd) > 0.01 * recomputed_cost_usd
        OR length(flagged_models) > 0 AS flagged,
    arraySort(groupArrayIf(model, NOT priced)) AS unknown_models,
    sumIf(reported, NOT priced) AS unknown_models_cost_usd
FROM
(
    SELECT
        r.workflow_id AS workflow_id,
        r.model AS model,
        count() AS requests,
        sum(r.cost_usd) AS reported,
        any(p.model != '') AS priced,
        sum(
            (
                r.input_tokens * if((p.long_prompt_above > 0 AND r.input_tokens + r.cache_read_tokens
                                     + r.cache_creation_tokens > p.long_prompt_above) AS long, p.long_input, p.input)
                + r.output_tokens * if(long, p.long_output, p.output)
                + r.cache_read_tokens * if(long, p.long_cache_read, p.cache_read)
                + (r.cache_creation_5m_tokens
                   + greatest(toInt64(r.cache_creation_tokens) - toInt64(r.cache_creation_5m_tokens)
                              - toInt64(r.cache_creation_1h_tokens), 0))
                  * if(long, p.long_cache_write_5m, p.cache_write_5m)
                + r.cache_creation_1h_tokens * if(long, p.long_cache_write_1h, p.cache_write_1h)
            ) / 1e6
        ) AS recomputed
    FROM
    (
        SELECT
            *,
            if(model IN (SELECT model FROM current_prices), model, replaceRegexpOne(model, '-[0-9]{8}$', ''))
                AS price_model
        FROM otel_api_request_events FINAL
    ) AS r
    LEFT JOIN current_prices AS p ON p.model = r.price_model
    GROUP BY r.workflow_id, r.model
)
GROUP BY workflow_id;

#!/usr/bin/env python3
"""Writes grafana/dashboards/*.json, the tokenledger dashboards, from the panel list below.

The JSON files are what Grafana loads and what tests/grafana_panels.rs checks; this script keeps their repeated
parts (datasource, target model, variables, links) identical. Edit here, run `python3 grafana/generate.py`, commit
both. `--check` exits 1 when a JSON file differs from what this script writes.

The overview dashboards read the hourly rollup api_request_hourly (clickhouse/004_grafana.sql: exact, computed from
the event tables with FINAL, refreshed every minute, read with FINAL so only each group's newest refresh counts),
so they lag the events by at most about a minute and their
time series have one point per hour at the finest. An hour counts whole when it overlaps the dashboard's range
(ROLLUP_FILTER). The workflow detail dashboard reads the event tables live.

Every ClickHouse panel filters with $__conditionalAll(cond, $var): the plugin's browser code replaces it with 1=1
when the variable is All (so All never expands into a list of every workflow), else with cond.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
PLUGIN_VERSION = "4.20.0"
CH = {"type": "grafana-clickhouse-datasource", "uid": "tokenledger-clickhouse"}
PROM = {"type": "prometheus", "uid": "tokenledger-prometheus"}
DETAIL = "tokenledger-workflow-detail"
DETAIL_LINK = "/d/" + DETAIL + "?var-workflow_id=${__value.raw}&${__url_time_range}"

# The rollup every overview panel reads, and its filter: the hours that overlap the dashboard's time range (the first
# one whole, so up to 59 minutes before the range's start count) and the three variables.
# FINAL: of each group only the newest refresh's row (the reader profile's final = 1 would add it too).
ROLLUP = "api_request_hourly FINAL"
FILTER = (
    "hour >= toStartOfHour($__fromTime) AND hour <= $__toTime\n"
    "  AND $__conditionalAll(workflow_id IN (${workflow:singlequote}), $workflow)\n"
    "  AND $__conditionalAll(stage IN (${stage:singlequote}), $stage)\n"
    "  AND $__conditionalAll(model IN (${model:singlequote}), $model)"
)
# Filters of the per-workflow and per-stage views (no model column there).
VIEW_FILTER = (
    "$__conditionalAll(workflow_id IN (${workflow:singlequote}), $workflow)\n"
    "  AND $__conditionalAll(stage IN (${stage:singlequote}), $stage)"
)
OUTCOME_FILTER = "$__conditionalAll(workflow_id IN (${workflow:singlequote}), $workflow)"
RANGE = "from_time = $__fromTime, to_time = $__toTime"
FAMILY = (
    "multiIf(positionCaseInsensitive(model, 'opus') > 0, 'Opus', positionCaseInsensitive(model, 'sonnet') > 0, "
    "'Sonnet', positionCaseInsensitive(model, 'haiku') > 0, 'Haiku', 'Other')"
)
HIT_RATE = "sum(cache_read_tokens) / nullIf(sum(input_tokens + cache_read_tokens + cache_creation_tokens), 0)"
OUTPUT_RATIO = "sum(output_tokens) / nullIf(sum(input_tokens + cache_read_tokens + cache_creation_tokens), 0)"


def variable(name, label, sql, multi=True):
    """A ClickHouse query variable, refreshed when the time range changes."""
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": CH,
        "query": sql,
        "definition": sql,
        "refresh": 2,
        "sort": 0,
        "multi": multi,
        "includeAll": multi,
        "current": {"text": ["All"], "value": ["$__all"]} if multi else {},
        "options": [],
        "hide": 0,
    }


def option_query(column):
    return (
        f"SELECT DISTINCT toString({column}) AS {column} FROM {ROLLUP}\n"
        f"WHERE hour >= toStartOfHour($__fromTime) AND hour <= $__toTime AND {column} != ''\nORDER BY {column}\n"
        "LIMIT 1000"
    )


# The detail dashboard's list too: a workflow appears in it once the rollup has refreshed (within a minute).
WORKFLOW_OPTIONS = (
    f"SELECT toString(workflow_id) AS workflow_id FROM {ROLLUP}\n"
    "WHERE hour >= toStartOfHour($__fromTime) AND hour <= $__toTime AND workflow_id != ''\n"
    "GROUP BY workflow_id\nORDER BY max(last_at) DESC\nLIMIT 1000"
)
VARIABLES = [
    variable("workflow", "Workflow", WORKFLOW_OPTIONS),
    variable("stage", "Stage", option_query("stage")),
    variable("model", "Model", option_query("model")),
]


class Layout:
    """Places panels left to right in rows 24 units wide."""

    def __init__(self):
        self.x, self.y, self.row_h, self.next_id = 0, 0, 0, 1

    def place(self, w, h):
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        self.next_id += 1
        return pos, self.next_id - 1


def ch_target(sql, fmt):
    return {
        "refId": "A",
        "datasource": CH,
        "editorType": "sql",
        "rawSql": sql,
        "format": 0 if fmt == "timeseries" else 1,
        "queryType": "timeseries" if fmt == "timeseries" else "table",
        "pluginVersion": PLUGIN_VERSION,
    }


def panel(layout, kind, title, description, sql=None, unit=None, w=12, h=8, overrides=None, exprs=None,
          options=None):
    pos, pid = layout.place(w, h)
    out = {"id": pid, "type": kind, "title": title, "description": description, "gridPos": pos}
    if exprs is not None:
        out["datasource"] = PROM
        out["targets"] = [
            {"refId": chr(65 + i), "datasource": PROM, "expr": expr, "legendFormat": legend, "range": True}
            for i, (expr, legend) in enumerate(exprs)
        ]
    else:
        out["datasource"] = CH
        out["targets"] = [ch_target(sql, "timeseries" if kind == "timeseries" else "table")]
    defaults = {"unit": unit} if unit else {}
    out["fieldConfig"] = {"defaults": defaults, "overrides": overrides or []}
    if options:
        out["options"] = options
    return out


def unit_of(name, unit):
    return {"matcher": {"id": "byName", "options": name}, "properties": [{"id": "unit", "value": unit}]}


def link_workflow(column="workflow_id"):
    return {
        "matcher": {"id": "byName", "options": column},
        "properties": [{"id": "links", "value": [{"title": "Workflow detail", "url": DETAIL_LINK}]}],
    }


def dashboard(uid, title, description, panels, variables, tags, links=True):
    out = {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["tokenledger"] + tags,
        "timezone": "utc",
        "editable": False,
        "schemaVersion": 41,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-7d", "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "panels": panels,
    }
    if links:
        out["links"] = [
            {"type": "dashboards", "tags": ["tokenledger"], "asDropdown": True, "title": "tokenledger",
             "includeVars": False, "keepTime": True}
        ]
    return out


def workflow_cost():
    l = Layout()
    p = [
        panel(l, "stat", "Total cost", "Sum of cost_usd of every api_request in the range and the selection.",
              f"SELECT sum(cost_usd) AS cost_usd\nFROM {ROLLUP}\nWHERE {FILTER}", "currencyUSD", w=6, h=4),
        panel(l, "stat", "Workflows", "Workflows with at least one api_request in the range.",
              f"SELECT uniqExact(workflow_id) AS workflows\nFROM {ROLLUP}\nWHERE {FILTER} AND workflow_id != ''",
              "short", w=6, h=4),
        panel(l, "stat", "Average cost per workflow", "Total cost divided by the number of workflows.",
              f"SELECT sum(cost_usd) / nullIf(uniqExact(workflow_id), 0) AS cost_per_workflow\n"
              f"FROM {ROLLUP}\nWHERE {FILTER} AND workflow_id != ''", "currencyUSD", w=6, h=4),
        panel(l, "stat", "Opus share of cost", "Share of the cost spent on Opus models.",
              f"SELECT sumIf(cost_usd, positionCaseInsensitive(model, 'opus') > 0) / nullIf(sum(cost_usd), 0) AS opus_share\n"
              f"FROM {ROLLUP}\nWHERE {FILTER}", "percentunit", w=6, h=4),
        panel(l, "table", "Cost per workflow", "The 100 most expensive workflows; click one for its detail.",
              "SELECT toString(workflow_id) AS workflow_id, toString(argMax(workflow_path, last_at)) AS workflow_path,\n"
              "       sum(requests) AS requests, sum(cost_usd) AS cost_usd, min(first_at) AS started_at\n"
              f"FROM {ROLLUP}\nWHERE {FILTER} AND workflow_id != ''\n"
              "GROUP BY workflow_id\nORDER BY cost_usd DESC\nLIMIT 100", None, w=24, h=10,
              overrides=[unit_of("cost_usd", "currencyUSD"), unit_of("requests", "short"), link_workflow()]),
        panel(l, "barchart", "Cost by stage", "analyze / plan / implement / review; (none) where no stage was set.",
              "SELECT if(stage = '', '(none)', toString(stage)) AS stage, sum(cost_usd) AS cost_usd\n"
              f"FROM {ROLLUP}\nWHERE {FILTER}\nGROUP BY stage\nORDER BY cost_usd DESC", "currencyUSD",
              w=8),
        panel(l, "barchart", "Cost by agent", "analyst / planner / implementer / reviewer; (none) where no agent was set.",
              "SELECT if(agent = '', '(none)', toString(agent)) AS agent, sum(cost_usd) AS cost_usd\n"
              f"FROM {ROLLUP}\nWHERE {FILTER}\nGROUP BY agent\nORDER BY cost_usd DESC", "currencyUSD",
              w=8),
        panel(l, "piechart", "Cost by model family", "Opus vs Sonnet (and Haiku): where the money goes.",
              f"SELECT {FAMILY} AS family, sum(cost_usd) AS cost_usd\nFROM {ROLLUP}\nWHERE {FILTER}\n"
              "GROUP BY family\nORDER BY cost_usd DESC", "currencyUSD", w=8,
              options={"reduceOptions": {"values": True, "calcs": ["lastNotNull"]}, "pieType": "donut"}),
        panel(l, "timeseries", "Cost over time by stage", "Cost per interval, one series per stage.",
              "SELECT $__timeInterval(hour) AS time, if(stage = '', '(none)', toString(stage)) AS stage,\n"
              f"       sum(cost_usd) AS cost_usd\nFROM {ROLLUP}\nWHERE {FILTER}\n"
              "GROUP BY time, stage\nORDER BY time", "currencyUSD", w=24),
        panel(l, "table", "Cost by model and stage", "The assessment's model_cost_comparison, within the range.",
              "SELECT toString(model) AS model, if(stage = '', '(none)', toString(stage)) AS stage, sum(requests) AS requests,\n"
              "       sum(cost_usd) AS total_cost, total_cost / nullIf(requests, 0) AS avg_cost_per_request,\n"
              "       sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens\n"
              f"FROM {ROLLUP}\nWHERE {FILTER}\nGROUP BY model, stage\nORDER BY total_cost DESC", None,
              w=24, overrides=[unit_of("total_cost", "currencyUSD"), unit_of("avg_cost_per_request", "currencyUSD"),
                               unit_of("input_tokens", "short"), unit_of("output_tokens", "short")]),
    ]
    return dashboard("tokenledger-workflow-cost", "Workflow Cost Breakdown",
                     "What each workflow cost, and where: by stage, by agent, by model family (Opus vs Sonnet). "
                     "Figures are Claude Code's api_request events (cost_usd as the CLI reported it), read through "
                     "the read-only user, whose final = 1 counts a redelivered record once.", p, VARIABLES, ["cost"])


def token_consumption():
    l = Layout()
    p = [
        panel(l, "stat", "Cache-hit rate", "cache_read / (input + cache_read + cache_creation): the share of prompt "
              "tokens read from the cache.",
              f"SELECT {HIT_RATE} AS cache_hit_rate\nFROM {ROLLUP}\nWHERE {FILTER}", "percentunit",
              w=8, h=4),
        panel(l, "stat", "Output / input", "Output tokens per prompt token (input + cache_read + cache_creation).",
              f"SELECT {OUTPUT_RATIO} AS output_input_ratio\nFROM {ROLLUP}\nWHERE {FILTER}", "percentunit",
              w=8, h=4),
        panel(l, "stat", "Tokens", "Every token: input, output, cache read, cache creation.",
              "SELECT sum(input_tokens + output_tokens + cache_read_tokens + cache_creation_tokens) AS tokens\n"
              f"FROM {ROLLUP}\nWHERE {FILTER}", "short", w=8, h=4),
        panel(l, "barchart", "Input vs output tokens by stage", "Prompt tokens split by how they were billed, and output.",
              "SELECT if(stage = '', '(none)', toString(stage)) AS stage, sum(input_tokens) AS input,\n"
              "       sum(cache_read_tokens) AS cache_read, sum(cache_creation_tokens) AS cache_creation,\n"
              f"       sum(output_tokens) AS output\nFROM {ROLLUP}\nWHERE {FILTER}\nGROUP BY stage\n"
              "ORDER BY stage", "short", w=12, options={"stacking": "normal"}),
        panel(l, "barchart", "Output / input ratio by stage", "Output tokens per prompt token, per stage.",
              f"SELECT if(stage = '', '(none)', toString(stage)) AS stage, {OUTPUT_RATIO} AS output_input_ratio\n"
              f"FROM {ROLLUP}\nWHERE {FILTER}\nGROUP BY stage\nORDER BY stage", "percentunit", w=12),
        panel(l, "table", "Cache-hit rate per workflow", "Lowest first: the workflows that reuse their prompt least.",
              "SELECT toString(workflow_id) AS workflow_id, " + HIT_RATE + " AS cache_hit_rate,\n"
              f"       {OUTPUT_RATIO} AS output_input_ratio,\n"
              "       sum(input_tokens + cache_read_tokens + cache_creation_tokens) AS prompt_tokens,\n"
              "       sum(output_tokens) AS output, sum(cost_usd) AS cost_usd\n"
              f"FROM {ROLLUP}\nWHERE {FILTER} AND workflow_id != ''\nGROUP BY workflow_id\n"
              "ORDER BY cache_hit_rate ASC, cost_usd DESC\nLIMIT 100", None, w=24, h=10,
              overrides=[unit_of("cache_hit_rate", "percentunit"), unit_of("output_input_ratio", "percentunit"),
                         unit_of("prompt_tokens", "short"), unit_of("output", "short"),
                         unit_of("cost_usd", "currencyUSD"), link_workflow()]),
        panel(l, "timeseries", "Tokens over time", "Input, cache read, cache creation and output tokens per interval.",
              "SELECT $__timeInterval(hour) AS time, sum(input_tokens) AS input, sum(cache_read_tokens) AS cache_read,\n"
              "       sum(cache_creation_tokens) AS cache_creation, sum(output_tokens) AS output\n"
              f"FROM {ROLLUP}\nWHERE {FILTER}\nGROUP BY time\nORDER BY time", "short", w=24),
    ]
    return dashboard("tokenledger-token-consumption", "Token Consumption Analysis",
                     "Input vs output tokens by stage, cache-hit rate per workflow "
                     "(cache_read / (input + cache_read + cache_creation)), and output per prompt token.",
                     p, VARIABLES, ["tokens"])


def stage_performance():
    l = Layout()
    runs = f"stage_runs({RANGE})"
    p = [
        panel(l, "table", "Stages, most expensive first",
              "Per stage across workflows: runs (workflow x stage), cost per run, average request duration, "
              "tokens per run, and the stage's share of the total cost.",
              "SELECT toString(stage) AS stage, count() AS runs, sum(requests) AS api_requests, sum(cost_usd) AS total_cost,\n"
              "       avg(cost_usd) AS cost_per_run, sum(api_ms) / nullIf(sum(requests), 0) AS avg_request_ms,\n"
              "       avg(span_ms) AS avg_span_ms,\n"
              "       avg(input_tokens + output_tokens + cache_read_tokens + cache_creation_tokens) AS tokens_per_run,\n"
              "       total_cost / nullIf(sum(total_cost) OVER (), 0) AS share_of_cost\n"
              f"FROM {runs}\nWHERE {VIEW_FILTER}\nGROUP BY stage\nORDER BY total_cost DESC", None, w=24, h=8,
              overrides=[unit_of("total_cost", "currencyUSD"), unit_of("cost_per_run", "currencyUSD"),
                         unit_of("avg_request_ms", "ms"), unit_of("avg_span_ms", "ms"),
                         unit_of("tokens_per_run", "short"), unit_of("share_of_cost", "percentunit"),
                         unit_of("runs", "short"), unit_of("api_requests", "short")]),
        panel(l, "barchart", "Average cost per run by stage", "Cost of one stage of one workflow, averaged.",
              f"SELECT toString(stage) AS stage, avg(cost_usd) AS cost_per_run\nFROM {runs}\nWHERE {VIEW_FILTER}\n"
              "GROUP BY stage\nORDER BY cost_per_run DESC", "currencyUSD", w=8),
        panel(l, "barchart", "Average request duration by stage", "duration_ms of the API requests, averaged.",
              "SELECT if(stage = '', '(none)', toString(stage)) AS stage, sum(duration_ms) / nullIf(sum(requests), 0) AS avg_duration_ms\n"
              f"FROM {ROLLUP}\nWHERE {FILTER}\nGROUP BY stage\nORDER BY avg_duration_ms DESC", "ms", w=8),
        panel(l, "barchart", "Tokens per run by stage", "All tokens of one stage of one workflow, averaged.",
              "SELECT toString(stage) AS stage,\n"
              "       avg(input_tokens + output_tokens + cache_read_tokens + cache_creation_tokens) AS tokens_per_run\n"
              f"FROM {runs}\nWHERE {VIEW_FILTER}\nGROUP BY stage\nORDER BY tokens_per_run DESC", "short", w=8),
        panel(l, "timeseries", "Average request duration over time", "One series per stage.",
              "SELECT $__timeInterval(hour) AS time, if(stage = '', '(none)', toString(stage)) AS stage,\n"
              f"       sum(duration_ms) / nullIf(sum(requests), 0) AS avg_duration_ms\nFROM {ROLLUP}\nWHERE {FILTER}\n"
              "GROUP BY time, stage\nORDER BY time", "ms", w=24),
        panel(l, "table", "Most expensive stage runs", "The 50 costliest (workflow, stage) pairs.",
              "SELECT toString(workflow_id) AS workflow_id, toString(stage) AS stage, toString(workflow_path) AS workflow_path,\n"
              "       requests, cost_usd, api_ms, span_ms\n"
              f"FROM {runs}\nWHERE {VIEW_FILTER}\nORDER BY cost_usd DESC\nLIMIT 50", None, w=24, h=10,
              overrides=[unit_of("cost_usd", "currencyUSD"), unit_of("api_ms", "ms"), unit_of("span_ms", "ms"),
                         link_workflow()]),
    ]
    return dashboard("tokenledger-stage-performance", "Stage Performance",
                     "Average duration, tokens and cost per stage across workflows, and the most expensive stages. "
                     "A run is one stage of one workflow (view stage_runs).", p, VARIABLES, ["stages"])


SUCCESS = ("A workflow succeeded when, within the range, Claude Code reported no api_error for it, none of its tool "
           "calls failed (tool_result success = false), and every Beads issue of the workflow is closed (when Beads "
           "issues were imported; otherwise the first two decide). View workflow_outcomes.")


def workflow_paths():
    l = Layout()
    outcomes = f"workflow_outcomes({RANGE})"
    path = "if(workflow_path = '', '(none)', toString(workflow_path))"
    p = [
        panel(l, "table", "Fast vs full", "Per workflow_path: workflows, successes, success rate, cost, cost per "
              "workflow and per successful workflow (all cost divided by the successes: what one success costs). "
              + SUCCESS,
              f"SELECT {path} AS workflow_path, count() AS workflows, countIf(success) AS successful,\n"
              "       successful / workflows AS success_rate, sum(cost_usd) AS total_cost,\n"
              "       total_cost / workflows AS cost_per_workflow,\n"
              "       total_cost / nullIf(successful, 0) AS cost_per_successful_workflow,\n"
              "       avg(dateDiff('second', started_at, ended_at)) AS avg_duration_s\n"
              f"FROM {outcomes}\nWHERE {OUTCOME_FILTER}\nGROUP BY workflow_path\nORDER BY workflow_path", None,
              w=24, h=6,
              overrides=[unit_of("success_rate", "percentunit"), unit_of("total_cost", "currencyUSD"),
                         unit_of("cost_per_workflow", "currencyUSD"),
                         unit_of("cost_per_successful_workflow", "currencyUSD"), unit_of("avg_duration_s", "s")]),
        panel(l, "barchart", "Success rate by path", SUCCESS,
              f"SELECT {path} AS workflow_path, countIf(success) / count() AS success_rate\nFROM {outcomes}\n"
              f"WHERE {OUTCOME_FILTER}\nGROUP BY workflow_path\nORDER BY workflow_path", "percentunit", w=12),
        panel(l, "barchart", "Cost per successful workflow by path",
              "Is the full workflow worth it? Everything spent on a path divided by its successful workflows.",
              f"SELECT {path} AS workflow_path, sum(cost_usd) / nullIf(countIf(success), 0) AS cost_per_success,\n"
              "       avg(cost_usd) AS cost_per_workflow\n"
              f"FROM {outcomes}\nWHERE {OUTCOME_FILTER}\nGROUP BY workflow_path\nORDER BY workflow_path",
              "currencyUSD", w=12),
        panel(l, "timeseries", "Cost over time by path", "Cost per interval, one series per workflow_path.",
              "SELECT $__timeInterval(hour) AS time, if(workflow_path = '', '(none)', toString(workflow_path)) AS workflow_path,\n"
              f"       sum(cost_usd) AS cost_usd\nFROM {ROLLUP}\nWHERE {FILTER}\n"
              "GROUP BY time, workflow_path\nORDER BY time", "currencyUSD", w=24),
        panel(l, "table", "Workflows and their outcome", "Failed ones first. " + SUCCESS,
              f"SELECT toString(workflow_id) AS workflow_id, {path} AS workflow_path, success, api_errors,\n"
              "       tool_failures, tool_calls, beads_open, beads_issues, cost_usd, started_at\n"
              f"FROM {outcomes}\nWHERE {OUTCOME_FILTER}\nORDER BY success ASC, cost_usd DESC\nLIMIT 100", None,
              w=24, h=10, overrides=[unit_of("cost_usd", "currencyUSD"), link_workflow()]),
    ]
    return dashboard("tokenledger-workflow-paths", "Workflow Path Analysis",
                     "Fast-track vs full workflow: cost, success rate, cost per successful workflow. " + SUCCESS,
                     p, VARIABLES, ["paths"])


def optimization():
    l = Layout()
    runs = f"stage_runs({RANGE})"
    p = [
        panel(l, "table", "Workflows with low cache reuse",
              "cache_read / (input + cache_read + cache_creation) below the threshold, costliest first: prompts "
              "that were sent again without the cache, or caches written and never read.",
              "SELECT toString(workflow_id) AS workflow_id, " + HIT_RATE + " AS cache_hit_rate,\n"
              "       sum(cache_creation_tokens) AS cache_written, sum(cache_read_tokens) AS cache_read,\n"
              "       sum(cost_usd) AS cost_usd\n"
              f"FROM {ROLLUP}\nWHERE {FILTER} AND workflow_id != ''\nGROUP BY workflow_id\n"
              "HAVING cache_hit_rate < ${cache_threshold}\nORDER BY cost_usd DESC\nLIMIT 100", None, w=24, h=9,
              overrides=[unit_of("cache_hit_rate", "percentunit"), unit_of("cost_usd", "currencyUSD"),
                         unit_of("cache_written", "short"), unit_of("cache_read", "short"),
                         link_workflow()]),
        panel(l, "table", "Cost variance per stage",
              "Spread of one run's cost (a stage of one workflow): a high coefficient of variation (stddev / mean) "
              "marks a stage whose cost is unpredictable.",
              "SELECT toString(stage) AS stage, count() AS runs, avg(cost_usd) AS mean_cost, stddevPop(cost_usd) AS stddev_cost,\n"
              "       stddev_cost / nullIf(mean_cost, 0) AS coefficient_of_variation,\n"
              "       quantileExact(0.5)(cost_usd) AS median_cost, quantileExact(0.95)(cost_usd) AS p95_cost,\n"
              "       max(cost_usd) AS max_cost\n"
              f"FROM {runs}\nWHERE {VIEW_FILTER}\nGROUP BY stage\nORDER BY coefficient_of_variation DESC", None,
              w=24, h=7,
              overrides=[unit_of("mean_cost", "currencyUSD"), unit_of("stddev_cost", "currencyUSD"),
                         unit_of("median_cost", "currencyUSD"), unit_of("p95_cost", "currencyUSD"),
                         unit_of("max_cost", "currencyUSD"), unit_of("coefficient_of_variation", "percentunit")]),
        panel(l, "table", "Model choice per stage",
              "Which model each stage used, beside the model the workflow expected (model_expected). "
              "matches_expected is 0 where a model other than the expected one ran, e.g. Opus where Sonnet was "
              "expected.",
              "SELECT if(stage = '', '(none)', toString(stage)) AS stage, toString(model_expected) AS model_expected,\n"
              "       toString(model) AS model, sum(requests) AS requests, sum(cost_usd) AS cost_usd,\n"
              "       cost_usd / nullIf(sum(cost_usd) OVER (PARTITION BY stage), 0) AS share_of_stage_cost,\n"
              "       toUInt8(model_expected = '' OR positionCaseInsensitive(model, model_expected) > 0) AS matches_expected\n"
              f"FROM {ROLLUP}\nWHERE {FILTER}\nGROUP BY stage, model_expected, model\n"
              "ORDER BY stage, cost_usd DESC", None, w=24, h=9,
              overrides=[unit_of("cost_usd", "currencyUSD"), unit_of("share_of_stage_cost", "percentunit")]),
        panel(l, "stat", "Cost of models other than expected",
              "Cost of requests whose model is not the workflow's model_expected (where one was set).",
              "SELECT sumIf(cost_usd, model_expected != '' AND positionCaseInsensitive(model, model_expected) = 0) AS cost_usd\n"
              f"FROM {ROLLUP}\nWHERE {FILTER}", "currencyUSD", w=12, h=4),
        panel(l, "stat", "Opus share of requests", "Share of requests sent to an Opus model.",
              "SELECT sumIf(requests, positionCaseInsensitive(model, 'opus') > 0) / nullIf(sum(requests), 0) AS opus_share\n"
              f"FROM {ROLLUP}\nWHERE {FILTER}", "percentunit", w=12, h=4),
    ]
    threshold = {
        "type": "custom", "name": "cache_threshold", "label": "Low cache-hit threshold",
        "query": "0.3,0.5,0.7", "multi": False, "includeAll": False,
        "current": {"text": "0.5", "value": "0.5"},
        "options": [{"text": v, "value": v, "selected": v == "0.5"} for v in ["0.3", "0.5", "0.7"]],
        "hide": 0,
    }
    return dashboard("tokenledger-optimization", "Optimization Opportunities",
                     "Where money can be saved: workflows with low cache reuse, stages whose cost varies most, "
                     "and the model each stage really used against the one it was meant to use.",
                     p, VARIABLES + [threshold], ["optimization"])


def workflow_detail():
    l = Layout()
    w = "workflow_id = ${workflow_id:singlequote}"
    wf = f"$__timeFilter(timestamp) AND {w}"
    p = [
        panel(l, "stat", "Cost", "Sum of cost_usd of the workflow's api_requests.",
              f"SELECT sum(cost_usd) AS cost_usd\nFROM otel_api_request_events\nWHERE {wf}", "currencyUSD", w=6, h=4),
        panel(l, "stat", "Requests", "api_request events.",
              f"SELECT count() AS requests\nFROM otel_api_request_events\nWHERE {wf}", "short", w=6, h=4),
        panel(l, "stat", "Tool failures", "tool_result events with success = false.",
              f"SELECT countIf(NOT success) AS tool_failures\nFROM otel_tool_result_events\nWHERE {wf}", "short", w=6,
              h=4),
        panel(l, "stat", "API errors", "api_error events.",
              f"SELECT count() AS api_errors\nFROM otel_api_error_events\nWHERE {wf}", "short", w=6, h=4),
        panel(l, "table", "Stages", "In the order they started.",
              "SELECT if(stage = '', '(none)', toString(stage)) AS stage, arrayStringConcat(arraySort(groupUniqArray(toString(agent))), ', ') AS agents,\n"
              "       count() AS requests, sum(input_tokens + output_tokens + cache_read_tokens + cache_creation_tokens) AS tokens,\n"
              "       " + HIT_RATE + " AS cache_hit_rate, sum(cost_usd) AS cost_usd,\n"
              "       min(timestamp) AS started_at, max(timestamp) AS ended_at\n"
              f"FROM otel_api_request_events\nWHERE {wf}\nGROUP BY stage\nORDER BY started_at", None, w=24, h=7,
              overrides=[unit_of("cost_usd", "currencyUSD"), unit_of("tokens", "short"),
                         unit_of("cache_hit_rate", "percentunit")]),
        panel(l, "table", "Agents", "Per agent and model.",
              "SELECT if(agent = '', '(none)', toString(agent)) AS agent, toString(agent_name) AS agent_name, toString(model) AS model,\n"
              "       count() AS requests, sum(cost_usd) AS cost_usd, avg(duration_ms) AS avg_duration_ms\n"
              f"FROM otel_api_request_events\nWHERE {wf}\nGROUP BY agent, agent_name, model\nORDER BY cost_usd DESC",
              None, w=24, h=7,
              overrides=[unit_of("cost_usd", "currencyUSD"), unit_of("avg_duration_ms", "ms")]),
        panel(l, "timeseries", "Requests over time", "api_requests per interval, one series per stage.",
              "SELECT $__timeInterval(timestamp) AS time, if(stage = '', '(none)', toString(stage)) AS stage, count() AS requests\n"
              f"FROM otel_api_request_events\nWHERE {wf}\nGROUP BY time, stage\nORDER BY time", "short", w=12),
        panel(l, "timeseries", "Cost over time", "Cost per interval, one series per stage.",
              "SELECT $__timeInterval(timestamp) AS time, if(stage = '', '(none)', toString(stage)) AS stage, sum(cost_usd) AS cost_usd\n"
              f"FROM otel_api_request_events\nWHERE {wf}\nGROUP BY time, stage\nORDER BY time", "currencyUSD", w=12),
        panel(l, "table", "Tool calls", "Per tool: calls, failures, average duration.",
              "SELECT toString(tool_name) AS tool_name, count() AS calls, countIf(NOT success) AS failures,\n"
              "       avg(duration_ms) AS avg_duration_ms\n"
              f"FROM otel_tool_result_events\nWHERE {wf}\nGROUP BY tool_name\nORDER BY calls DESC", None, w=12, h=8,
              overrides=[unit_of("avg_duration_ms", "ms")]),
        panel(l, "table", "Failed tool calls", "Each tool_result with success = false.",
              "SELECT timestamp, toString(stage) AS stage, toString(tool_name) AS tool_name, error\n"
              f"FROM otel_tool_result_events\nWHERE {wf} AND NOT success\nORDER BY timestamp\nLIMIT 200", None,
              w=12, h=8),
        panel(l, "table", "Error events", "Each api_error: status, attempt, message.",
              "SELECT timestamp, toString(stage) AS stage, toString(model) AS model, toString(status_code) AS status_code,\n"
              "       attempt, error\n"
              f"FROM otel_api_error_events\nWHERE {wf}\nORDER BY timestamp\nLIMIT 200", None, w=24, h=7),
        panel(l, "table", "Beads issues", "The workflow's Beads issues (tokenledger beads import).",
              "SELECT id, title, toString(status) AS status, toString(issue_type) AS issue_type, updated_at\n"
              f"FROM beads_issues\nWHERE {w}\nORDER BY id", None, w=24, h=6),
    ]
    var = variable("workflow_id", "Workflow", WORKFLOW_OPTIONS, multi=False)
    return dashboard(DETAIL, "Workflow detail",
                     "One workflow: its stages, agents, requests over time, tool calls and failures, errors, and "
                     "Beads issues. Other dashboards link here with ?var-workflow_id=<id>.", p, [var], ["workflow"])


def relay_health():
    l = Layout()
    rate = "[$__rate_interval]"
    p = [
        panel(l, "stat", "Ledger figures fresh", "tokenledger_ledger_up: 1 when the relay's last read of ClickHouse "
              "succeeded (the figures the budget alerts compare).", exprs=[("min(tokenledger_ledger_up)", "up")],
              unit="short", w=6, h=4),
        panel(l, "stat", "Ledger figures age", "Seconds since the last successful ledger refresh.",
              exprs=[("time() - max(tokenledger_ledger_last_success_timestamp_seconds)", "age")], unit="s", w=6, h=4),
        panel(l, "stat", "Spend today", "tokenledger_ledger_spend_usd{period=\"day\"} (UTC day).",
              exprs=[("max(tokenledger_ledger_spend_usd{period=\"day\"})", "day")], unit="currencyUSD", w=6, h=4),
        panel(l, "stat", "Spend this week", "tokenledger_ledger_spend_usd{period=\"week\"} (ISO week, UTC).",
              exprs=[("max(tokenledger_ledger_spend_usd{period=\"week\"})", "week")], unit="currencyUSD", w=6, h=4),
        panel(l, "timeseries", "OTLP requests", "Requests the relay answered, by signal and outcome.",
              exprs=[(f"sum by (signal, outcome) (rate(tokenledger_requests_total{rate}))", "{{signal}} {{outcome}}")],
              unit="reqps", w=12),
        panel(l, "timeseries", "Records received and rejected", "Log records and data points in, and those refused.",
              exprs=[(f"sum by (signal) (rate(tokenledger_records_received_total{rate}))", "received {{signal}}"),
                     (f"sum by (signal) (rate(tokenledger_records_rejected_total{rate}))", "rejected {{signal}}")],
              unit="short", w=12),
        panel(l, "timeseries", "Rows inserted", "Rows committed to ClickHouse per second, by table.",
              exprs=[(f"sum by (table) (rate(tokenledger_rows_inserted_total{rate}))", "{{table}}")], unit="short",
              w=12),
        panel(l, "timeseries", "Insert latency p95", "95th percentile of an INSERT's duration, by table.",
              exprs=[(f"histogram_quantile(0.95, sum by (le, table) (rate(tokenledger_insert_duration_seconds_bucket{rate})))",
                      "{{table}}")], unit="s", w=12),
        panel(l, "timeseries", "Backlog", "Rows accepted but not yet committed.",
              exprs=[("sum(tokenledger_pending_rows)", "pending rows")], unit="short", w=12),
        panel(l, "timeseries", "Errors and duplicates", "Relay errors by kind; redelivered rows dropped.",
              exprs=[(f"sum by (kind) (rate(tokenledger_errors_total{rate}))", "error {{kind}}"),
                     (f"sum by (table) (rate(tokenledger_duplicates_dropped_total{rate}))", "duplicate {{table}}")],
              unit="short", w=12),
        panel(l, "timeseries", "Ledger refresh", "Refresh latency p95, failed refreshes, workflows left out by the cap.",
              exprs=[("histogram_quantile(0.95, sum by (le) (rate(tokenledger_ledger_refresh_duration_seconds_bucket"
                      f"{rate})))", "refresh p95 (s)"),
                     (f"sum(rate(tokenledger_ledger_refresh_errors_total{rate}))", "errors/s"),
                     ("max(tokenledger_ledger_series_omitted)", "omitted workflows")], unit="short", w=12),
        panel(l, "timeseries", "Spend vs team budget", "Spend of the day and week against the configured budgets.",
              exprs=[("max by (period) (tokenledger_ledger_spend_usd)", "spend {{period}}"),
                     ("max by (period) (tokenledger_ledger_team_budget_usd)", "budget {{period}}")],
              unit="currencyUSD", w=12),
        panel(l, "timeseries", "Collector: log records in and out",
              "The collector's own telemetry (0.160 counters carry no _total suffix): accepted by the receiver, "
              "sent to the relay, failed to send.",
              exprs=[(f"sum(rate(otelcol_receiver_accepted_log_records{rate}))", "accepted"),
                     (f"sum(rate(otelcol_exporter_sent_log_records{rate}))", "sent"),
                     (f"sum(rate(otelcol_exporter_send_failed_log_records{rate}))", "send failed")],
              unit="short", w=12),
        panel(l, "timeseries", "Collector: sending queue", "Batches waiting in the collector's persistent queue.",
              exprs=[("max(otelcol_exporter_queue_size)", "size"), ("max(otelcol_exporter_queue_capacity)", "capacity")],
              unit="short", w=12),
        panel(l, "table", "Workflows closest to their budget", "Cost so far against the budget that applies.",
              exprs=[("topk(20, max by (workflow_id, workflow_path) (tokenledger_ledger_workflow_cost_usd) / on "
                      "(workflow_id, workflow_path) max by (workflow_id, workflow_path) "
                      "(tokenledger_ledger_workflow_budget_usd))", "{{workflow_id}}")],
              unit="percentunit", w=24, overrides=[link_workflow()]),
    ]
    for q in p[-1]["targets"]:
        q["format"] = "table"
        q["instant"] = True
        q["range"] = False
    return dashboard("tokenledger-relay-health", "Relay health",
                     "The relay (tokenledger_* series), the ledger figures it reads back from ClickHouse for the "
                     "budget alerts (tokenledger_ledger_*), and the collector's own telemetry (otelcol_*).",
                     p, [], ["relay"])


DASHBOARDS = {
    "workflow-cost.json": workflow_cost,
    "token-consumption.json": token_consumption,
    "stage-performance.json": stage_performance,
    "workflow-paths.json": workflow_paths,
    "optimization.json": optimization,
    "workflow-detail.json": workflow_detail,
    "relay-health.json": relay_health,
}


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    OUT.mkdir(exist_ok=True)
    for name, build in DASHBOARDS.items():
        text = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        path = OUT / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("differs from grafana/generate.py: " + ", ".join(stale), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

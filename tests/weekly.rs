//! `tokenledger weekly` as a user runs it, on api_request events spread over two weeks and sent through the
//! relay: totals equal the sums of the input, the week-over-week change, each optimization hint present exactly
//! when its condition holds on the input, and the Markdown compared with a golden file (a fixed `--to`).
//! Against the real ClickHouse engine, one database per test.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use support::clickhouse::{fresh_database, TestDb};
use support::events::ApiRequest;
use tokenledger::config::WeeklyConfig;

const BIN: &str = env!("CARGO_BIN_EXE_tokenledger");
const HOUR: i64 = 3_600_000_000_000;
const DAY: i64 = 24 * HOUR;
/// 2026-12-01T00:00:00Z, the `--to` of the tests.
const TO: i64 = 1_796_083_200 * 1_000_000_000;
const OPUS: &str = "claude-opus-4-5-20251101";
const SONNET: &str = "claude-sonnet-4-5-20250929";

#[allow(clippy::too_many_arguments)]
fn event(at: i64, workflow: &str, path: &str, stage: &str, model: &str, tokens: [u64; 4], cost_usd: f64) -> ApiRequest {
    let [input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens] = tokens;
    ApiRequest {
        timestamp_ns: at,
        workflow_id: workflow.into(),
        workflow_path: path.into(),
        stage: stage.into(),
        task_id: String::new(),
        model: model.into(),
        input_tokens,
        output_tokens,
        cache_read_tokens,
        cache_creation_tokens,
        cost_usd,
        duration_ms: 1_000,
    }
}

/// Two weeks of work before TO, plus events just outside them.
fn events() -> Vec<ApiRequest> {
    let cached = |output| [1_200, output, 5_000, 300];
    vec![
        // This week [TO − 7 d, TO).
        event(TO - 6 * DAY, "wf-alpha", "full", "analyze", OPUS, cached(25), 0.011),
        event(TO - 6 * DAY + HOUR, "wf-alpha", "full", "analyze", OPUS, cached(40), 0.011375),
        event(TO - 5 * DAY, "wf-alpha", "full", "plan", SONNET, cached(60), 0.007125),
        event(TO - 4 * DAY, "wf-alpha", "full", "implement", SONNET, cached(40), 0.006825),
        event(TO - 4 * DAY + HOUR, "wf-alpha", "full", "implement", SONNET, cached(40), 0.006825),
        event(TO - 4 * DAY + 2 * HOUR, "wf-alpha", "full", "implement", OPUS, cached(25), 0.011),
        event(TO - 3 * DAY, "wf-alpha", "full", "review", OPUS, cached(25), 0.011),
        event(TO - 7 * DAY, "wf-beta", "fast", "implement", SONNET, cached(25), 0.0066),
        event(TO - DAY, "wf-gamma", "full", "analyze", SONNET, [3_000, 25, 0, 500], 0.005),
        // The week before [TO − 14 d, TO − 7 d).
        event(TO - 13 * DAY, "wf-old", "full", "analyze", SONNET, cached(25), 0.0066),
        event(TO - 12 * DAY, "wf-old", "full", "analyze", SONNET, cached(25), 0.0066),
        event(TO - 8 * DAY, "wf-old", "full", "review", SONNET, cached(40), 0.006825),
        // Outside both: at TO (excluded: periods are half-open) and three weeks back.
        event(TO, "wf-alpha", "full", "review", OPUS, cached(25), 0.011),
        event(TO - 20 * DAY, "wf-ancient", "full", "analyze", OPUS, cached(25), 0.011),
    ]
}

fn in_period(from: i64, to: i64) -> Vec<ApiRequest> {
    events().into_iter().filter(|e| e.timestamp_ns >= from && e.timestamp_ns < to).collect()
}

async fn loaded(test: &str) -> TestDb {
    let db = fresh_database(test).await;
    db.apply_schema().await;
    support::events::send(&db, &events(), 1).await;
    db
}

fn weekly(db: &TestDb, args: &[&str]) -> String {
    let output = Command::new(BIN)
        .arg("weekly")
        .args(args)
        .env("TOKENLEDGER_CLICKHOUSE__URL", &db.url)
        .env("TOKENLEDGER_CLICKHOUSE__DATABASE", &db.name)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn opus(e: &ApiRequest) -> bool {
    e.model.contains("opus")
}

/// The hints, decided here from the input events with the default thresholds.
fn expected_hints(events: &[ApiRequest]) -> [BTreeSet<String>; 3] {
    let config = WeeklyConfig::default();
    let group = |key: fn(&ApiRequest) -> &str| -> BTreeSet<String> {
        events.iter().map(key).filter(|k| !k.is_empty()).map(String::from).collect()
    };
    let sonnet = group(|e| &e.stage)
        .into_iter()
        .filter(|stage| {
            let of: Vec<_> = events.iter().filter(|e| &e.stage == stage).collect();
            let all: f64 = of.iter().map(|e| e.cost_usd).sum();
            let on_opus: f64 = of.iter().filter(|e| opus(e)).map(|e| e.cost_usd).sum();
            on_opus > 0.0 && on_opus / all >= config.sonnet_min_opus_share
        })
        .collect();
    let low_cache = group(|e| &e.workflow_id)
        .into_iter()
        .filter(|w| {
            let of: Vec<_> = events.iter().filter(|e| &e.workflow_id == w).collect();
            let read: u64 = of.iter().map(|e| e.cache_read_tokens).sum();
            let prompt: u64 = of.iter().map(|e| e.input_tokens + e.cache_read_tokens + e.cache_creation_tokens).sum();
            prompt > 0 && (read as f64 / prompt as f64) < config.low_cache_hit_rate
        })
        .collect();
    let cost_of = |w: &str| events.iter().filter(|e| e.workflow_id == w).map(|e| e.cost_usd).sum::<f64>();
    let path_of = |w: &str| events.iter().find(|e| e.workflow_id == w).unwrap().workflow_path.clone();
    let workflows = group(|e| &e.workflow_id);
    let fast: Vec<f64> = workflows.iter().filter(|w| path_of(w) == "fast").map(|w| cost_of(w)).collect();
    let fast_track = if fast.is_empty() {
        BTreeSet::new()
    } else {
        let average = fast.iter().sum::<f64>() / fast.len() as f64;
        workflows
            .iter()
            .filter(|w| path_of(w) == "full" && cost_of(w) <= config.fast_track_max_cost_ratio * average)
            .cloned()
            .collect()
    };
    [sonnet, low_cache, fast_track]
}

fn hint_keys(json: &Value, hint: &str, key: &str) -> BTreeSet<String> {
    json["hints"][hint]["items"].as_array().unwrap().iter().map(|i| i[key].as_str().unwrap().to_string()).collect()
}

fn check_totals(totals: &Value, events: &[ApiRequest]) {
    let sum = |f: fn(&ApiRequest) -> u64| events.iter().map(f).sum::<u64>();
    assert_eq!(totals["requests"], events.len() as u64);
    assert_eq!(totals["input_tokens"], sum(|e| e.input_tokens));
    assert_eq!(totals["output_tokens"], sum(|e| e.output_tokens));
    assert_eq!(totals["cache_read_tokens"], sum(|e| e.cache_read_tokens));
    assert_eq!(totals["cache_creation_tokens"], sum(|e| e.cache_creation_tokens));
    let workflows: BTreeSet<_> = events.iter().map(|e| &e.workflow_id).collect();
    assert_eq!(totals["workflows"], workflows.len() as u64);
    let cost: f64 = events.iter().map(|e| e.cost_usd).sum();
    assert!(close(totals["cost_usd"].as_f64().unwrap(), cost), "{totals} vs {cost}");
    let opus_cost: f64 = events.iter().filter(|e| opus(e)).map(|e| e.cost_usd).sum();
    assert!(close(totals["opus_cost_usd"].as_f64().unwrap(), opus_cost), "{totals} vs {opus_cost}");
}

#[tokio::test]
async fn weekly_figures_equal_the_sums_of_the_input_and_hints_follow_their_conditions() {
    let db = loaded("weekly_figures").await;
    let json: Value = serde_json::from_str(&weekly(&db, &["--to", "2026-12-01", "--format", "json"])).unwrap();
    let (this_week, last_week) = (in_period(TO - 7 * DAY, TO), in_period(TO - 14 * DAY, TO - 7 * DAY));
    assert_eq!(json["period"]["from"], "2026-11-24T00:00:00.000Z");
    assert_eq!(json["previous_period"]["to"], "2026-11-24T00:00:00.000Z");
    check_totals(&json["current"], &this_week);
    check_totals(&json["previous"], &last_week);

    let cost = |events: &[ApiRequest]| events.iter().map(|e| e.cost_usd).sum::<f64>();
    let change = (cost(&this_week) - cost(&last_week)) / cost(&last_week);
    assert!(close(json["comparison"]["spend_change"].as_f64().unwrap(), change), "{}", json["comparison"]);
    let requests_change = (this_week.len() as f64 - last_week.len() as f64) / last_week.len() as f64;
    assert!(close(json["comparison"]["requests_change"].as_f64().unwrap(), requests_change));
    let read: u64 = this_week.iter().map(|e| e.cache_read_tokens).sum();
    let prompt: u64 = this_week.iter().map(|e| e.input_tokens + e.cache_read_tokens + e.cache_creation_tokens).sum();
    assert!(close(json["comparison"]["cache_efficiency"].as_f64().unwrap(), read as f64 / prompt as f64));
    let opus_cost: f64 = this_week.iter().filter(|e| opus(e)).map(|e| e.cost_usd).sum();
    assert!(close(json["comparison"]["opus_share"].as_f64().unwrap(), opus_cost / cost(&this_week)));

    // Top workflows: every workflow of the week, most expensive first, with its own sum.
    let top: Vec<(String, f64)> = json["top_workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["workflow_id"].as_str().unwrap().to_string(), w["cost_usd"].as_f64().unwrap()))
        .collect();
    assert_eq!(top.len(), 3);
    assert!(top.windows(2).all(|w| w[0].1 >= w[1].1), "{top:?}");
    for (workflow, value) in &top {
        let of: f64 = this_week.iter().filter(|e| &e.workflow_id == workflow).map(|e| e.cost_usd).sum();
        assert!(close(*value, of), "{workflow}");
    }

    // The hints hold exactly where the input says they should, and each is non-trivial here.
    let [sonnet, low_cache, fast_track] = expected_hints(&this_week);
    assert!(!sonnet.is_empty() && !low_cache.is_empty() && !fast_track.is_empty());
    assert_eq!(hint_keys(&json, "sonnet_candidates", "stage"), sonnet);
    assert_eq!(hint_keys(&json, "low_cache_reuse", "workflow_id"), low_cache);
    assert_eq!(hint_keys(&json, "fast_track_candidates", "workflow_id"), fast_track);
    for hint in ["sonnet_candidates", "low_cache_reuse", "fast_track_candidates"] {
        let sql = json["hints"][hint]["sql"].as_str().unwrap();
        let rows = db.run_sql(&format!("SELECT count() FROM ({sql})"), &[]).await;
        assert_eq!(
            rows.lines().nth(1),
            Some(json["hints"][hint]["items"].as_array().unwrap().len().to_string().as_str())
        );
    }
}

#[tokio::test]
async fn a_week_without_their_conditions_has_no_hints() {
    let db = loaded("weekly_no_hints").await;
    let last_week = in_period(TO - 14 * DAY, TO - 7 * DAY);
    assert_eq!(expected_hints(&last_week), [BTreeSet::new(), BTreeSet::new(), BTreeSet::new()]);
    let json: Value = serde_json::from_str(&weekly(&db, &["--to", "2026-11-24", "--format", "json"])).unwrap();
    check_totals(&json["current"], &last_week);
    check_totals(&json["previous"], &in_period(TO - 21 * DAY, TO - 14 * DAY));
    for hint in ["sonnet_candidates", "low_cache_reuse", "fast_track_candidates"] {
        assert_eq!(json["hints"][hint]["items"], Value::Array(vec![]), "{hint}");
    }
    let markdown = weekly(&db, &["--from", "2026-11-17T00:00:00Z", "--to", "2026-11-24T00:00:00Z"]);
    assert_eq!(markdown.matches("None this period").count(), 3, "{markdown}");

    let wrong = Command::new(BIN).args(["weekly", "--from", "last tuesday"]).output().unwrap();
    assert_eq!(wrong.status.code(), Some(64), "EX_USAGE");
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("--from \"last tuesday\": expected RFC 3339"));
}

#[tokio::test]
async fn the_markdown_matches_the_golden_file() {
    let db = loaded("weekly_golden").await;
    let markdown = weekly(&db, &["--to", "2026-12-01T00:00:00Z"]);
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weekly/summary.md");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &markdown).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(markdown, expected, "the summary changed; if intended, rerun with UPDATE_GOLDEN=1 and review the diff");
}

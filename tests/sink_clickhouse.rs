//! The ClickHouse edge: the schema and the row structs agree, the assessment's own SQL runs on the schema, and
//! rows written through the sink come back. Against the real engine (chdb behind the HTTP front, or
//! CLICKHOUSE_URL), one database per test.

mod support;

use clickhouse::Row;
use serde::Deserialize;
use support::clickhouse::fresh_database;
use tokenledger::beads::BeadsIssueRow;
use tokenledger::reshape::rows::{ApiErrorRow, ApiRequestRow, EventRow, MetricRow, SubagentRow, Table, ToolResultRow};

#[derive(Debug, Row, Deserialize)]
struct Column {
    name: String,
}

async fn columns(db: &support::clickhouse::TestDb, table: &str) -> Vec<String> {
    db.client
        .query("SELECT name FROM system.columns WHERE database = ? AND table = ? ORDER BY position")
        .bind(&db.name)
        .bind(table)
        .fetch_all::<Column>()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect()
}

fn names<T: Row>() -> Vec<String> {
    T::COLUMN_NAMES.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn every_row_struct_matches_its_table_column_for_column() {
    let db = fresh_database("schema_pair").await;
    db.apply_schema().await;
    for (table, fields) in [
        (ApiRequestRow::TABLE, names::<ApiRequestRow>()),
        (ToolResultRow::TABLE, names::<ToolResultRow>()),
        (ApiErrorRow::TABLE, names::<ApiErrorRow>()),
        (SubagentRow::TABLE, names::<SubagentRow>()),
        (EventRow::TABLE, names::<EventRow>()),
        (MetricRow::TABLE, names::<MetricRow>()),
        (BeadsIssueRow::TABLE, names::<BeadsIssueRow>()),
    ] {
        assert_eq!(columns(&db, table).await, fields, "{table}: struct fields and table columns, in order");
    }
}

#[tokio::test]
async fn schema_apply_is_idempotent() {
    let db = fresh_database("schema_twice").await;
    db.apply_schema().await;
    db.apply_schema().await;
    let tables =
        db.number(&format!("SELECT toFloat64(count()) FROM system.tables WHERE database = '{}'", db.name)).await;
    assert_eq!(tables, 18.0, "10 tables, 6 views and 2 refreshable materialized views");
}

#[tokio::test]
async fn validation_refuses_a_struct_that_drifted_from_its_table() {
    // A row type with one column renamed: the clickhouse crate's validation must refuse to insert it.
    #[derive(Debug, Row, serde::Serialize)]
    struct Drifted {
        timestamp: i64,
        event_key: u64,
        workflow: String,
    }
    let db = fresh_database("schema_drift").await;
    db.apply_schema().await;
    let result = async {
        let mut insert = db.client.insert::<Drifted>("otel_api_request_events").await?;
        insert.write(&Drifted { timestamp: 0, event_key: 1, workflow: "w".into() }).await?;
        insert.end().await
    }
    .await;
    assert!(result.is_err(), "a drifted struct was inserted");
}

use support::fixtures::assessment_sql;

async fn run_sql(db: &support::clickhouse::TestDb, sql: &str) -> String {
    db.run_sql(sql, &[]).await
}

#[tokio::test]
async fn the_assessments_own_sql_runs_verbatim_on_the_schema() {
    let db = fresh_database("assessment_sql").await;
    db.apply_schema().await;
    support::relay::send_fixtures(&db).await;
    run_sql(
        &db,
        "INSERT INTO beads_issues (id, title, status, issue_type, parent, workflow_id, created_at, updated_at) VALUES \
         ('.claude-4nq.1-analyze', 'Analyze', 'closed', 'task', '.claude-4nq', '.claude-4nq', now(), now()), \
         ('.claude-4nq.3-implement', 'Implement', 'open', 'task', '.claude-4nq', '.claude-4nq', now(), now())",
    )
    .await;

    for view in ["workflow_summary", "stage_performance", "model_cost_comparison"] {
        let body = run_sql(&db, &assessment_sql(&format!("view_{view}.sql"))).await;
        assert!(body.lines().count() > 1, "{view} returned rows:\n{body}");
    }
    let joined = run_sql(&db, &assessment_sql("beads_join.sql")).await;
    assert_eq!(joined.lines().count(), 3, "header + two Beads tasks with cost:\n{joined}");
    let latest = run_sql(&db, &assessment_sql("latest_api_requests.sql")).await;
    assert_eq!(latest.lines().count(), 6, "header + 5 rows:\n{latest}");
    let per_stage = run_sql(&db, &assessment_sql("per_stage.sql").replace("${WORKFLOW_ID}", ".claude-4nq")).await;
    let per_stage: serde_json::Value = serde_json::from_str(&per_stage).unwrap();
    let stages: Vec<_> = per_stage["data"].as_array().unwrap().iter().map(|r| r["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["analyze", "plan", "implement", "review"]);
}

#[tokio::test]
async fn the_shipped_views_keep_the_assessments_columns_and_a_bounded_cache_hit_rate() {
    let db = fresh_database("views").await;
    db.apply_schema().await;
    support::relay::send_fixtures(&db).await;
    let expected = [
        ("workflow_summary", "view_workflow_summary.sql"),
        ("stage_performance", "view_stage_performance.sql"),
        ("model_cost_comparison", "view_model_cost_comparison.sql"),
    ];
    for (view, sql) in expected {
        let ours = run_sql(&db, &format!("SELECT * FROM {view} LIMIT 0")).await;
        let theirs = run_sql(&db, &format!("SELECT * FROM ({}) LIMIT 0", assessment_sql(sql))).await;
        assert_eq!(ours.lines().next(), theirs.lines().next(), "{view} columns");
    }
    // Fixture usage per request: input 1200, cache_read 5000, cache_creation 300 → 5000 / 6500.
    let rate = db.number("SELECT toFloat64(assumeNotNull(max(cache_hit_rate))) FROM stage_performance").await;
    assert!((rate - 5000.0 / 6500.0).abs() < 1e-9, "{rate}");
    let theirs =
        db.number("SELECT toFloat64(max(cache_read_tokens) / max(input_tokens)) FROM otel_api_request_events").await;
    assert!(theirs > 1.0, "the assessment's formula exceeds 1 on the same data: {theirs}");
}

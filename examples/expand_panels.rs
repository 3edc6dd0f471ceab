//! Prints every ClickHouse panel query of grafana/dashboards, expanded as Grafana and the ClickHouse plugin expand
//! it (the expansion of tests/support/grafana.rs, the one tests/grafana_panels.rs checks), as JSON lines
//! `{"dashboard", "panel", "sql"}`: for benches/panels.py, which times them.
//!
//!     cargo run --example expand_panels -- FROM_MS TO_MS WORKFLOW_ID
//!
//! Multi-value variables are at All (the dashboards' default), the detail dashboard's workflow_id is WORKFLOW_ID,
//! custom variables keep their default; the interval is the range / 1000 points, as a wide panel gets it.

// Shared with the tests, which use parts this example does not (the error classification).
#[allow(dead_code)]
#[path = "../tests/support/grafana.rs"]
mod grafana;

use std::collections::BTreeMap;
use std::path::PathBuf;

use grafana::{QueryTime, Variable, ALL};
use serde_json::{json, Value};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() == 3, "usage: expand_panels FROM_MS TO_MS WORKFLOW_ID");
    let (from_ms, to_ms): (i64, i64) = (args[0].parse()?, args[1].parse()?);
    let time = QueryTime { from_ms, to_ms, interval_ms: ((to_ms - from_ms) / 1000).max(1000) };
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    paths.sort();
    for path in paths.iter().filter(|p| p.extension().is_some_and(|x| x == "json")) {
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
        let mut variables = BTreeMap::new();
        for v in dashboard["templating"]["list"].as_array().into_iter().flatten() {
            let name = v["name"].as_str().unwrap_or_default().to_string();
            let current = if v["multi"] == true {
                vec![ALL.to_string()]
            } else if v["type"] == "custom" {
                vec![v["current"]["value"].as_str().unwrap_or_default().to_string()]
            } else {
                vec![args[2].clone()]
            };
            variables.insert(name, Variable { current, ..Default::default() });
        }
        for panel in dashboard["panels"].as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if target["datasource"]["type"] != "grafana-clickhouse-datasource" {
                    continue;
                }
                let sql = grafana::expand(target["rawSql"].as_str().unwrap_or_default(), &variables, time)?;
                let line = json!({"dashboard": dashboard["uid"], "panel": panel["title"], "sql": sql});
                println!("{line}");
            }
        }
    }
    Ok(())
}

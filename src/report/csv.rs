//! CSV: one row per group with raw numbers (tokens as integers, costs in USD, durations in ms), for spreadsheets.
//! A workflow report lists its stages, then its agents, then the total (`section` says which); a top report its
//! rows, then the total.

use super::model::{Figures, Report};

const FIGURE_COLUMNS: [&str; 16] = [
    "requests",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "cache_hit_rate",
    "cost_usd",
    "recomputed_cost_usd",
    "started_at",
    "ended_at",
    "wall_clock_ms",
    "request_duration_ms",
    "models",
    "tool_calls",
    "tool_failures",
    "api_errors",
];

fn figure_fields(f: &Figures) -> Vec<String> {
    let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    vec![
        f.requests.to_string(),
        f.input_tokens.to_string(),
        f.output_tokens.to_string(),
        f.cache_read_tokens.to_string(),
        f.cache_creation_tokens.to_string(),
        opt(f.cache_hit_rate),
        f.cost_usd.to_string(),
        opt(f.recomputed_cost_usd),
        f.started_at.clone().unwrap_or_default(),
        f.ended_at.clone().unwrap_or_default(),
        f.wall_clock_ms.to_string(),
        f.request_duration_ms.to_string(),
        f.models.join(";"),
        f.tool_calls.to_string(),
        f.tool_failures.to_string(),
        f.api_errors.to_string(),
    ]
}

/// Renders a report as CSV.
pub fn render(report: &Report) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut write = |record: Vec<String>| writer.write_record(&record).expect("writing CSV to memory");
    match report {
        Report::Workflow(r) => {
            write(
                ["workflow_id", "section", "name", "related"]
                    .iter()
                    .chain(FIGURE_COLUMNS.iter())
                    .map(|s| s.to_string())
                    .collect(),
            );
            let mut row = |section: &str, name: &str, related: &[String], f: &Figures| {
                let lead = [r.workflow_id.clone(), section.into(), name.into(), related.join(";")];
                write(lead.into_iter().chain(figure_fields(f)).collect());
            };
            for s in &r.stages {
                row("stage", &s.stage, &s.agents, &s.figures);
            }
            for a in &r.agents {
                row("agent", &a.agent, &a.stages, &a.figures);
            }
            row("total", "", &[], &r.totals);
        }
        Report::Top(r) => {
            let lead = ["by", "key", "workflows", "workflow_paths", "stages", "status", "price_flagged"];
            write(lead.iter().chain(FIGURE_COLUMNS.iter()).map(|s| s.to_string()).collect());
            for row in &r.rows {
                let lead = [
                    r.by.name().to_string(),
                    row.key.clone(),
                    row.workflows.to_string(),
                    row.workflow_paths.join(";"),
                    row.stages.join(";"),
                    row.status.clone().unwrap_or_default(),
                    row.price_flagged.to_string(),
                ];
                write(lead.into_iter().chain(figure_fields(&row.figures)).collect());
            }
            let lead = [
                r.by.name().to_string(),
                "total".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                r.price_check.flagged.to_string(),
            ];
            write(lead.into_iter().chain(figure_fields(&r.totals)).collect());
        }
    }
    String::from_utf8(writer.into_inner().expect("flushing CSV to memory")).expect("CSV of UTF-8 strings")
}

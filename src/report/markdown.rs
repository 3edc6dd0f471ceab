//! GitHub-flavoured Markdown: a headline, one table per grouping with a bold total row, the price check. Suitable
//! for a PR comment or a Beads issue.

use super::model::{Dimension, Figures, Report, TopReport, WorkflowReport};
use super::units::{self, figure_cells, name_or_none, FIGURE_HEADERS};

/// Renders a report as Markdown.
pub fn render(report: &Report) -> String {
    match report {
        Report::Workflow(r) => workflow(r),
        Report::Top(r) => top(r),
    }
}

fn workflow(r: &WorkflowReport) -> String {
    let mut out = format!("## Workflow `{}`\n\n", escape(&r.workflow_id));
    if !r.workflow_paths.is_empty() {
        out.push_str(&format!("Path: {}. ", escape(&r.workflow_paths.join(", "))));
    }
    out.push_str(&format!(
        "{} requests, {} reported cost, {} stages, {} agents.\n\n### Stages\n\n",
        r.totals.requests,
        units::usd(r.totals.cost_usd),
        r.stages.len(),
        r.agents.len()
    ));
    let stages = r.stages.iter().map(|s| (vec![name_or_none(&s.stage).to_string(), s.agents.join(", ")], &s.figures));
    out.push_str(&table(&["stage", "agents"], stages, &r.totals));
    out.push_str("\n### Agents\n\n");
    let agents = r.agents.iter().map(|a| (vec![name_or_none(&a.agent).to_string(), a.stages.join(", ")], &a.figures));
    out.push_str(&table(&["agent", "stages"], agents, &r.totals));
    out.push_str("\n### Price check\n\n");
    out.push_str(&super::table::price_lines(&r.price_check, false));
    out
}

fn top(r: &TopReport) -> String {
    let mut out = format!(
        "## Top {} by cost\n\n{} to {}: {} requests, {} reported cost.\n\n",
        r.by.name(),
        r.from,
        r.to,
        r.totals.requests,
        units::usd(r.totals.cost_usd)
    );
    let workflow = r.by == Dimension::Workflow;
    let headers: Vec<&str> =
        if workflow { vec![r.by.name(), "path", "stages", "status"] } else { vec![r.by.name(), "workflows"] };
    let rows = r.rows.iter().map(|row| {
        let key = format!("{}{}", name_or_none(&row.key), if row.price_flagged { " ⚠" } else { "" });
        let lead = if workflow {
            vec![key, row.workflow_paths.join(", "), row.stages.join(" → "), row.status.clone().unwrap_or_default()]
        } else {
            vec![key, row.workflows.to_string()]
        };
        (lead, &row.figures)
    });
    out.push_str(&table(&headers, rows, &r.totals));
    if r.rows_omitted > 0 {
        out.push_str(&format!("\n{} more beyond the limit of {}.\n", r.rows_omitted, r.limit));
    }
    out.push_str("\n### Price check\n\n");
    out.push_str(&super::table::price_lines(&r.price_check, false));
    out
}

fn table<'a>(lead: &[&str], rows: impl Iterator<Item = (Vec<String>, &'a Figures)>, totals: &Figures) -> String {
    let headers: Vec<&str> = lead.iter().chain(FIGURE_HEADERS.iter()).copied().collect();
    let mut out = format!("| {} |\n", headers.join(" | "));
    let aligns: Vec<&str> =
        (0..headers.len()).map(|i| if i >= lead.len() && i < headers.len() - 1 { "---:" } else { "---" }).collect();
    out.push_str(&format!("|{}|\n", aligns.join("|")));
    let line =
        |cells: Vec<String>| format!("| {} |\n", cells.iter().map(|c| escape(c)).collect::<Vec<_>>().join(" | "));
    for (lead_cells, figures) in rows {
        out.push_str(&line(lead_cells.into_iter().chain(figure_cells(figures)).collect()));
    }
    let mut total: Vec<String> = vec![String::new(); lead.len()];
    total[0] = "total".into();
    let total: Vec<String> = total
        .into_iter()
        .chain(figure_cells(totals))
        .map(|c| if c.is_empty() { c } else { format!("**{c}**") })
        .collect();
    out.push_str(&line(total));
    out
}

/// Escapes what Markdown table cells treat specially.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('`', "'")
}

//! The terminal table: a headline, one aligned table per grouping with a total row, the price check. Colour (bold
//! headers and totals, red flags) only when asked for; the caller decides (a terminal, no NO_COLOR).

use comfy_table::{presets, Attribute, Cell, CellAlignment, Color, ContentArrangement, Table};

use super::model::{Figures, PriceCheck, Report, TopReport, WorkflowReport};
use super::units::{self, figure_cells, name_or_none, FIGURE_HEADERS};

/// Renders a report as text tables.
pub fn render(report: &Report, colour: bool) -> String {
    match report {
        Report::Workflow(r) => workflow(r, colour),
        Report::Top(r) => top(r, colour),
    }
}

fn workflow(r: &WorkflowReport, colour: bool) -> String {
    let mut out = format!(
        "Workflow {}{}: {} requests, {}, {} stages, {} agents\n\n",
        r.workflow_id,
        if r.workflow_paths.is_empty() { String::new() } else { format!(" (path {})", r.workflow_paths.join(", ")) },
        r.totals.requests,
        units::usd(r.totals.cost_usd),
        r.stages.len(),
        r.agents.len()
    );
    let stages = r.stages.iter().map(|s| (vec![name_or_none(&s.stage).to_string()], &s.figures));
    out.push_str("Stages\n");
    out.push_str(&grid(&["stage"], stages, &r.totals, colour));
    let agents = r.agents.iter().map(|a| (vec![name_or_none(&a.agent).to_string()], &a.figures));
    out.push_str("\nAgents\n");
    out.push_str(&grid(&["agent"], agents, &r.totals, colour));
    out.push('\n');
    out.push_str(&price_lines(&r.price_check, colour));
    out
}

fn top(r: &TopReport, colour: bool) -> String {
    let mut out = format!(
        "Top {} by cost, {} to {}: {} requests, {}\n\n",
        r.by.name(),
        r.from,
        r.to,
        r.totals.requests,
        units::usd(r.totals.cost_usd)
    );
    let workflow = r.by == super::model::Dimension::Workflow;
    let headers: Vec<&str> =
        if workflow { vec![r.by.name(), "path", "stages", "status"] } else { vec![r.by.name(), "workflows"] };
    let rows = r.rows.iter().map(|row| {
        let mut key = name_or_none(&row.key).to_string();
        if row.price_flagged {
            key.push_str(" !");
        }
        let lead = if workflow {
            vec![key, row.workflow_paths.join(", "), row.stages.join(" > "), row.status.clone().unwrap_or_default()]
        } else {
            vec![key, row.workflows.to_string()]
        };
        (lead, &row.figures)
    });
    out.push_str(&grid(&headers, rows, &r.totals, colour));
    if r.rows_omitted > 0 {
        out.push_str(&format!("({} more beyond --limit {})\n", r.rows_omitted, r.limit));
    }
    out.push('\n');
    out.push_str(&price_lines(&r.price_check, colour));
    out
}

/// A table of `lead` columns then the figure columns, one row per group, then a total row.
fn grid<'a>(
    lead: &[&str],
    rows: impl Iterator<Item = (Vec<String>, &'a Figures)>,
    totals: &Figures,
    colour: bool,
) -> String {
    let mut table = Table::new();
    table.load_style(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled);
    table.force_no_tty();
    if colour {
        table.enforce_styling();
    }
    let style = |cell: Cell, bold: bool| if colour && bold { cell.add_attribute(Attribute::Bold) } else { cell };
    table.set_header(lead.iter().chain(FIGURE_HEADERS.iter()).map(|h| style(Cell::new(h), true)));
    let numeric = lead.len()..lead.len() + FIGURE_HEADERS.len() - 1;
    let mut add = |cells: Vec<String>, bold: bool, flagged: bool| {
        table.add_row(cells.into_iter().enumerate().map(|(i, text)| {
            let mut cell = style(Cell::new(text), bold);
            if numeric.contains(&i) {
                cell = cell.set_alignment(CellAlignment::Right);
            }
            if colour && flagged && i == lead.len() + 7 {
                cell = cell.fg(Color::Red);
            }
            cell
        }));
    };
    for (lead_cells, figures) in rows {
        let flagged = figures.recomputed_cost_usd.is_none_or(|r| (figures.cost_usd - r).abs() > 0.01 * r);
        add(lead_cells.into_iter().chain(figure_cells(figures)).collect(), false, flagged);
    }
    let mut total_lead = vec![String::new(); lead.len()];
    total_lead[0] = "total".into();
    add(total_lead.into_iter().chain(figure_cells(totals)).collect(), true, false);
    table.to_string() + "\n"
}

/// The price check as lines of text.
pub fn price_lines(check: &PriceCheck, colour: bool) -> String {
    let (verdict, paint) = if check.flagged {
        (format!("FLAGGED, differs by more than {:.0}% (in total or for a model)", check.tolerance * 100.0), "\x1b[31m")
    } else {
        (format!("within {:.0}%", check.tolerance * 100.0), "\x1b[32m")
    };
    let verdict = if colour { format!("{paint}{verdict}\x1b[0m") } else { verdict };
    let mut out = format!(
        "Price check: reported {} vs recomputed from tokens {} ({}): {verdict}\n",
        units::usd(check.reported_priced_cost_usd),
        units::usd(check.recomputed_cost_usd),
        units::signed_percent(check.difference_ratio)
    );
    for model in check.models.iter().filter(|m| m.flagged) {
        out.push_str(&format!(
            "  {}: reported {} vs {} ({})\n",
            model.model,
            units::usd(model.reported_cost_usd),
            units::usd(model.recomputed_cost_usd.unwrap_or_default()),
            units::signed_percent(model.difference_ratio)
        ));
    }
    if !check.unknown_models.is_empty() {
        out.push_str(&format!(
            "Unknown models (no price, not counted above): {} ({} reported)\n",
            check.unknown_models.join(", "),
            units::usd(check.unknown_models_cost_usd)
        ));
    }
    out
}

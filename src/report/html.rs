//! One self-contained HTML page (inline CSS, inline SVG bar charts, no script, nothing fetched): the totals, the
//! tables with exact numbers (tokens as integers, costs to six decimals), cost per stage and per agent as bars,
//! and the price check. Made for attaching to a PR or a Beads issue. Cells carry `data-field` so tests find them.

use super::model::{Dimension, Figures, PriceCheck, Report, TopReport, WorkflowReport};
use super::units::{self, name_or_none};

/// Renders a report as an HTML document.
pub fn render(report: &Report) -> String {
    match report {
        Report::Workflow(r) => workflow(r),
        Report::Top(r) => top(r),
    }
}

const STYLE: &str = "\
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.sub{color:#59636e;margin-bottom:16px}
.tiles{display:flex;flex-wrap:wrap;gap:12px}
.tile{border:1px solid #d1d9e0;border-radius:6px;padding:8px 14px;min-width:110px}
.tile .v{font-size:20px;font-weight:600}.tile .k{color:#59636e;font-size:12px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #d1d9e0;padding:4px 10px;text-align:right;white-space:nowrap}
th{background:#f6f8fa}th:first-child,td:first-child,.text{text-align:left}
tr.total td{font-weight:600;border-top:2px solid #59636e}
td[data-field=models]{white-space:normal;min-width:200px}
.charts{display:flex;flex-wrap:wrap;gap:32px}
.ok{color:#1a7f37}.flag{color:#cf222e;font-weight:600}
svg text{font:12px system-ui,sans-serif;fill:#1f2328}
";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>\n{STYLE}</style>\n\
         </head>\n<body>\n{body}</body>\n</html>\n",
        esc(title)
    )
}

fn workflow(r: &WorkflowReport) -> String {
    let mut body = format!("<h1>Workflow <code>{}</code></h1>\n", esc(&r.workflow_id));
    body.push_str(&format!(
        "<div class=\"sub\">path {} &middot; {} &ndash; {}</div>\n",
        esc(&if r.workflow_paths.is_empty() { "-".into() } else { r.workflow_paths.join(", ") }),
        esc(r.totals.started_at.as_deref().unwrap_or("-")),
        esc(r.totals.ended_at.as_deref().unwrap_or("-"))
    ));
    body.push_str(&tiles(&r.totals));
    body.push_str("<h2>Cost per stage and per agent</h2>\n<div class=\"charts\">\n");
    let stage_bars: Vec<(String, f64)> =
        r.stages.iter().map(|s| (name_or_none(&s.stage).to_string(), s.figures.cost_usd)).collect();
    let agent_bars: Vec<(String, f64)> =
        r.agents.iter().map(|a| (name_or_none(&a.agent).to_string(), a.figures.cost_usd)).collect();
    body.push_str(&bar_chart("cost-per-stage", "Stages", &stage_bars));
    body.push_str(&bar_chart("cost-per-agent", "Agents", &agent_bars));
    body.push_str("</div>\n<h2>Stages</h2>\n");
    let stages = r.stages.iter().map(|s| (("stage", s.stage.as_str()), vec![s.agents.join(", ")], &s.figures));
    body.push_str(&table(&["stage", "agents"], stages, &r.totals));
    body.push_str("<h2>Agents</h2>\n");
    let agents = r.agents.iter().map(|a| (("agent", a.agent.as_str()), vec![a.stages.join(", ")], &a.figures));
    body.push_str(&table(&["agent", "stages"], agents, &r.totals));
    body.push_str(&price_check(&r.price_check));
    page(&format!("tokenledger: workflow {}", r.workflow_id), &body)
}

fn top(r: &TopReport) -> String {
    let mut body = format!("<h1>Top {} by cost</h1>\n", r.by.name());
    body.push_str(&format!("<div class=\"sub\">{} &ndash; {}</div>\n", esc(&r.from), esc(&r.to)));
    body.push_str(&tiles(&r.totals));
    let bars: Vec<(String, f64)> =
        r.rows.iter().map(|row| (name_or_none(&row.key).to_string(), row.figures.cost_usd)).collect();
    body.push_str(&format!("<h2>Cost per {}</h2>\n", r.by.name()));
    body.push_str(&bar_chart("cost-per-row", r.by.name(), &bars));
    let workflow = r.by == Dimension::Workflow;
    let headers: Vec<&str> =
        if workflow { vec![r.by.name(), "path", "stages", "status"] } else { vec![r.by.name(), "workflows"] };
    let rows = r.rows.iter().map(|row| {
        let extra = if workflow {
            vec![row.workflow_paths.join(", "), row.stages.join(" → "), row.status.clone().unwrap_or_default()]
        } else {
            vec![row.workflows.to_string()]
        };
        (("key", row.key.as_str()), extra, &row.figures)
    });
    body.push_str("<h2>Rows</h2>\n");
    body.push_str(&table(&headers, rows, &r.totals));
    if r.rows_omitted > 0 {
        body.push_str(&format!("<p>{} more beyond the limit of {}.</p>\n", r.rows_omitted, r.limit));
    }
    body.push_str(&price_check(&r.price_check));
    page(&format!("tokenledger: top {} by cost", r.by.name()), &body)
}

fn tiles(f: &Figures) -> String {
    let tile = |field: &str, value: String, label: &str| {
        format!("<div class=\"tile\"><div class=\"v\" data-field=\"{field}\">{value}</div><div class=\"k\">{label}</div></div>\n")
    };
    let mut out = String::from("<div class=\"tiles\">\n");
    out.push_str(&tile("cost_usd", format!("${:.6}", f.cost_usd), "reported cost"));
    out.push_str(&tile("requests", f.requests.to_string(), "requests"));
    out.push_str(&tile("input_tokens", f.input_tokens.to_string(), "input tokens"));
    out.push_str(&tile("output_tokens", f.output_tokens.to_string(), "output tokens"));
    out.push_str(&tile("cache_hit_rate", units::percent(f.cache_hit_rate), "cache hit rate"));
    out.push_str(&tile("wall_clock_ms", units::duration_ms(f.wall_clock_ms), "wall clock"));
    out.push_str(&tile("tool_calls", f.tool_calls.to_string(), "tool calls"));
    out.push_str("</div>\n");
    out
}

/// Horizontal bars of `values`, scaled to the largest; each labelled with its name and cost.
fn bar_chart(id: &str, title: &str, values: &[(String, f64)]) -> String {
    const LABEL: f64 = 130.0;
    const BAR: f64 = 300.0;
    const ROW: f64 = 26.0;
    let max = values.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let height = ROW * values.len() as f64 + 30.0;
    let mut svg = format!(
        "<figure><svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" role=\"img\" \
         aria-label=\"{t}\">\n<text x=\"0\" y=\"14\" font-weight=\"600\">{t}</text>\n",
        w = LABEL + BAR + 90.0,
        t = esc(title)
    );
    for (i, (name, value)) in values.iter().enumerate() {
        let y = 24.0 + ROW * i as f64;
        let width = if max > 0.0 { (value / max * BAR).max(1.0) } else { 1.0 };
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{ty}\">{name}</text><rect x=\"{LABEL}\" y=\"{y}\" width=\"{width:.1}\" height=\"18\" \
             rx=\"3\" fill=\"#0969da\"/><text x=\"{tx:.1}\" y=\"{ty}\">{cost}</text>\n",
            ty = y + 13.0,
            name = esc(name),
            tx = LABEL + width + 6.0,
            cost = units::usd(*value)
        ));
    }
    svg.push_str("</svg></figure>\n");
    svg
}

/// A table: the key column (its row carries `data-<kind>="<key>"`), `extra` text columns, then the figures.
fn table<'a>(
    lead: &[&str],
    rows: impl Iterator<Item = ((&'static str, &'a str), Vec<String>, &'a Figures)>,
    totals: &Figures,
) -> String {
    let numeric = [
        "requests",
        "input",
        "output",
        "cache read",
        "cache write",
        "cache hit",
        "cost (USD)",
        "recomputed (USD)",
        "span",
        "request time",
        "tools",
        "tool fails",
        "API errors",
    ];
    let mut out = String::from("<table>\n<thead><tr>");
    for h in lead {
        out.push_str(&format!("<th class=\"text\">{}</th>", esc(h)));
    }
    for h in numeric {
        out.push_str(&format!("<th>{}</th>", esc(h)));
    }
    out.push_str("<th class=\"text\">models</th>");
    out.push_str("</tr></thead>\n<tbody>\n");
    for ((kind, key), extra, figures) in rows {
        out.push_str(&format!("<tr data-{kind}=\"{}\"><td>{}</td>", esc(key), esc(name_or_none(key))));
        for text in extra {
            out.push_str(&format!("<td class=\"text\">{}</td>", esc(&text)));
        }
        out.push_str(&figure_cells(figures));
        out.push_str("</tr>\n");
    }
    out.push_str("<tr class=\"total\" data-total=\"\"><td>total</td>");
    out.push_str(&"<td></td>".repeat(lead.len() - 1));
    out.push_str(&figure_cells(totals));
    out.push_str("</tr>\n</tbody>\n</table>\n");
    out
}

fn figure_cells(f: &Figures) -> String {
    let cell = |field: &str, text: String| format!("<td data-field=\"{field}\">{}</td>", esc(&text));
    [
        cell("requests", f.requests.to_string()),
        cell("input_tokens", f.input_tokens.to_string()),
        cell("output_tokens", f.output_tokens.to_string()),
        cell("cache_read_tokens", f.cache_read_tokens.to_string()),
        cell("cache_creation_tokens", f.cache_creation_tokens.to_string()),
        cell("cache_hit_rate", units::percent(f.cache_hit_rate)),
        cell("cost_usd", format!("{:.6}", f.cost_usd)),
        cell(
            "recomputed_cost_usd",
            f.recomputed_cost_usd.map_or_else(|| "unknown model".into(), |c| format!("{c:.6}")),
        ),
        cell("wall_clock_ms", units::duration_ms(f.wall_clock_ms)),
        cell("request_duration_ms", units::duration_ms(f.request_duration_ms)),
        cell("tool_calls", f.tool_calls.to_string()),
        cell("tool_failures", f.tool_failures.to_string()),
        cell("api_errors", f.api_errors.to_string()),
        format!("<td class=\"text\" data-field=\"models\">{}</td>", esc(&f.models.join(", "))),
    ]
    .concat()
}

fn price_check(check: &PriceCheck) -> String {
    let verdict = if check.flagged {
        format!(
            "<span class=\"flag\">flagged: differs by more than {:.0}% (in total or for a model)</span>",
            check.tolerance * 100.0
        )
    } else {
        format!("<span class=\"ok\">within {:.0}%</span>", check.tolerance * 100.0)
    };
    let mut out = format!(
        "<h2>Price check</h2>\n<p data-field=\"price_check\">Reported <b>${:.6}</b>, recomputed from tokens with the \
         price table <b>${:.6}</b> ({}): {verdict}.</p>\n",
        check.reported_priced_cost_usd,
        check.recomputed_cost_usd,
        units::signed_percent(check.difference_ratio)
    );
    if !check.unknown_models.is_empty() {
        out.push_str(&format!(
            "<p class=\"flag\" data-field=\"unknown_models\">Unknown models (no price, not counted above): {} \
             (${:.6} reported)</p>\n",
            esc(&check.unknown_models.join(", ")),
            check.unknown_models_cost_usd
        ));
    }
    out
}

/// Escapes text for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_fetched_and_text_is_escaped() {
        let report = WorkflowReport { workflow_id: "<wf & co>".into(), ..WorkflowReport::default() };
        let html = workflow(&report);
        assert!(html.contains("&lt;wf &amp; co&gt;") && !html.contains("<wf"));
        for fetch in ["<script", "<link", "src=", "@import", "url("] {
            assert!(!html.contains(fetch), "{fetch}");
        }
    }
}

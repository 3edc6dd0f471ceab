//! The weekly summary as Markdown, ready to post (GitHub-flavoured: tables, and `<details>` blocks holding each
//! query). Pure: the same [`Weekly`] always gives the same text.

use std::fmt::Write;

use super::{relative, Hint, Weekly};
use crate::ledger::human::{change, count, percent, points, usd};

/// Renders the summary.
pub fn render(weekly: &Weekly) -> String {
    let mut out = String::new();
    let (now, before, c) = (&weekly.current, &weekly.previous, &weekly.comparison);
    let _ = writeln!(out, "# Claude Code usage: {}\n", weekly.period.label());
    let _ = writeln!(
        out,
        "**Spend {}** ({}), {} requests in {} workflows; cache efficiency {}; Opus {} of spend.\n",
        usd(now.cost_usd),
        match c.spend_change {
            Some(_) => format!("{} against the previous period", change(c.spend_change)),
            None => "nothing spent in the previous period".into(),
        },
        count(now.requests),
        count(now.workflows),
        percent(c.cache_efficiency),
        percent(c.opus_share),
    );
    let _ = writeln!(out, "| figure | this period | previous period | change |\n|---|---:|---:|---:|");
    let _ = writeln!(out, "| spend | {} | {} | {} |", usd(now.cost_usd), usd(before.cost_usd), change(c.spend_change));
    let _ = writeln!(
        out,
        "| requests | {} | {} | {} |",
        count(now.requests),
        count(before.requests),
        change(c.requests_change)
    );
    let _ = writeln!(
        out,
        "| workflows | {} | {} | {} |",
        count(now.workflows),
        count(before.workflows),
        change(relative(now.workflows as f64, before.workflows as f64))
    );
    for (name, a, b) in [
        ("input tokens", now.input_tokens, before.input_tokens),
        ("output tokens", now.output_tokens, before.output_tokens),
        ("cache read tokens", now.cache_read_tokens, before.cache_read_tokens),
        ("cache creation tokens", now.cache_creation_tokens, before.cache_creation_tokens),
    ] {
        let _ = writeln!(out, "| {name} | {} | {} | {} |", count(a), count(b), change(relative(a as f64, b as f64)));
    }
    let difference = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a - b);
    let _ = writeln!(
        out,
        "| cache efficiency | {} | {} | {} |",
        percent(c.cache_efficiency),
        percent(c.previous_cache_efficiency),
        points(difference(c.cache_efficiency, c.previous_cache_efficiency))
    );
    let _ = writeln!(
        out,
        "| Opus share of spend | {} | {} | {} |\n",
        percent(c.opus_share),
        percent(c.previous_opus_share),
        points(difference(c.opus_share, c.previous_opus_share))
    );
    let _ = writeln!(
        out,
        "Previous period: {}. Cache efficiency is cache_read / (input + cache_read + cache_creation) tokens.\n",
        weekly.previous_period.label()
    );

    let _ = writeln!(out, "## Top workflows\n");
    if weekly.top_workflows.is_empty() {
        let _ = writeln!(out, "No workflow had requests in this period.\n");
    } else {
        let _ = writeln!(
            out,
            "| workflow | path | stages | requests | cost | cache hit rate |\n|---|---|---|---:|---:|---:|"
        );
        for w in &weekly.top_workflows {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                w.workflow_id,
                or_dash(&w.workflow_path),
                or_dash(&w.stages.join(", ")),
                count(w.requests),
                usd(w.cost_usd),
                percent(w.cache_hit_rate)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Top stages\n");
    if weekly.top_stages.is_empty() {
        let _ = writeln!(out, "No staged requests in this period.\n");
    } else {
        let _ = writeln!(out, "| stage | requests | workflows | cost | Opus share |\n|---|---:|---:|---:|---:|");
        for s in &weekly.top_stages {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                s.stage,
                count(s.requests),
                count(s.workflows),
                usd(s.cost_usd),
                percent(relative_share(s.opus_cost_usd, s.cost_usd))
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Optimization hints\n");
    let hints = &weekly.hints;
    section(&mut out, "Stages that could move to Sonnet", &hints.sonnet_candidates, |c| {
        format!(
            "stage **{}**: {} of its {} spent on Opus ({}, {})",
            c.stage,
            usd(c.opus_cost_usd),
            usd(c.cost_usd),
            percent(Some(c.opus_share)),
            requests(c.opus_requests)
        )
    });
    section(&mut out, "Workflows with low cache reuse", &hints.low_cache_reuse, |c| {
        format!(
            "workflow `{}`: cache hit rate {} ({} of {} prompt tokens read from the cache, {})",
            c.workflow_id,
            percent(Some(c.cache_hit_rate)),
            count(c.cache_read),
            count(c.prompt_tokens),
            requests(c.requests)
        )
    });
    section(&mut out, "Fast-track candidates", &hints.fast_track_candidates, |c| {
        format!(
            "workflow `{}` (full path): {} in {}, against {} for the average fast-track workflow",
            c.workflow_id,
            usd(c.cost_usd),
            requests(c.requests),
            usd(c.fast_average_cost_usd)
        )
    });

    let _ = writeln!(out, "<details><summary>Queries behind the figures above</summary>\n");
    for query in &weekly.queries {
        let _ = writeln!(out, "{}:\n\n```sql\n{}\n```\n", query.name, query.sql);
    }
    let _ = writeln!(out, "</details>");
    out
}

fn section<T>(out: &mut String, title: &str, hint: &Hint<T>, line: impl Fn(&T) -> String) {
    let _ = writeln!(out, "### {title}\n");
    if hint.items.is_empty() {
        let _ = writeln!(out, "None this period (the hint applies when {}).\n", hint.condition);
    } else {
        let _ = writeln!(out, "Listed because {}:\n", hint.condition);
        for item in &hint.items {
            let _ = writeln!(out, "- {}", line(item));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "<details><summary>Query</summary>\n\n```sql\n{}\n```\n\n</details>\n", hint.sql);
}

fn requests(n: u64) -> String {
    match n {
        1 => "1 request".into(),
        n => format!("{} requests", count(n)),
    }
}

fn or_dash(text: &str) -> &str {
    if text.is_empty() {
        "–"
    } else {
        text
    }
}

fn relative_share(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part / whole)
}

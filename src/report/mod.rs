//! Reports, pure: [`build`] adds up the ledger's rows into a [`model::Report`], and one renderer per format turns
//! it into text (`table`, `json`, `csv`, `markdown`, `html`). Nothing here does I/O; cli/report.rs queries and
//! prints.

pub mod build;
pub mod csv;
pub mod html;
pub mod markdown;
pub mod model;
pub mod table;
pub mod units;

use model::Report;

/// The output formats of `tokenledger report`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, human units; colour only on a terminal without NO_COLOR.
    #[default]
    Table,
    /// The report's data, field names as documented in README.md.
    Json,
    /// One row per group, raw numbers.
    Csv,
    /// GitHub-flavoured Markdown tables.
    Markdown,
    /// One self-contained page: inline CSS, inline SVG charts, no network.
    Html,
}

/// Renders `report` in `format`; `colour` applies to `table` only.
pub fn render(report: &Report, format: Format, colour: bool) -> String {
    match format {
        Format::Table => table::render(report, colour),
        Format::Json => json(report),
        Format::Csv => csv::render(report),
        Format::Markdown => markdown::render(report),
        Format::Html => html::render(report),
    }
}

fn json(report: &Report) -> String {
    let text = match report {
        Report::Workflow(r) => serde_json::to_string_pretty(r),
        Report::Top(r) => serde_json::to_string_pretty(r),
    };
    text.expect("reports serialize") + "\n"
}

//! The ClickHouse schema (clickhouse/*.sql, built into the binary) and applying it.

/// The schema files in the order they are applied.
pub const FILES: [(&str, &str); 4] = [
    ("001_tables.sql", include_str!("../../clickhouse/001_tables.sql")),
    ("002_views.sql", include_str!("../../clickhouse/002_views.sql")),
    ("003_prices.sql", include_str!("../../clickhouse/003_prices.sql")),
    ("004_grafana.sql", include_str!("../../clickhouse/004_grafana.sql")),
];

/// The refreshable materialized views (004_grafana.sql) that recompute the hourly rollups every minute; tests and
/// benches run `SYSTEM REFRESH VIEW` then `SYSTEM WAIT VIEW` on each to read fresh rollups at once.
pub const ROLLUP_VIEWS: [&str; 2] = ["api_request_hourly_refresh", "workflow_failures_hourly_refresh"];

/// Every statement of the schema, in order: statements end with `;` at the end of a line; `--` lines are
/// comments.
pub fn statements() -> Vec<String> {
    let mut out = Vec::new();
    for (_, text) in FILES {
        let mut current = String::new();
        for line in text.lines() {
            if line.trim_start().starts_with("--") || (current.is_empty() && line.trim().is_empty()) {
                continue;
            }
            current.push_str(line);
            current.push('\n');
            if line.trim_end().ends_with(';') {
                let statement = current.trim().trim_end_matches(';').to_string();
                out.push(statement);
                current.clear();
            }
        }
    }
    out
}

/// The schema as one SQL text for `schema print`, with the database created first.
pub fn print(database: &str) -> String {
    let mut text = format!("CREATE DATABASE IF NOT EXISTS `{database}`;\n\n");
    for (name, sql) in FILES {
        text.push_str(&format!("-- {name}\n{sql}\n"));
    }
    text
}

/// Creates the database and applies every statement (all idempotent).
pub async fn apply(client: &clickhouse::Client, database: &str) -> Result<usize, clickhouse::error::Error> {
    // The database may not exist yet, so this one statement runs without it.
    client
        .clone()
        .with_database("default")
        .query(&format!("CREATE DATABASE IF NOT EXISTS `{database}`"))
        .execute()
        .await?;
    let statements = statements();
    for statement in &statements {
        client.query(statement).execute().await?;
    }
    Ok(statements.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_on_line_ending_semicolons() {
        let statements = statements();
        let creates = statements.iter().filter(|s| s.starts_with("CREATE TABLE IF NOT EXISTS")).count();
        let views = statements.iter().filter(|s| s.starts_with("CREATE OR REPLACE VIEW")).count();
        assert_eq!((creates, views), (10, 6), "{statements:#?}");
        // Each rollup view is refreshed on a schedule into its own table, and dropped just before it is created
        // on every apply, so a changed definition reaches databases that already have it.
        for view in ROLLUP_VIEWS {
            let create = format!("CREATE MATERIALIZED VIEW IF NOT EXISTS {view}\nREFRESH EVERY 1 MINUTE APPEND TO ");
            let at = statements.iter().position(|s| s.starts_with(&create)).unwrap_or_else(|| panic!("{view}"));
            assert_eq!(statements[at - 1], format!("DROP VIEW IF EXISTS {view}"));
        }
        assert!(statements.iter().all(|s| !s.contains("\n--") && !s.ends_with(';')));
    }
}

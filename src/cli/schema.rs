//! `tokenledger schema apply`: create the database, tables and views.

use anyhow::Context;

use crate::config::Config;
use crate::sink::{client, schema};

/// Applies the schema to the configured ClickHouse.
pub async fn apply(config: &Config) -> anyhow::Result<()> {
    let client = client::build(&config.clickhouse);
    let count = schema::apply(&client, &config.clickhouse.database)
        .await
        .with_context(|| format!("applying the schema to {}", config.clickhouse.url))?;
    println!("applied {count} statements to database {}", config.clickhouse.database);
    Ok(())
}

//! `tokenledger schema apply`: create the database, tables and views, and store the price table.

use anyhow::Context;

use crate::config::Config;
use crate::ledger::prices;
use crate::sink::{client, schema};

/// Applies the schema to the configured ClickHouse, then writes the configured prices to `model_prices`.
pub async fn apply(config: &Config) -> anyhow::Result<()> {
    let client = client::build(&config.clickhouse);
    let count = schema::apply(&client, &config.clickhouse.database)
        .await
        .with_context(|| format!("applying the schema to {}", config.clickhouse.url))?;
    let models = prices::store(&client, &config.prices)
        .await
        .with_context(|| format!("storing the price table in {}", config.clickhouse.url))?;
    println!("applied {count} statements and {models} model prices to database {}", config.clickhouse.database);
    Ok(())
}

//! The ClickHouse client, built once from config, and the readiness check.

use crate::config::ClickHouseConfig;
use crate::reshape::rows::TABLES;

/// A client for the configured server and database, LZ4 on, row validation on.
pub fn build(config: &ClickHouseConfig) -> clickhouse::Client {
    clickhouse::Client::default()
        .with_url(&config.url)
        .with_user(&config.user)
        .with_password(&config.password)
        .with_database(&config.database)
        .with_compression(clickhouse::Compression::Lz4)
        .with_validation(true)
}

/// Ready means ClickHouse answers and every table the relay writes exists.
pub async fn check_ready(client: &clickhouse::Client, database: &str) -> Result<(), String> {
    let found: u64 = client
        .query("SELECT count() FROM system.tables WHERE database = ? AND name IN ?")
        .bind(database)
        .bind(TABLES.as_slice())
        .fetch_one()
        .await
        .map_err(|e| format!("ClickHouse: {e}"))?;
    if found as usize == TABLES.len() {
        Ok(())
    } else {
        Err(format!("schema incomplete: {found} of {} tables present; run `tokenledger schema apply`", TABLES.len()))
    }
}

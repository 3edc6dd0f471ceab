//! `tokenledger config`: the effective configuration, secrets redacted.

use crate::config::Config;

/// Prints the merged configuration as TOML.
pub fn print(config: &Config) -> anyhow::Result<()> {
    print!("{}", config.redacted_toml());
    Ok(())
}

//! The relay's configuration: built-in defaults < a TOML file < `TOKENLEDGER_<SECTION>__<KEY>` environment
//! variables, merged by figment and checked once into [`Config`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::ledger::prices::ModelPrice;

/// Prefix of the environment variables that override the file: `TOKENLEDGER_CLICKHOUSE__URL` sets `clickhouse.url`.
pub const ENV_PREFIX: &str = "TOKENLEDGER_";

/// The file read when `--config` is not given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "tokenledger.toml";

/// Everything the relay can be told. Every key is listed, with its env name and default, in README.md.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where rows are written.
    pub clickhouse: ClickHouseConfig,
    /// The OTLP listeners.
    pub otlp: OtlpConfig,
    /// The /metrics, /healthz and /readyz listener.
    pub admin: AdminConfig,
    /// Optional bearer token on the OTLP listeners.
    pub auth: AuthConfig,
    /// How rows are grouped into inserts, and how much may wait.
    pub batch: BatchConfig,
    /// Agent name → stage, used when a record carries no `stage` attribute.
    pub stages: BTreeMap<String, String>,
    /// The per-workflow cost and token counters on /metrics.
    pub cost_metrics: CostMetricsConfig,
    /// The telemetry settings `tokenledger run` and `tokenledger env` give Claude Code.
    pub claude_telemetry: ClaudeTelemetryConfig,
    /// `tokenledger beads import|post`: the Beads file and the `bd` command.
    pub beads: BeadsConfig,
    /// `tokenledger weekly`: list lengths and the thresholds of its optimization hints.
    pub weekly: WeeklyConfig,
    /// Redelivered rows dropped before they are written.
    pub dedup: DedupConfig,
    /// Which event times are accepted.
    pub limits: LimitsConfig,
    /// Model id → USD per million tokens, for the price check. Defaults: src/ledger/prices.toml; entries given here
    /// replace or add models (and single fields of a shipped model).
    pub prices: BTreeMap<String, ModelPrice>,
}

/// The ClickHouse server and database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP interface URL, e.g. `http://localhost:8123`.
    pub url: String,
    /// Database holding the tables and views; created by `schema apply`.
    pub database: String,
    /// User name.
    pub user: String,
    /// Password; redacted by `tokenledger config`.
    pub password: String,
    /// Whether `serve` applies the schema (idempotent) before it starts listening.
    pub apply_schema: bool,
    /// How long one insert may take before it counts as failed (seconds).
    pub insert_timeout_secs: u64,
}

/// The OTLP listeners and request limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// OTLP/gRPC listen address.
    pub grpc_addr: SocketAddr,
    /// OTLP/HTTP listen address.
    pub http_addr: SocketAddr,
    /// Largest request accepted, compressed and after decompression (bytes); larger gets 413 / RESOURCE_EXHAUSTED.
    pub max_request_bytes: usize,
    /// Requests read, decoded and reshaped at once; others wait for a slot before their body is read. Bounds the
    /// relay's memory whatever the number of senders.
    pub max_concurrent_requests: usize,
    /// How long a request waits for a slot before it is answered 503 / UNAVAILABLE (retried by senders).
    pub max_wait_ms: u64,
}

impl OtlpConfig {
    /// `max_wait_ms` as a duration.
    pub fn max_wait(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.max_wait_ms)
    }
}

/// The admin listener.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Listen address of /metrics, /healthz and /readyz.
    pub addr: SocketAddr,
}

/// Authentication of OTLP clients.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// When set, both OTLP listeners require `Authorization: Bearer <token>`; redacted by `tokenledger config`.
    pub token: Option<String>,
}

/// Batching and backpressure.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// An insert is sent once a table has this many rows waiting.
    pub max_rows: usize,
    /// ... or this many bytes (estimated) waiting.
    pub max_bytes: usize,
    /// ... or no rows have arrived for this long (milliseconds): the senders whose rows are in are waiting for
    /// their answer, so the insert is sent at once. 0 turns the early commit off.
    pub idle_ms: u64,
    /// ... or, at the latest, its oldest row has waited this long (milliseconds): the bound under sustained load.
    pub max_delay_ms: u64,
    /// Most inserts per table per second, whatever ended them; an insert due sooner waits and gathers the rows
    /// arriving meanwhile. 0: unbounded.
    pub max_inserts_per_sec: u32,
    /// Rows accepted but not yet committed, over all tables; past it requests get 503 / UNAVAILABLE.
    pub max_pending_rows: usize,
}

/// The per-workflow counters exported on /metrics for Prometheus alerts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CostMetricsConfig {
    /// Most distinct (workflow_id, stage, agent, model) label sets kept; new ones past it are labelled `_overflow`.
    pub max_series: usize,
    /// A label set not updated for this long is dropped from /metrics (seconds).
    pub idle_secs: u64,
}

/// The OpenTelemetry environment `tokenledger run` starts Claude Code with (and `tokenledger env` prints):
/// where it exports and how often. `CLAUDE_CODE_ENABLE_TELEMETRY=1` is always set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClaudeTelemetryConfig {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: the relay's (or a collector's) OTLP listener, `http://host:port`.
    pub endpoint: String,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`: `grpc`, `http/protobuf` or `http/json` (HTTP listens on 4318 by default).
    pub protocol: OtlpProtocol,
    /// `OTEL_LOGS_EXPORTER`: where events go (`otlp`; `otlp,console` to see them too).
    pub logs_exporter: String,
    /// `OTEL_METRICS_EXPORTER`: where metrics go.
    pub metrics_exporter: String,
    /// `OTEL_LOGS_EXPORT_INTERVAL` in milliseconds: how often events are sent while Claude Code runs.
    pub logs_export_interval_ms: u64,
    /// `OTEL_METRIC_EXPORT_INTERVAL` in milliseconds.
    pub metric_export_interval_ms: u64,
    /// `OTEL_LOG_TOOL_DETAILS=1`: custom subagents arrive by their name (else as `custom`), tool parameters are
    /// recorded.
    pub log_tool_details: bool,
    /// `OTEL_EXPORTER_OTLP_HEADERS` (e.g. `Authorization=Bearer <token>` when the relay has `auth.token`); left
    /// as the caller has it when unset. Redacted by `tokenledger config`.
    pub headers: Option<String>,
}

/// `OTEL_EXPORTER_OTLP_PROTOCOL` values Claude Code supports.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP/gRPC.
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies.
    #[serde(rename = "http/json")]
    HttpJson,
}

impl OtlpProtocol {
    /// The value of `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::HttpJson => "http/json",
        }
    }
}

/// Where Beads' issues are read from and how its `bd` command is run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BeadsConfig {
    /// The JSONL file `tokenledger beads import` reads when no path is given (Beads' git-tracked export).
    pub issues_path: PathBuf,
    /// The `bd` program `tokenledger beads post` runs: a name looked up on PATH, or a path.
    pub command: String,
    /// Arguments put before every `bd` subcommand, e.g. `["--actor", "tokenledger"]`.
    pub args: Vec<String>,
}

/// What `tokenledger weekly` lists and when it gives a hint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WeeklyConfig {
    /// How many workflows and stages the summary lists, most expensive first.
    pub top: usize,
    /// A stage that spent at least this share of its cost on Opus models is listed as a candidate for Sonnet.
    pub sonnet_min_opus_share: f64,
    /// A workflow whose cache hit rate, cache_read / (input + cache_read + cache_creation), is below this is
    /// listed as having low cache reuse.
    pub low_cache_hit_rate: f64,
    /// A full-path workflow that cost at most this multiple of the average fast-path workflow of the period is
    /// listed as a fast-track candidate.
    pub fast_track_max_cost_ratio: f64,
}

/// How long and how many content keys of committed rows are remembered to drop redeliveries.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    /// A committed row's key is remembered at least this long (seconds); reloaded from ClickHouse at start for
    /// rows whose event time is this recent. Covers the collector's retry horizon (300 s) with room to spare.
    pub window_secs: u64,
    /// Most keys remembered over all tables; past half of it a generation rotates early (the window shrinks).
    /// Keys are 8 bytes each in hash sets (the memory this takes is not measured yet).
    pub max_keys: usize,
}

/// The window of event times the relay accepts into the typed tables, around its own clock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Events older than this (hours) are kept in otel_events only and reported as rejected; raise it for a
    /// backfill of older telemetry.
    pub max_event_age_hours: u64,
    /// Events this far ahead of the relay's clock (seconds) are treated likewise (a sender's clock that is off).
    pub max_event_lead_secs: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig { max_event_age_hours: 720, max_event_lead_secs: 300 }
    }
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig { window_secs: 600, max_keys: 500_000 }
    }
}

impl DedupConfig {
    /// `window_secs` as a Duration.
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            clickhouse: ClickHouseConfig::default(),
            otlp: OtlpConfig::default(),
            admin: AdminConfig::default(),
            auth: AuthConfig::default(),
            batch: BatchConfig::default(),
            stages: default_stages(),
            cost_metrics: CostMetricsConfig::default(),
            beads: BeadsConfig::default(),
            weekly: WeeklyConfig::default(),
            dedup: DedupConfig::default(),
            limits: LimitsConfig::default(),
            claude_telemetry: ClaudeTelemetryConfig::default(),
            prices: crate::ledger::prices::shipped(),
        }
    }
}

impl Default for ClaudeTelemetryConfig {
    fn default() -> Self {
        // The relay's own gRPC listener (or a collector's) on this machine; the intervals are the assessment's.
        ClaudeTelemetryConfig {
            endpoint: "http://localhost:4317".into(),
            protocol: OtlpProtocol::Grpc,
            logs_exporter: "otlp".into(),
            metrics_exporter: "otlp".into(),
            logs_export_interval_ms: 5_000,
            metric_export_interval_ms: 10_000,
            log_tool_details: true,
            headers: None,
        }
    }
}

impl Default for BeadsConfig {
    fn default() -> Self {
        BeadsConfig { issues_path: PathBuf::from(".beads/issues.jsonl"), command: "bd".into(), args: Vec::new() }
    }
}

impl Default for WeeklyConfig {
    fn default() -> Self {
        WeeklyConfig { top: 5, sonnet_min_opus_share: 0.5, low_cache_hit_rate: 0.5, fast_track_max_cost_ratio: 1.0 }
    }
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        ClickHouseConfig {
            url: "http://localhost:8123".into(),
            database: "claude_code".into(),
            user: "default".into(),
            password: String::new(),
            apply_schema: true,
            insert_timeout_secs: 10,
        }
    }
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            grpc_addr: ([0, 0, 0, 0], 4317).into(),
            http_addr: ([0, 0, 0, 0], 4318).into(),
            max_request_bytes: 16 * 1024 * 1024,
            max_concurrent_requests: 4,
            max_wait_ms: 10_000,
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        // 9464 is the port OpenTelemetry's Prometheus exporters use by default.
        AdminConfig { addr: ([0, 0, 0, 0], 9464).into() }
    }
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_rows: 20_000,
            max_bytes: 16 * 1024 * 1024,
            idle_ms: 20,
            max_delay_ms: 500,
            // ClickHouse's own adaptive async inserts flush a buffer every 50-200 ms (5-20 parts/s per table).
            max_inserts_per_sec: 10,
            max_pending_rows: 200_000,
        }
    }
}

impl Default for CostMetricsConfig {
    fn default() -> Self {
        CostMetricsConfig { max_series: 1_000, idle_secs: 3_600 }
    }
}

/// The assessment's four stages and the agents that run them.
fn default_stages() -> BTreeMap<String, String> {
    [("analyst", "analyze"), ("planner", "plan"), ("implementer", "implement"), ("reviewer", "review")]
        .into_iter()
        .map(|(agent, stage)| (agent.to_string(), stage.to_string()))
        .collect()
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The merged sources could not be read into [`Config`] (bad TOML, unknown key, wrong type).
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    /// A value was read but makes no sense.
    #[error("invalid configuration: {0}")]
    Value(String),
}

impl Config {
    /// Loads defaults, then `path` (or ./tokenledger.toml when `path` is None and the file exists), then the
    /// environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE))
            }
            None => {}
        }
        Self::from_figment(figment.merge(Env::prefixed(ENV_PREFIX).split("__")))
    }

    /// Extracts and checks a config from any figment (tests build their own).
    pub fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract().map_err(Box::new)?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |what: &str| Err(ConfigError::Value(what.to_string()));
        if self.clickhouse.database.is_empty()
            || !self.clickhouse.database.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return bad("clickhouse.database must be a non-empty name of letters, digits and _");
        }
        if self.batch.max_rows == 0 || self.batch.max_bytes == 0 || self.batch.max_pending_rows == 0 {
            return bad("batch.max_rows, batch.max_bytes and batch.max_pending_rows must be above 0");
        }
        if self.otlp.max_concurrent_requests == 0 {
            return bad("otlp.max_concurrent_requests must be above 0");
        }
        if self.batch.max_pending_rows < self.batch.max_rows {
            return bad("batch.max_pending_rows must be at least batch.max_rows");
        }
        if self.beads.command.is_empty() {
            return bad("beads.command must not be empty");
        }
        let share = |v: f64| (0.0..=1.0).contains(&v);
        let weekly = &self.weekly;
        let ratio = weekly.fast_track_max_cost_ratio;
        let weekly_ok = weekly.top > 0
            && share(weekly.sonnet_min_opus_share)
            && share(weekly.low_cache_hit_rate)
            && ratio.is_finite()
            && ratio > 0.0;
        if !weekly_ok {
            return bad("weekly.top must be above 0, weekly.sonnet_min_opus_share and weekly.low_cache_hit_rate \
                        between 0 and 1, weekly.fast_track_max_cost_ratio above 0");
        }
        if self.auth.token.as_deref() == Some("") {
            return bad("auth.token, when set, must not be empty");
        }
        let telemetry = &self.claude_telemetry;
        if !(telemetry.endpoint.starts_with("http://") || telemetry.endpoint.starts_with("https://")) {
            return bad("claude_telemetry.endpoint must be an http:// or https:// URL");
        }
        if telemetry.logs_exporter.is_empty() || telemetry.metrics_exporter.is_empty() {
            return bad("claude_telemetry.logs_exporter and metrics_exporter must not be empty");
        }
        if telemetry.logs_export_interval_ms == 0 || telemetry.metric_export_interval_ms == 0 {
            return bad("claude_telemetry export intervals must be above 0");
        }
        if let Some((model, _)) = self.prices.iter().find(|(model, price)| model.is_empty() || !price.is_valid()) {
            return Err(ConfigError::Value(format!("prices.{model:?}: every price must be a number >= 0")));
        }
        Ok(())
    }

    /// The config as TOML with secrets replaced, for `tokenledger config`.
    pub fn redacted_toml(&self) -> String {
        let mut shown = self.clone();
        if !shown.clickhouse.password.is_empty() {
            shown.clickhouse.password = "<redacted>".into();
        }
        if shown.auth.token.is_some() {
            shown.auth.token = Some("<redacted>".into());
        }
        if shown.claude_telemetry.headers.is_some() {
            shown.claude_telemetry.headers = Some("<redacted>".into());
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|error| format!("# cannot render config: {error}\n"))
    }
}

impl BatchConfig {
    /// `max_delay_ms` as a Duration.
    pub fn max_delay(&self) -> Duration {
        Duration::from_millis(self.max_delay_ms)
    }

    /// `idle_ms` as a Duration; None when 0 (no early commit).
    pub fn idle(&self) -> Option<Duration> {
        (self.idle_ms > 0).then(|| Duration::from_millis(self.idle_ms))
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment's own (large) error type
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("t.toml", "[clickhouse]\ndatabase = \"from_file\"\nurl = \"http://file:8123\"\n")?;
            jail.set_env("TOKENLEDGER_CLICKHOUSE__URL", "http://env:8123");
            jail.set_env("TOKENLEDGER_STAGES__SCOUT", "analyze");
            let config = Config::load(Some(Path::new("t.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.clickhouse.url, "http://env:8123");
            assert_eq!(config.clickhouse.database, "from_file");
            assert_eq!(config.stages.get("scout").map(String::as_str), Some("analyze"));
            assert_eq!(config.stages.get("planner").map(String::as_str), Some("plan"));
            assert_eq!(config.otlp.grpc_addr.port(), 4317);
            Ok(())
        });
    }

    #[test]
    fn claude_telemetry_reads_protocol_names_and_refuses_bad_endpoints() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TOKENLEDGER_CLAUDE_TELEMETRY__PROTOCOL", "http/json");
            jail.set_env("TOKENLEDGER_CLAUDE_TELEMETRY__ENDPOINT", "http://relay:4318");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.claude_telemetry.protocol, OtlpProtocol::HttpJson);
            assert_eq!(config.claude_telemetry.endpoint, "http://relay:4318");
            jail.set_env("TOKENLEDGER_CLAUDE_TELEMETRY__PROTOCOL", "udp");
            assert!(Config::load(None).is_err(), "an unknown protocol is refused");
            jail.set_env("TOKENLEDGER_CLAUDE_TELEMETRY__PROTOCOL", "grpc");
            jail.set_env("TOKENLEDGER_CLAUDE_TELEMETRY__ENDPOINT", "localhost:4317");
            let error = Config::load(None).unwrap_err().to_string();
            assert!(error.contains("claude_telemetry.endpoint"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("t.toml", "[clickhouse]\nurll = \"x\"\n")?;
            let error = Config::load(Some(Path::new("t.toml"))).unwrap_err().to_string();
            assert!(error.contains("urll"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn prices_override_single_fields_add_models_and_refuse_negative_rates() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "t.toml",
                "[prices.\"claude-sonnet-5-5\"]\ncache_read = 0.2\n[prices.\"my-model\"]\ninput = 1.5\n",
            )?;
            let config = Config::load(Some(Path::new("t.toml"))).map_err(|e| e.to_string())?;
            let shipped = crate::ledger::prices::shipped();
            let sonnet = &config.prices["claude-sonnet-5-5"];
            assert_eq!(sonnet.cache_read, 0.2);
            assert_eq!(sonnet.input, shipped["claude-sonnet-5-5"].input, "other fields keep the shipped value");
            assert_eq!(config.prices["my-model"].input, 1.5);
            assert_eq!(config.prices.len(), shipped.len() + 1);
            jail.create_file("bad.toml", "[prices.\"my-model\"]\noutput = -1.0\n")?;
            let error = Config::load(Some(Path::new("bad.toml"))).unwrap_err().to_string();
            assert!(error.contains("my-model"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn beads_and_weekly_have_defaults_and_refuse_nonsense() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("t.toml", "[beads]\nargs = [\"--actor\", \"tokenledger\"]\n")?;
            let config = Config::load(Some(Path::new("t.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.beads.command, "bd");
            assert_eq!(config.beads.args, ["--actor", "tokenledger"]);
            assert_eq!(config.beads.issues_path, Path::new(".beads/issues.jsonl"));
            assert_eq!(config.weekly.top, 5);
            jail.set_env("TOKENLEDGER_WEEKLY__LOW_CACHE_HIT_RATE", "1.5");
            let error = Config::load(Some(Path::new("t.toml"))).unwrap_err().to_string();
            assert!(error.contains("weekly.low_cache_hit_rate"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn secrets_are_redacted() {
        let mut config = Config::default();
        config.clickhouse.password = "hunter2".into();
        config.auth.token = Some("s3cret".into());
        config.claude_telemetry.headers = Some("Authorization=Bearer s3cret".into());
        let shown = config.redacted_toml();
        assert!(!shown.contains("hunter2") && !shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}

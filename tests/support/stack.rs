//! The shipped stack files as tests use them: ./otel-collector-config.yaml with its `${env:...}` placeholders
//! filled with loopback ports and a temporary queue directory (the file itself is used as it is), the collector's
//! `validate` command, and the Claude Code settings.json block of README.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::collector::{free_port, Collector};

/// ./otel-collector-config.yaml, the file the compose stack mounts.
pub fn shipped_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("otel-collector-config.yaml")
}

/// The values of the shipped config's placeholders (docs/stack names: RELAY_OTLP_ENDPOINT, OTELCOL_*).
#[derive(Debug, Clone)]
pub struct CollectorEnv {
    /// RELAY_OTLP_ENDPOINT: `http://127.0.0.1:<relay's OTLP/HTTP port>`.
    pub relay_endpoint: String,
    /// OTELCOL_GRPC_ENDPOINT's port (on 127.0.0.1).
    pub grpc_port: u16,
    /// OTELCOL_HTTP_ENDPOINT's port (on 127.0.0.1).
    pub http_port: u16,
    /// OTELCOL_HEALTH_ENDPOINT's port (on 127.0.0.1).
    pub health_port: u16,
    /// OTELCOL_METRICS_PORT (OTELCOL_METRICS_HOST is 127.0.0.1).
    pub metrics_port: u16,
    /// OTELCOL_STORAGE_DIR: the file_storage directory (must exist).
    pub storage_dir: PathBuf,
    /// PROMETHEUS_REMOTE_WRITE_ENDPOINT: where Claude Code's metrics go for Prometheus. By default a sink that
    /// accepts and forgets ([`super::collector::remote_write_sink`]); a test with a real Prometheus sets its own.
    pub prometheus_write_endpoint: String,
}

impl CollectorEnv {
    /// Fresh free ports, exporting to `relay_endpoint`, queueing in `storage_dir`.
    pub fn new(relay_endpoint: &str, storage_dir: &Path) -> CollectorEnv {
        CollectorEnv {
            relay_endpoint: relay_endpoint.to_string(),
            grpc_port: free_port(),
            http_port: free_port(),
            health_port: free_port(),
            metrics_port: free_port(),
            storage_dir: storage_dir.to_path_buf(),
            prometheus_write_endpoint: super::collector::remote_write_sink(),
        }
    }

    /// The environment variables, by name.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("RELAY_OTLP_ENDPOINT", self.relay_endpoint.clone()),
            ("OTELCOL_GRPC_ENDPOINT", format!("127.0.0.1:{}", self.grpc_port)),
            ("OTELCOL_HTTP_ENDPOINT", format!("127.0.0.1:{}", self.http_port)),
            ("OTELCOL_HEALTH_ENDPOINT", format!("127.0.0.1:{}", self.health_port)),
            ("OTELCOL_METRICS_HOST", "127.0.0.1".to_string()),
            ("OTELCOL_METRICS_PORT", self.metrics_port.to_string()),
            ("OTELCOL_STORAGE_DIR", self.storage_dir.to_str().expect("UTF-8 path").to_string()),
            ("PROMETHEUS_REMOTE_WRITE_ENDPOINT", self.prometheus_write_endpoint.clone()),
        ]
    }

    /// Starts `binary` on the shipped config with these values.
    pub fn start(&self, binary: &Path) -> Collector {
        let vars = self.vars();
        let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Collector::start_binary(binary, &shipped_config(), &env, self.metrics_port)
    }

    /// The health_check extension's answer (status code), or None while nothing listens.
    pub async fn health(&self) -> Option<u16> {
        let url = format!("http://127.0.0.1:{}/", self.health_port);
        reqwest::get(url).await.ok().map(|r| r.status().as_u16())
    }
}

/// `<binary> validate --config <config>` with only `env` set (plus PATH); its output.
pub fn validate(binary: &Path, config: &Path, env: &[(&str, String)]) -> Output {
    Command::new(binary)
        .arg("validate")
        .arg("--config")
        .arg(config)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("running {} validate: {e}", binary.display()))
}

/// The JSON object of README.md's settings.json block: the first ```json block after the line that names
/// `settings.json`. Panics when there is none or it is not JSON.
pub fn readme_settings() -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let after = text.find("settings.json").map(|i| &text[i..]).expect("README.md names settings.json");
    let start = after.find("```json\n").expect("a ```json block after settings.json in README.md") + 8;
    let block = &after[start..];
    let block = &block[..block.find("```").expect("the ```json block ends")];
    serde_json::from_str(block)
        .unwrap_or_else(|e| panic!("README.md's settings.json block is not JSON ({e}):\n{block}"))
}

/// `settings` with the port of `env.OTEL_EXPORTER_OTLP_ENDPOINT` replaced by `port`; everything else as it is.
/// Panics when the endpoint is missing or has no `:port`.
pub fn with_endpoint_port(mut settings: serde_json::Value, port: u16) -> serde_json::Value {
    let endpoint = settings["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
        .as_str()
        .unwrap_or_else(|| panic!("settings.json has no env.OTEL_EXPORTER_OTLP_ENDPOINT: {settings}"))
        .to_string();
    let colon = endpoint.rfind(':').filter(|&i| endpoint[i + 1..].chars().all(|c| c.is_ascii_digit()));
    let colon = colon.unwrap_or_else(|| panic!("the endpoint {endpoint:?} has no port"));
    settings["env"]["OTEL_EXPORTER_OTLP_ENDPOINT"] = format!("{}:{port}", &endpoint[..colon]).into();
    settings
}
